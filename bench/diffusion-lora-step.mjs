#!/usr/bin/env node
// One LoRA training step of Stable Diffusion 1.5's UNet (the report's diffusion-LoRA experiment,
// `atelier train diffusion-lora`): random weights at the published shape (bench/sd15-unet-config.mjs),
// rank-r pairs on every attention projection (to_q, to_k, to_v, to_out.0 of attn1 and attn2: 16
// transformer blocks × 8 = 128 at SD 1.5's shape), the noise-prediction loss on a batch at --size
// (latent size / 8), its gradient for the pairs and an Adam step, base frozen. Atelier
// (DiffusionLoraTrainer: autodiff over the engine graph on ONNX Runtime) against PyTorch running
// the reference UNet written from the paper with the same LoRA (bench/diffusion_lora_torch.py),
// same threads, same run, each side in its own process (peak RSS its own). Both warmed by one
// untimed step; times are medians of --runs steps. `--config tiny` checks the script in seconds.
// Usage: npm run build && node bench/diffusion-lora-step.mjs [--size 256] [--batch 1] [--rank 4] [--threads 2] [--runs 2] [--config sd15|tiny]
import os from 'node:os';
import { randomUnetWeights } from './sd15-unet-config.mjs';
import { median, option, peakMB } from './stats.js';
import { runBothSides, unetBenchOptions } from './unet-bench-sides.mjs';

const { size, latent, threads, runs, configName, config } = unetBenchOptions(256);
const batch = Number(option('batch', '1'));
const rank = Number(option('rank', '4'));

async function ours() {
  const { DiffusionLoraTrainer } = await import('../dist/train/recipes/diffusion-lora-trainer.js');
  const { unetAttentionParams } = await import('../dist/engine/diffusion/lora-modules.js');
  const weights = await randomUnetWeights(configName);
  const sites = unetAttentionParams(weights);
  const init = new Map(sites.map((s) => [s.path, { down: new Float32Array(rank * s.shape[1]).map((_, i) => 0.01 * Math.sin(i)), up: new Float32Array(s.shape[0] * rank) }]));
  const t0 = performance.now();
  const trainer = await DiffusionLoraTrainer.create(weights, { rank, alpha: rank, targets: sites.map((s) => s.path), init, height: latent, width: latent, contextLength: config.length, learningRate: 1e-4, threads });
  const compileS = (performance.now() - t0) / 1000;
  const n = batch * 4 * latent * latent;
  const step = { noisy: new Float32Array(n).map((_, i) => Math.sin(i)), noise: new Float32Array(n).map((_, i) => Math.cos(i)), context: new Float32Array(batch * config.length * config.torch.context).map((_, i) => Math.cos(0.3 * i)), timesteps: Array.from({ length: batch }, (_, i) => 301 + 200 * i) };
  await trainer.step(step);
  const seconds = [];
  for (let r = 0; r < runs; r++) {
    const s = performance.now();
    await trainer.step(step);
    seconds.push((performance.now() - s) / 1000);
  }
  console.log(JSON.stringify({ seconds, compileS, peakMB: peakMB(), trainable: trainer.parameterCount, projections: sites.length }));
}

if (process.argv.includes('--child')) {
  await ours();
} else {
  const load = () => os.loadavg()[0].toFixed(1);
  console.log(`LoRA training step, ${configName} UNet at ${size}² (latent ${latent}²), batch ${batch}, rank ${rank}, ${threads} threads; load ${load()}`);
  const { atelier, torch } = runBothSides(import.meta.url, 'diffusion_lora_torch.py', { config: config.torch, latent, length: config.length, batch, rank, threads, runs });
  const ms = median(atelier.seconds);
  const tsec = median(torch.seconds);
  console.log(`Atelier: ${ms.toFixed(2)} s/step (compile ${atelier.compileS.toFixed(1)} s), peak ${atelier.peakMB.toFixed(0)} MB; ${atelier.trainable} trainable values on ${atelier.projections} projections`);
  console.log(`PyTorch: ${tsec.toFixed(2)} s/step, peak ${torch.peakMB.toFixed(0)} MB; ${torch.trainable} trainable values`);
  console.log(`speed vs PyTorch: ${(tsec / ms).toFixed(2)}× (>1 means Atelier is faster); memory ${(atelier.peakMB / torch.peakMB).toFixed(2)}×; 1000 steps ≈ ${((1000 * ms) / 3600).toFixed(1)} h here; load ${load()}`);
}
