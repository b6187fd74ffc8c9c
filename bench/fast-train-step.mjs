#!/usr/bin/env node
// One training step of the fast network (Johnson et al.: transformation net at full width, 256²
// crops, batch 4; content + Gram style + TV losses on the real VGG-19 to relu3_1; backward; Adam)
// in Atelier (`train fast`'s PerceptualTrainer) against PyTorch CPU running the same recipe
// (test/helpers/torch_perceptual.py, written from the paper), same machine, same run, 2 threads
// each. Each measurement runs in a fresh process (peak RSS is that task's), Atelier and PyTorch
// processes interleaved (alternating who goes first), median of per-process medians. Same random
// network weights, same content batch, same style Grams (the Udnie painting).
// Usage: nice -n 10 node bench/fast-train-step.mjs [--rounds 2] [--steps 3] [--size 256] [--batch 4] [--width 32]
// Needs ../shared/weights (the real VGG) and a build.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, option, peakMB } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const shared = path.resolve(root, '..', 'shared');
const THREADS = 2;
const args = process.argv.slice(2);
const size = Number(option('size', '256'));
const batch = Number(option('batch', '4'));
const width = Number(option('width', '32'));
const steps = Number(option('steps', '3'));
const work = path.join(root, 'scratch', 'fast-train-step');
const TAPS = ['relu1_1', 'relu1_2', 'relu2_1', 'relu2_2', 'relu3_1'];
const CONTENT_TAPS = ['relu2_2'];
const WEIGHTS = { content: 1, style: 1e4, tv: 10 };

async function prepare() {
  mkdirSync(work, { recursive: true });
  process.env.ATELIER_HOME = path.join(work, 'home');
  const { pullModel, modelFiles } = await import('../dist/engine/store.js');
  await pullModel('vgg19-relu3_1', { from: path.join(shared, 'weights'), acceptLicence: true, waitForLock: true });
  const { readImage } = await import('../dist/core/io.js');
  const { resizeImage } = await import('../dist/core/resample.js');
  const { Rng } = await import('../dist/core/rng.js');
  const { randomTransformerNetWeights, PYTORCH_EXAMPLES_NET, transformerNetShapes } = await import('../dist/engine/nets/transformer-net.js');
  const style = await readImage(path.join(shared, 'data', 'train-styles', 'reference-styles', 'udnie.jpg'));
  const s = 256 / Math.min(style.width, style.height);
  const st = resizeImage(style, Math.round(style.width * s), Math.round(style.height * s));
  writeFileSync(path.join(work, 'style.f32'), st.data);
  const rng = new Rng(3);
  writeFileSync(path.join(work, 'content.f32'), Float32Array.from({ length: batch * 3 * size * size }, () => rng.next()));
  const spec = { ...PYTORCH_EXAMPLES_NET, width };
  const w = randomTransformerNetWeights(1, spec);
  const shapes = [...transformerNetShapes(spec)];
  const flat = new Float32Array(shapes.reduce((a, [, sh]) => a + sh.reduce((p, q) => p * q, 1), 0));
  let at = 0;
  for (const [n] of shapes) {
    flat.set(w.get(n).data, at);
    at += w.get(n).data.length;
  }
  writeFileSync(path.join(work, 'params.f32'), flat);
  const spec2 = {
    mode: 'step',
    vgg: modelFiles('vgg19-relu3_1').file('vgg_normalised_conv3_1.pth'),
    style: { file: path.join(work, 'style.f32'), shape: [1, 3, st.height, st.width] },
    content: { file: path.join(work, 'content.f32'), shape: [batch, 3, size, size] },
    params: { file: path.join(work, 'params.f32'), shapes },
    contentTaps: CONTENT_TAPS,
    styleTaps: TAPS,
    weights: WEIGHTS,
    threads: THREADS,
    steps: steps + 1,
    out: path.join(work, 'torch-out'),
  };
  writeFileSync(path.join(work, 'torch-spec.json'), JSON.stringify(spec2));
  return spec2;
}

async function atelierWorker() {
  const spec = JSON.parse((await import('node:fs')).readFileSync(path.join(work, 'torch-spec.json'), 'utf8'));
  process.env.ATELIER_HOME = path.join(work, 'home');
  const fs = await import('node:fs');
  const read = (f) => {
    const b = fs.readFileSync(f);
    return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  };
  const { loadPerceptualVgg } = await import('../dist/engine/losses/perceptual.js');
  const { PerceptualTrainer, computeStyleGrams } = await import('../dist/train/recipes/fast-trainer.js');
  const { fastNetworkBuilder, fastTrainable } = await import('../dist/train/recipes/fast.js');
  const { PYTORCH_EXAMPLES_NET } = await import('../dist/engine/nets/transformer-net.js');
  const { Image } = await import('../dist/core/image.js');
  const base = peakMB();
  const flat = read(spec.params.file);
  const weights = new Map();
  let at = 0;
  for (const [name, shape] of spec.params.shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    weights.set(name, { name, shape, data: flat.slice(at, at + n) });
    at += n;
  }
  const vgg = (await loadPerceptualVgg('installed')).weights;
  const [, , h, w] = spec.style.shape;
  const grams = await computeStyleGrams(vgg, [{ image: new Image(w, h, 3, read(spec.style.file).slice()), source: 'udnie' }], { taps: TAPS, threads: THREADS });
  const trainer = await PerceptualTrainer.create({
    network: fastNetworkBuilder(weights, { ...PYTORCH_EXAMPLES_NET, width }),
    trainable: fastTrainable('all'),
    vgg,
    styleGrams: grams,
    contentTaps: CONTENT_TAPS,
    styleTaps: TAPS,
    lossWeights: WEIGHTS,
    size,
    batch,
    learningRate: 1e-3,
    threads: THREADS,
  });
  const content = read(spec.content.file).slice();
  const times = [];
  let first;
  for (let i = 0; i < steps + 1; i++) {
    const t0 = performance.now();
    const r = await trainer.step(content, 0);
    times.push((performance.now() - t0) / 1000);
    first ??= r.losses;
  }
  return { seconds: times, ms: median(times.slice(1)) * 1000, peakMB: peakMB(), baseMB: base, total: first.total };
}

function runWorker(engine) {
  const r =
    engine === 'atelier'
      ? spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', ...args], { encoding: 'utf8' })
      : spawnSync('/usr/bin/python3', [path.join(root, 'test', 'helpers', 'torch_perceptual.py'), path.join(work, 'torch-spec.json')], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(THREADS) } });
  if (r.status !== 0) throw new Error(`${engine} failed: ${r.stderr}`);
  if (engine === 'atelier') return JSON.parse(r.stdout.trim().split('\n').at(-1));
  const out = JSON.parse((spawnSync('cat', [path.join(work, 'torch-out.json')], { encoding: 'utf8' })).stdout);
  return { seconds: out.seconds, ms: median(out.seconds.slice(1)) * 1000, peakMB: out.peakMB, total: out.total };
}

async function main() {
  if (args[0] === '--worker') {
    console.log(JSON.stringify(await atelierWorker()));
    return;
  }
  await prepare();
  const rounds = Number(option('rounds', '2'));
  const a = [];
  const t = [];
  const loads = [os.loadavg()[0]];
  for (let i = 0; i < rounds; i++) {
    for (const e of i % 2 === 0 ? ['atelier', 'torch'] : ['torch', 'atelier']) {
      const r = runWorker(e);
      (e === 'atelier' ? a : t).push(r);
      loads.push(os.loadavg()[0]);
      console.error(`${e}: ${r.ms.toFixed(0)} ms/step, peak ${r.peakMB.toFixed(0)} MB, first loss ${r.total.toFixed(4)}, load ${os.loadavg()[0].toFixed(1)}`);
    }
  }
  const row = {
    date: new Date().toISOString(),
    command: `node bench/fast-train-step.mjs --rounds ${rounds} --steps ${steps} --size ${size} --batch ${batch} --width ${width}`,
    task: `fast-network training step (width ${width}, ${batch}×${size}², perceptual losses on the real VGG-19 to relu3_1, Adam)`,
    threads: THREADS,
    atelierMs: median(a.map((r) => r.ms)),
    torchMs: median(t.map((r) => r.ms)),
    atelierPeakMB: median(a.map((r) => r.peakMB)),
    torchPeakMB: median(t.map((r) => r.peakMB)),
    firstLoss: { atelier: a[0].total, torch: t[0].total },
    loadAverage1m: { min: Math.min(...loads), max: Math.max(...loads) },
    torch: spawnSync('/usr/bin/python3', ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' }).stdout.trim(),
  };
  row.speedRatio = row.torchMs / row.atelierMs;
  row.memoryRatio = row.atelierPeakMB / row.torchPeakMB;
  console.log(JSON.stringify(row, null, 1));
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(path.join(here, 'results', 'fast-train-step.json'), JSON.stringify(row, null, 1) + '\n');
}

await main();
