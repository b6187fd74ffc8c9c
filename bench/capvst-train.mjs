#!/usr/bin/env node
// Issue 17 item 7: CAP-VSTNet on real features. Trains a photorealistic CAP-VSTNet from its
// seeded random start with `atelier train capvst` (published losses; the style loss on the real
// VGG-19 — vgg_normalised to relu4_1 when installed, else vgg19-relu3_1 to relu3_1) on
// ../shared/data/train-photos for a wall-time budget, then compares on the dev photorealistic
// pairs: the random start, the trained network and color.mkl — SSIM and PSNR to the content,
// style distance (real VGG-19 Grams) to the reference. Writes bench/results/capvst-train.json and
// a contact sheet scratch/capvst-train/sheet.png (content | style | random | trained | color.mkl).
//
// Usage: nice -n 10 node bench/capvst-train.mjs [--minutes 10] [--size 128] [--eval-size 384] [--threads 2] [--photos N]
//        [--resume] [--validation-crops 16]
//        (--minutes 0 re-evaluates the last checkpoint without training)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { option } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const shared = path.resolve(root, '..', 'shared');
const minutes = Number(option('minutes', '10'));
const size = Number(option('size', '128'));
const evalSize = Number(option('eval-size', '384'));
const threads = Number(option('threads', '2'));
// Train on the first N photos only (loading and scaling all 568 twice takes minutes on a loaded machine).
const photoCount = Number(option('photos', '0'));
// Go on from the last checkpoint in scratch/capvst-train/train instead of the random start.
const resume = process.argv.includes('--resume');
const validationCrops = Number(option('validation-crops', '16'));
const work = path.join(root, 'scratch', 'capvst-train');
process.env.ATELIER_HOME = path.join(work, 'home');
mkdirSync(work, { recursive: true });

const { pullModel } = await import('../dist/engine/store.js');
const { train } = await import('../dist/train/index.js');
const { readCheckpoint } = await import('../dist/train/checkpoint.js');
const { readImage, writeImage } = await import('../dist/core/io.js');
const { resizeImage } = await import('../dist/core/resample.js');
const { Image } = await import('../dist/core/image.js');
const { computeMetric } = await import('../dist/metrics/metric.js');
const { getMetric } = await import('../dist/metrics/index.js');
const { stylize } = await import('../dist/methods/index.js');
const { writeSafetensors } = await import('../dist/engine/weights/safetensors.js');

await pullModel('vgg19-relu3_1', { from: path.join(shared, 'weights'), acceptLicence: true, waitForLock: true });
const out = path.join(work, 'train');
let photoDir = path.join(shared, 'data', 'train-photos');
if (photoCount > 0) {
  const { readdirSync, symlinkSync, rmSync } = await import('node:fs');
  const dir = path.join(work, 'photos');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(photoDir).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort().slice(0, photoCount)) symlinkSync(path.join(photoDir, f), path.join(dir, f));
  photoDir = dir;
}
const load = () => os.loadavg().map((v) => v.toFixed(1)).join(' ');
const loadBefore = load();
const started = Date.now();
if (minutes > 0) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('time budget')), minutes * 60_000);
  try {
    await train('capvst', {
      out,
      iterations: 1_000_000,
      saveEvery: 20,
      threads,
      resume: resume && existsSync(path.join(out, 'last.safetensors')),
      signal: controller.signal,
      params: { content: photoDir, mode: 'photoreal', size, eval: 2 },
      onProgress: (e) => {
        if (e.type === 'step' && e.step % 10 === 0) console.log(`iter ${e.step}  ${Object.entries(e.values).map(([k, v]) => `${k} ${v.toPrecision(3)}`).join('  ')}`);
      },
    });
  } catch (e) {
    if (e.code !== 'E_ABORTED') throw e;
  }
  clearTimeout(timer);
}
const trainSeconds = (Date.now() - started) / 1000;
const saved = await readCheckpoint(path.join(out, 'last.safetensors'), 'atelier-capvst-training-1');
// Fixed validation crops (the recipe's own, drawn from the run's seed) at the random start and at the
// checkpoint: a run stopped by its time budget never reaches the loop's closing validation, so each
// is a run of its own — one step from the random start in a scratch folder, and the checkpoint
// resumed with nothing left to do.
const validationParams = { content: photoDir, mode: 'photoreal', size, eval: validationCrops };
const startRun = await train('capvst', { out: path.join(work, 'validation-start'), iterations: 1, threads, params: validationParams });
const trainedRun = await train('capvst', { out, resume: true, iterations: saved.iteration, threads, params: validationParams });
const validation = { crops: validationCrops, randomStart: startRun.validation.before, trained: trainedRun.validation.after };
console.log(`validation on ${validationCrops} fixed crops: random start ${JSON.stringify(validation.randomStart)}, trained ${JSON.stringify(validation.trained)}`);
const trainedFile = path.join(work, 'trained.safetensors');
await writeSafetensors(trainedFile, [...saved.tensors.values()].filter((t) => !t.name.startsWith('optimizer.')));
console.log(`trained ${saved.iteration} iterations (${trainSeconds.toFixed(0)} s this run; load before ${loadBefore}, after ${load()})`);

const pairs = JSON.parse(readFileSync(path.join(shared, 'data', 'dev', 'pairs.json'), 'utf8')).photoreal;
const dev = path.join(shared, 'data', 'dev');
const [ssim, psnr, style] = ['ssim', 'psnr', 'style'].map((m) => getMetric(m));
const fit = (img) => {
  const s = Math.min(1, evalSize / Math.max(img.width, img.height));
  return resizeImage(img, Math.max(16, Math.round((img.width * s) / 4) * 4), Math.max(16, Math.round((img.height * s) / 4) * 4));
};
const variants = {
  random: ['neural.capvst', { mode: 'photoreal', weights: 'random' }],
  trained: ['neural.capvst', { mode: 'photoreal', weights: trainedFile }],
  mkl: ['color.mkl', {}],
};
const rows = [];
const sheet = [];
for (const pair of pairs) {
  const content = fit(await readImage(path.join(dev, pair.content)));
  const ref = fit(await readImage(path.join(dev, pair.style)));
  const row = { content: pair.content, style: pair.style };
  const outs = {};
  for (const [k, [method, params]] of Object.entries(variants)) {
    const r = await stylize(method, { content, style: ref }, params, { threads });
    outs[k] = r.image;
    row[`ssim.${k}`] = (await computeMetric(ssim, { output: r.image, content })).value;
    row[`psnr.${k}`] = (await computeMetric(psnr, { output: r.image, content })).value;
    row[`style.${k}`] = (await computeMetric(style, { output: r.image, style: ref })).value;
  }
  rows.push(row);
  console.log(JSON.stringify(row));
  sheet.push([content, ref, outs.random, outs.trained, outs.mkl]);
}
const mean = (k) => rows.reduce((a, r) => a + r[k], 0) / rows.length;
const command = `node bench/capvst-train.mjs --minutes ${minutes} --size ${size} --eval-size ${evalSize} --threads ${threads} --photos ${photoCount}${resume ? ' --resume' : ''} --validation-crops ${validationCrops}`;
// The training runs that made the checkpoint: a re-evaluation (--minutes 0) or a resumed run keeps
// the earlier ones' record, a fresh run starts the list again.
const resultsFile = path.join(here, 'results', 'capvst-train.json');
const earlierRuns = (minutes === 0 || resume) && existsSync(resultsFile) ? (JSON.parse(readFileSync(resultsFile, 'utf8')).training?.runs ?? []) : [];
const runs = minutes > 0 ? [...earlierRuns, { command, seconds: trainSeconds, untilIteration: saved.iteration, loadBefore, loadAfter: load() }] : earlierRuns;
const summary = {
  date: new Date().toISOString(),
  command,
  training: { iterations: saved.iteration, crop: size, threads, runs, validation },
  evalSize,
  mean: Object.fromEntries(['ssim', 'psnr', 'style'].flatMap((m) => Object.keys(variants).map((k) => [`${m}.${k}`, mean(`${m}.${k}`)]))),
  rows,
};
console.log(JSON.stringify(summary.mean, null, 1));
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(resultsFile, JSON.stringify(summary, null, 1) + '\n');

const H = 160;
const cells = sheet.map((r) => r.map((im) => resizeImage(im.channels === 3 ? im : Image.fromPlanes(im.width, im.height, [im.plane(0), im.plane(0), im.plane(0)]), Math.round((im.width * H) / im.height), H)));
const W = Math.max(...cells.map((r) => r.reduce((a, im) => a + im.width, 0)));
const canvas = new Image(W, H * cells.length, 3, new Float32Array(3 * W * H * cells.length).fill(1));
cells.forEach((r, i) => {
  let x0 = 0;
  for (const im of r) {
    for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < im.width; x++) canvas.data[(c * canvas.height + i * H + y) * W + x0 + x] = im.data[(c * H + y) * im.width + x];
    x0 += im.width;
  }
});
await writeImage(canvas, path.join(work, 'sheet.png'), { force: true });
console.log(`sheet: ${path.join(work, 'sheet.png')}`);
