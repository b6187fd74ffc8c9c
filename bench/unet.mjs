#!/usr/bin/env node
// One Stable Diffusion 1.5 denoising step (the UNet on a batch of 2: negative and positive prompt,
// as classifier-free guidance runs it) at 512² (latent 64²) with random weights at the published
// shape (every tensor of test/engine/diffusion/fixtures/sd15-unet.ldm.tsv), Atelier (engine graph on
// ONNX Runtime) against PyTorch running the reference UNet written from the paper
// (test/engine/diffusion/unet_reference.py via bench/unet_torch.py), same threads, same run. Each
// side runs in its own process so its peak RSS (VmHWM) is its own. Both are warmed by one untimed
// step; times are medians of --runs steps. Also prints the UNet time of a 25-step image.
// Needs ~4 GB per side for the weights at 512². `--config tiny` runs the tiny test configuration
// (checks the script in seconds).
// Usage: npm run build && node bench/unet.mjs [--size 512] [--threads 2] [--runs 2] [--config sd15|tiny]
import os from 'node:os';
import { randomUnetWeights } from './sd15-unet-config.mjs';
import { median, peakMB } from './stats.js';
import { runBothSides, unetBenchOptions } from './unet-bench-sides.mjs';

const { size, latent, threads, runs, configName, config } = unetBenchOptions(512);

async function ours() {
  const { Unet } = await import('../dist/engine/diffusion/unet.js');
  const weights = await randomUnetWeights(configName);
  const t0 = performance.now();
  const unet = await Unet.create(weights, { batch: 2, contextLength: config.length, threads });
  const compileS = (performance.now() - t0) / 1000;
  const x = new Float32Array(2 * 4 * latent * latent).map((_, i) => Math.sin(i));
  const ctx = new Float32Array(2 * config.length * config.torch.context).map((_, i) => Math.cos(i));
  await unet.predict(x, latent, latent, [501, 501], ctx);
  const seconds = [];
  for (let r = 0; r < runs; r++) {
    const s = performance.now();
    await unet.predict(x, latent, latent, [501, 501], ctx);
    seconds.push((performance.now() - s) / 1000);
  }
  console.log(JSON.stringify({ seconds, compileS, peakMB: peakMB() }));
}

if (process.argv.includes('--child')) {
  await ours();
} else {
  const load = () => os.loadavg()[0].toFixed(1);
  console.log(`UNet step (batch 2, CFG) ${configName} at ${size}² (latent ${latent}²), ${threads} threads; load ${load()}`);
  const { atelier, torch } = runBothSides(import.meta.url, 'unet_torch.py', { config: config.torch, latent, length: config.length, threads, runs });
  const ms = median(atelier.seconds);
  const tsec = median(torch.seconds);
  console.log(`Atelier: ${ms.toFixed(2)} s/step (compile ${atelier.compileS.toFixed(1)} s), peak ${atelier.peakMB.toFixed(0)} MB`);
  console.log(`PyTorch: ${tsec.toFixed(2)} s/step, peak ${torch.peakMB.toFixed(0)} MB`);
  console.log(`speed vs PyTorch: ${(tsec / ms).toFixed(2)}× (>1 means Atelier is faster); 25 steps ≈ ${(25 * ms).toFixed(0)} s of UNet here; load ${load()}`);
}
