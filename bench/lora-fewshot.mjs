#!/usr/bin/env node
// The few-shot comparison (issue 17 item 5): adapt a pretrained fast-style network to a new style
// from 1, 5 or 20 training images, four ways, same losses, same content batches, same step count:
//   lora-r4 / lora-r8  LoRA pairs on every conv that allows the rank (α = r), base frozen
//   norm-only          only the instance norms' scales and shifts (2 × channels per norm layer, the
//                      "conditional instance norm" parameters of Dumoulin et al.), rest frozen
//   full               every weight (full fine-tuning)
// (train/recipes/fast-style-finetuner.ts; perceptual losses on the real VGG-19 to relu3_1.)
// A style is one painter in ../shared/data/train-styles (van Gogh: 8 paintings + the reference
// starry_night; Monet: 5; Gauguin: 2). "n training images" are n square crops (60 % of the short
// side, seeded positions) taken from the painter's paintings in turn, so 20 images of a 2-painting
// style are 10 crops of each; the training target is their mean Gram matrices. Evaluation is on
// content photos held back from training (the last 4 of train-photos, 256² centre crops), against
// the WHOLE style (mean Gram of every painting of the painter, whole): how well a few images
// stand for the style. Reported per run: trainable parameters, wall time of the steps (graph
// building apart), final held-back style and content losses (unweighted; the base network's
// own are given as a reference). Contact sheets (one per style: rows 1/5/20 images, columns the
// base and the four methods on one held-back photo) go to .bench-out/lora-fewshot/ (made from
// ../shared data: never commit them). Needs ../shared and a build (npm run build).
// Usage: node bench/lora-fewshot.mjs [--steps 30] [--size 128] [--batch 2] [--base fst-small16-candy]
//          [--styles vangogh,monet,gauguin] [--counts 1,5,20] [--methods lora-r4,lora-r8,norm-only,full]
//          [--eval-size 256] [--held 4] [--name lora-fewshot]
//          [--lr lora-r4=2e-2,full=2e-3]
// Writes bench/results/<name>.json (default lora-fewshot.json; a longer run can keep its own name).
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { option } from './stats.js';
import { Image } from '../dist/core/image.js';
import { readImage, writeImage } from '../dist/core/io.js';
import { resizeImage } from '../dist/core/resample.js';
import { Rng } from '../dist/core/rng.js';
import { Graph } from '../dist/engine/graph/graph.js';
import { mergeLora } from '../dist/engine/lora/merge.js';
import { chooseTargets, initialPair } from '../dist/engine/lora/targets.js';
import { gram, meanSquaredError } from '../dist/engine/losses/style-losses.js';
import { fastStyleModel, locateInFolder, readFastStyleWeights } from '../dist/engine/nets/fast-style/models.js';
import { FastStyleStylizer } from '../dist/engine/nets/fast-style/stylizer.js';
import { readStateDict } from '../dist/engine/nets/model-files.js';
import { transformerNetShapes } from '../dist/engine/nets/transformer-net.js';
import { vgg19 } from '../dist/engine/nets/vgg19.js';
import { compile } from '../dist/engine/runtime.js';
import { CONTENT_TAP, FastStyleFinetuner, STYLE_TAPS, styleTargets } from '../dist/train/recipes/fast-style-finetuner.js';
import { TrainingImages, listTrainingImages } from '../dist/train/training-images.js';
import { DEFAULT_LOSS_WEIGHTS } from '../dist/train/recipes/lora.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = path.resolve(here, '..', '..', 'shared');
const steps = Number(option('steps', '30'));
const size = Number(option('size', '128'));
const batch = Number(option('batch', '2'));
const threads = Number(option('threads', '2'));
const baseName = option('base', 'fst-small16-candy');
const styles = option('styles', 'vangogh,monet,gauguin').split(',');
const counts = option('counts', '1,5,20').split(',').map(Number);
const methods = option('methods', 'lora-r4,lora-r8,norm-only,full').split(',');
const resultName = option('name', 'lora-fewshot');
const outDir = path.resolve(option('out', `.bench-out/${resultName}`));
mkdirSync(outDir, { recursive: true });
const EVAL = Number(option('eval-size', '256'));
const HELD = Number(option('held', '4'));
/** Learning rates per method (Adam): the adapters and norms take larger steps than whole weights. */
const LR = { 'lora-r4': 5e-3, 'lora-r8': 5e-3, 'norm-only': 5e-3, full: 1e-3 };
// --lr full=2e-3,lora-r4=2e-2 overrides some (a sweep checks that a ranking is not an artefact of the rates).
for (const kv of option('lr', '').split(',').filter(Boolean)) {
  const [k, v] = kv.split('=');
  if (!(k in LR) || !(Number(v) > 0)) throw new Error(`--lr expects method=rate with a method of ${Object.keys(LR).join(', ')}; got ${kv}`);
  LR[k] = Number(v);
}
const weights = { ...DEFAULT_LOSS_WEIGHTS };

const started = performance.now();
const loads = [loadavg()[0]];
const model = fastStyleModel(baseName);
const base = await readFastStyleWeights(model, locateInFolder(path.join(shared, 'weights')));
const vgg = await readStateDict(path.join(shared, 'weights', 'vgg19-relu3_1', 'vgg_normalised_conv3_1.pth'));
const shapes = transformerNetShapes(model.spec);

// Content: training photos, and 4 held back.
const photos = listTrainingImages(path.join(shared, 'data', 'train-photos'), 'content', 'x');
const heldFiles = photos.slice(-HELD);
const contents = await TrainingImages.load(photos.slice(0, 200), size);
const centreSquare = (img, side) => {
  const s = side / Math.min(img.width, img.height);
  const r = resizeImage(img, Math.max(side, Math.round(img.width * s)), Math.max(side, Math.round(img.height * s)));
  return r.crop(Math.floor((r.width - side) / 2), Math.floor((r.height - side) / 2), side, side);
};
const held = await Promise.all(heldFiles.map(async (f) => centreSquare(await readImage(f), EVAL)));

// Held-back evaluation: style loss against a target's Gram matrices, content loss to the photo.
const evalGraph = new Graph();
evalGraph.paramHook = (g, _n, shape, data) => g.constant(data, shape);
const out = evalGraph.input('output', [1, 3, EVAL, EVAL]);
const photo = evalGraph.input('photo', [1, 3, EVAL, EVAL]);
const feats = vgg19(evalGraph, evalGraph.concat([out, photo], 0), vgg, { layout: 'normalised', taps: STYLE_TAPS });
let styleLoss;
STYLE_TAPS.forEach((tap, i) => {
  const c = feats[tap].shape[1];
  const f = evalGraph.slice(feats[tap], [0], [0], [1]);
  const term = meanSquaredError(evalGraph, gram(evalGraph, f), evalGraph.input(`target${i}`, [1, c, c]));
  styleLoss = styleLoss ? evalGraph.add(styleLoss, term) : term;
});
evalGraph.output('style', styleLoss);
evalGraph.output('content', meanSquaredError(evalGraph, evalGraph.slice(feats[CONTENT_TAP], [0], [0], [1]), evalGraph.slice(feats[CONTENT_TAP], [0], [1], [2])));
const evaluator = await compile(evalGraph, { threads, memory: 'lean', cache: false });

async function heldOut(netWeights, target) {
  const net = await FastStyleStylizer.create(netWeights, model.spec, threads);
  const images = [];
  let style = 0;
  let content = 0;
  for (const h of held) {
    const y = await net.stylize(h.data, EVAL, EVAL);
    images.push(new Image(EVAL, EVAL, 3, y));
    const feeds = { output: { data: y, shape: [1, 3, EVAL, EVAL] }, photo: { data: h.data, shape: [1, 3, EVAL, EVAL] } };
    target.forEach((t, i) => (feeds[`target${i}`] = { data: t, shape: [1, Math.sqrt(t.length), Math.sqrt(t.length)] }));
    const r = await evaluator.run(feeds);
    style += r.style.data[0] / held.length;
    content += r.content.data[0] / held.length;
  }
  return { style, content, images };
}

/** The painter's paintings (van Gogh's include the reference starry_night). */
function paintings(style) {
  const dir = path.join(shared, 'data', 'train-styles');
  const files = readdirSync(dir).filter((f) => f.startsWith(`${style}_`) && f.endsWith('.jpg')).sort().map((f) => path.join(dir, f));
  if (style === 'vangogh') files.push(path.join(dir, 'reference-styles', 'starry_night.jpg'));
  return files;
}
const shortSide = (img, side) => {
  const s = side / Math.min(img.width, img.height);
  return resizeImage(img, Math.max(4, Math.round(img.width * s)), Math.max(4, Math.round(img.height * s)));
};

function setFor(method, rng) {
  if (method === 'full') return { kind: 'all' };
  if (method === 'norm-only') return { kind: 'subset', trainable: (n) => /(^|\.)in\d\.(weight|bias)$/.test(n) };
  const rank = Number(method.replace('lora-r', ''));
  const targets = chooseTargets(shapes, undefined, rank);
  return { kind: 'lora', targets: new Map(targets.map((n) => [n, initialPair(shapes.get(n), rank, rng)])), rank, alpha: rank };
}

function weightsOf(method, tuner, set) {
  if (set.kind !== 'lora') {
    const w = new Map(base);
    for (const t of tuner.trainedTensors()) w.set(t.name, { name: t.name, shape: t.shape, data: Float32Array.from(t.data) });
    return w;
  }
  const layers = [...set.targets.keys()].map((n) => ({ name: n, shape: shapes.get(n), a: tuner.tensor(`${n}.lora_A`), b: tuner.tensor(`${n}.lora_B`) }));
  return mergeLora(base, [{ adapter: { base: baseName, baseSha256: '', network: 'johnson', rank: set.rank, alpha: set.alpha, layers, extra: {} }, weight: 1, source: method }], baseName);
}

const results = [];
const cell = 192;
for (const style of styles) {
  const files = paintings(style);
  const whole = await Promise.all(files.map(async (f) => shortSide(await readImage(f), 256)));
  const fullTarget = await styleTargets(vgg, whole, threads);
  const baseEval = await heldOut(base, fullTarget);
  console.error(`${style}: ${files.length} paintings; base ${baseName} on held-back photos: style ${baseEval.style.toExponential(3)}, content ${baseEval.content.toFixed(3)}`);
  const sheetRows = [];
  for (const n of counts) {
    const cropRng = new Rng(1000 + n);
    const crops = [];
    for (let i = 0; i < n; i++) {
      const img = whole[i % whole.length];
      const side = Math.round(0.6 * Math.min(img.width, img.height));
      crops.push(resizeImage(img.crop(cropRng.int(img.width - side + 1), cropRng.int(img.height - side + 1), side, side), 256, 256));
    }
    const target = await styleTargets(vgg, crops, threads);
    const row = { n, crops, outputs: {} };
    for (const method of methods) {
      const set = setFor(method, new Rng(7));
      const t0 = performance.now();
      const tuner = await FastStyleFinetuner.create(base, model.spec, vgg, target, { size, batch, weights, learningRate: LR[method], threads, set });
      const build = (performance.now() - t0) / 1000;
      const rng = new Rng(99);
      const t1 = performance.now();
      const cpu0 = process.cpuUsage();
      let last;
      for (let s = 0; s < steps; s++) {
        const b = new Float32Array(batch * 3 * size * size);
        for (let k = 0; k < batch; k++) b.set(contents.sample(rng, size), k * 3 * size * size);
        last = await tuner.step(b);
      }
      const seconds = (performance.now() - t1) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      const ev = await heldOut(weightsOf(method, tuner, set), fullTarget);
      row.outputs[method] = ev.images[0];
      loads.push(loadavg()[0]);
      const rec = {
        style,
        images: n,
        method,
        trainableParameters: tuner.parameterCount,
        steps,
        trainSeconds: +seconds.toFixed(2),
        secondsPerStep: +(seconds / steps).toFixed(3),
        cpuSecondsPerStep: +(cpuSeconds / steps).toFixed(3),
        graphBuildSeconds: +build.toFixed(2),
        finalTrainLoss: { style: last.style, content: last.content, total: last.total },
        heldOut: { style: ev.style, content: ev.content },
        baseHeldOut: { style: baseEval.style, content: baseEval.content },
        load: +loadavg()[0].toFixed(1),
      };
      results.push(rec);
      console.error(`${style} n=${n} ${method}: ${rec.trainableParameters} params, ${rec.trainSeconds} s (${rec.secondsPerStep} s/step), held-back style ${ev.style.toExponential(3)} content ${ev.content.toFixed(3)} (load ${rec.load})`);
      await tuner.release();
    }
    sheetRows.push(row);
  }
  // Contact sheet: per row the first training crop, the base, then each method.
  const columns = ['1st crop', 'base', ...methods];
  const label = 18;
  const composites = [];
  columns.forEach((c, i) => composites.push({ input: Buffer.from(`<svg width="${cell}" height="${label}"><text x="4" y="14" font-family="sans-serif" font-size="13">${c}</text></svg>`), left: i * cell, top: 0 }));
  for (const [r, row] of sheetRows.entries()) {
    const cells = [row.crops[0], baseEval.images[0], ...methods.map((m) => row.outputs[m])];
    for (const [c, img] of cells.entries()) {
      const file = path.join(outDir, `${style}-${row.n}-${c}.png`);
      await writeImage(img, file);
      composites.push({ input: await sharp(file).resize(cell, cell, { fit: 'contain', background: { r: 255, g: 255, b: 255 } }).png().toBuffer(), left: c * cell, top: label + r * (cell + label) });
    }
    composites.push({ input: Buffer.from(`<svg width="${cell}" height="${label}"><text x="4" y="14" font-family="sans-serif" font-size="13">${row.n} image${row.n === 1 ? '' : 's'}</text></svg>`), left: 0, top: label + r * (cell + label) + cell });
  }
  await sharp({ create: { width: columns.length * cell, height: label + sheetRows.length * (cell + label), channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(composites)
    .png()
    .toFile(path.join(outDir, `contact-sheet-${style}.png`));
  console.error(`contact sheet: ${path.join(outDir, `contact-sheet-${style}.png`)}`);
}
const total = (performance.now() - started) / 1000;
const summary = {
  benchmark: 'few-shot style adaptation of a fast-style network: LoRA vs norm-only vs full fine-tuning',
  base: baseName,
  steps,
  size,
  batch,
  threads,
  evalSize: EVAL,
  heldBackPhotos: heldFiles.map((f) => path.basename(f)),
  learningRates: LR,
  lossWeights: weights,
  totalSeconds: +total.toFixed(1),
  loadAverage: { start: loads[0], end: loads.at(-1), max: Math.max(...loads) },
  runs: results,
};
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results', `${resultName}.json`), JSON.stringify(summary, null, 1) + '\n');
console.log(JSON.stringify({ totalSeconds: summary.totalSeconds, loadAverage: summary.loadAverage }, null, 1));
