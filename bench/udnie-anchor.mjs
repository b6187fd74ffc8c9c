#!/usr/bin/env node
// Issue 17 item 5's anchor: retrain `udnie` from the Udnie painting with our recipe (`train fast`,
// Johnson et al. on the real VGG-19) for a wall-time budget, then compare its outputs with the
// published fst-engstrom-udnie network on the dev photos: style distance to the painting (the
// `style` metric: real VGG-19 Grams), SSIM between the two networks' outputs, and SSIM of each to
// its content photo. Writes bench/results/udnie-anchor.json and a contact sheet
// scratch/udnie-anchor/sheet.png (content | published | ours per row) to look at.
//
// Usage: nice -n 10 node bench/udnie-anchor.mjs [--minutes 12] [--size 128] [--width full] [--threads 2] [--eval-size 384]
//        (--minutes 0 evaluates the last checkpoint without training)
// Needs ../shared (weights and data) and a build (npm run build).
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { option } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const shared = path.resolve(root, '..', 'shared');
const minutes = Number(option('minutes', '12'));
const size = Number(option('size', '128'));
const width = option('width', 'full');
const threads = Number(option('threads', '2'));
const evalSize = Number(option('eval-size', '384'));
const work = path.join(root, 'scratch', 'udnie-anchor');
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
const { FastStyleStylizer } = await import('../dist/engine/nets/fast-style/stylizer.js');
const { fastStyleModel, locateInstalled, readFastStyleWeights } = await import('../dist/engine/nets/fast-style/models.js');
const { PYTORCH_EXAMPLES_NET } = await import('../dist/engine/nets/transformer-net.js');

for (const m of ['vgg19-relu3_1', 'fst-engstrom-udnie']) await pullModel(m, { from: path.join(shared, 'weights'), acceptLicence: true, waitForLock: true });
const painting = path.join(shared, 'data', 'train-styles', 'reference-styles', 'udnie.jpg');
const out = path.join(work, 'train');
const load = () => os.loadavg().map((v) => v.toFixed(1)).join(' ');
const loadBefore = load();

// Train until the budget runs out: the loop saves the checkpoint when cancelled.
const controller = new AbortController();
const timer = setTimeout(() => controller.abort(new Error('time budget')), minutes * 60_000);
const started = Date.now();
let iterations = 0;
let lastLosses;
try {
  if (minutes > 0)
  await train('fast', {
    out,
    iterations: 100_000,
    saveEvery: 25,
    threads,
    signal: controller.signal,
    params: { style: painting, contentDir: path.join(shared, 'data', 'train-photos'), name: 'udnie-anchor', force: true, width, size, batch: 4, eval: 0 },
    onProgress: (e) => {
      if (e.type !== 'step') return;
      iterations = e.step;
      lastLosses = e.values;
      if (e.step % 10 === 0) console.log(`iter ${e.step}  ${Object.entries(e.values).map(([k, v]) => `${k} ${v.toPrecision(3)}`).join('  ')}`);
    },
  });
} catch (e) {
  if (e.code !== 'E_ABORTED') throw e;
}
clearTimeout(timer);
const trainSeconds = (Date.now() - started) / 1000;
const saved = await readCheckpoint(path.join(out, 'last.safetensors'), `atelier-fast-training-1/${{ full: 32, small16: 16, small8: 8 }[width]}/all`);
const ours = new Map([...saved.tensors].filter(([k]) => !k.startsWith('optimizer.')));
const ourSpec = { ...PYTORCH_EXAMPLES_NET, width: { full: 32, small16: 16, small8: 8 }[width] };
console.log(`trained ${saved.iteration} iterations in ${trainSeconds.toFixed(0)} s (load before ${loadBefore}, after ${load()})`);

const published = fastStyleModel('fst-engstrom-udnie');
const nets = {
  published: await FastStyleStylizer.create(await readFastStyleWeights(published, locateInstalled(published)), published.spec, threads),
  ours: await FastStyleStylizer.create(ours, ourSpec, threads),
};
const style = await readImage(painting);
const styleMetric = getMetric('style');
const ssim = getMetric('ssim');
const rows = [];
const sheet = [];
const contentDir = path.join(shared, 'data', 'dev', 'content');
for (const f of readdirSync(contentDir).sort()) {
  const img = await readImage(path.join(contentDir, f));
  const s = evalSize / Math.max(img.width, img.height);
  const content = resizeImage(img, Math.round(img.width * s), Math.round(img.height * s));
  const outs = {};
  for (const [k, net] of Object.entries(nets)) outs[k] = new Image(content.width, content.height, 3, await net.stylize(content.data, content.width, content.height));
  const row = { photo: f };
  for (const k of Object.keys(nets)) {
    row[`style.${k}`] = (await computeMetric(styleMetric, { output: outs[k], style })).value;
    row[`ssimToContent.${k}`] = (await computeMetric(ssim, { output: outs[k], content })).value;
  }
  row.ssimBetween = (await computeMetric(ssim, { output: outs.ours, content: outs.published })).value;
  rows.push(row);
  console.log(JSON.stringify(row));
  sheet.push([content, outs.published, outs.ours]);
}
const mean = (k) => rows.reduce((a, r) => a + r[k], 0) / rows.length;
const summary = {
  date: new Date().toISOString(),
  command: `node bench/udnie-anchor.mjs --minutes ${minutes} --size ${size} --width ${width} --threads ${threads}`,
  training: { iterations: saved.iteration, seconds: trainSeconds, crop: size, batch: 4, width, threads, loadBefore, loadAfter: load(), lastLosses },
  evalSize,
  mean: {
    styleDistancePublished: mean('style.published'),
    styleDistanceOurs: mean('style.ours'),
    ssimBetween: mean('ssimBetween'),
    ssimToContentPublished: mean('ssimToContent.published'),
    ssimToContentOurs: mean('ssimToContent.ours'),
  },
  rows,
};
// Reference points for the style distance: the photos themselves.
let photoStyle = 0;
for (const [content] of sheet) photoStyle += (await computeMetric(styleMetric, { output: content, style })).value / sheet.length;
summary.mean.styleDistanceOfThePhotos = photoStyle;
console.log(JSON.stringify(summary.mean, null, 1));
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results', 'udnie-anchor.json'), JSON.stringify(summary, null, 1) + '\n');

// Contact sheet: rows of content | published | ours, each scaled to 256 px tall.
const H = 256;
const cells = sheet.map((r) => r.map((im) => resizeImage(im, Math.round((im.width * H) / im.height), H)));
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
