#!/usr/bin/env node
// Proof that the GAN trainers learn, on a task with a known answer (issue 15 item 3). Photos of
// ../shared/data/train-photos are split three ways: domain A (photos), domain B (other photos
// rendered by our own filter, so the sets are unpaired but the right mapping is known), and
// held-back photos with their filtered versions as ground truth. The trainer runs for a time
// budget; every --eval-every iterations the current generator translates the held-back photos and
// SSIM and PSNR against the filter's output are recorded, beside the identity map (the photo
// itself) as the baseline a generator that learnt nothing would score.
//
// A third mode, `supervised`, trains the same ResNet generator with plain L1 to the filter's output
// on paired photos (the photos domain B was made from): no GAN, so it tells whether the generator
// can represent the mapping at that width and size, and how fast — the ceiling the GAN runs aim at.
//
//   node bench/gan-filter-proof.mjs cyclegan [--filter toon] [--minutes 30] [--size 128] [--width 16] [--blocks 6]
//   node bench/gan-filter-proof.mjs stargan [--filters toon,pencil,watercolor] [--minutes 30] [--batch 4]
//   node bench/gan-filter-proof.mjs supervised [--filter toon] [--minutes 5] [--size 64] [--width 16] [--blocks 3]
//
// --iterations N gives the run a length, so the published schedule applies (constant learning rate,
// then linear decay to zero over the last --decay fraction, default the published one); without it
// the rate stays constant and --minutes alone ends the run. --minutes always bounds it. --eval-size
// is the held-back crops' height (default 128; the width is 1.5×) — the training --size may be
// smaller (the networks are fully convolutional, and every image is first scaled to
// 1.25 × --data-size on its short side, default 128, so the filter's scale is the same in training
// and evaluation whatever the crop). --tag names the run's folder and result file. --evaluate FILE
// [--iteration N] only evaluates a generator file a run left (current.safetensors) and draws its grids;
// --baselines only prints the identity and flat baselines.
// (after `npm run build`). Data, grids and plots go to scratch/gan-proof-<tag>/ (never committed:
// they derive from ../shared), rewritten after every evaluation, so a stopped run keeps its curve;
// the figures to bench/results/gan-proof-<tag>.json. --n-critic, --lr, --rec-weight, --cls-weight, --cycle-weight,
// --identity-weight, --pool override the recipe's published values; --skip (both) and --label-norm
// (StarGAN) switch on the unpublished generator options.
//
// The proof runs in bench/results (one thread each, two side by side at nice 10, load 10-13):
//   node bench/gan-filter-proof.mjs cyclegan --filter xdog --size 64 --width 16 --blocks 3 --discriminator-width 32 \
//     --discriminator-layers 3 --threads 1 --iterations 2000 --minutes 47 --eval-every 100 --tag cyclegan-xdog
//   node bench/gan-filter-proof.mjs cyclegan --filter pencil --size 64 --width 16 --blocks 3 --discriminator-width 32 \
//     --discriminator-layers 3 --threads 1 --iterations 3000 --minutes 27 --eval-every 200 --tag cyclegan-pencil
//   node bench/gan-filter-proof.mjs stargan --filters xdog,pencil,watercolor --size 64 --width 16 --blocks 3 \
//     --discriminator-width 32 --discriminator-layers 5 --batch 4 --n-critic 1 --lr 2e-4 --rec-weight 2 --skip --label-norm \
//     --threads 1 --iterations 1500 --minutes 47 --eval-every 100 --tag stargan-xdog-pencil-watercolor
//   (the same without --label-norm, --minutes 21: --tag stargan-xdog-pencil-watercolor-no-label-norm)
// xdog and pencil were chosen because the identity is far from them (SSIM 0.27 and 0.26; toon's is
// 0.77), but both are mostly paper: the flat baseline is the bar there.
// StarGAN's departures, for a CPU budget of under an hour: the label shifts every norm (labelNorm,
// see engine/nets/stargan.ts); a generator step every iteration (nCritic 1) at twice the published
// rate (Adam moves a weight by about the rate per step at most, so the ~115 generator steps of
// gan-proof-stargan-3.json at 1e-4 could move none by more than ~0.012);
// reconstruction weight 2, since xdog and pencil drop the colour no generator can restore, and at
// the published 10 staying at the identity cost G less than translating (gan-proof-stargan-3.json).
import { mkdirSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { option } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const args = process.argv.slice(2);
const trainerId = args[0];
if (trainerId !== 'cyclegan' && trainerId !== 'stargan' && trainerId !== 'supervised') {
  // (`npm run bench -- all` runs every bench without arguments: a training of tens of minutes is asked for by name.)
  console.error('usage: node bench/gan-filter-proof.mjs cyclegan|stargan|supervised [options] (a training of tens of minutes: not run without a trainer)');
  process.exit(0);
}
const minutes = Number(option('minutes', '30'));
const size = Number(option('size', '128'));
const dataSize = Number(option('data-size', '128'));
const evalSize = Number(option('eval-size', '128'));
const fixedIterations = option('iterations', undefined);
const tag = option('tag', trainerId);
const single = trainerId !== 'stargan';
// --skip: the generators add their input to their output (not published; see engine/nets/cyclegan.ts).
const skip = args.includes('--skip');
const width = Number(option('width', '16'));
const evalEvery = Number(option('eval-every', '100'));
const threads = Number(option('threads', '2'));
const perDomain = Number(option('images', '120'));
const heldBack = Number(option('held-back', '12'));
const seed = Number(option('seed', '1'));
const filters = (option(single ? 'filter' : 'filters', single ? 'toon' : 'toon,pencil,watercolor')).split(',');

const { readImage, writeImage } = await import('../dist/core/io.js');
const { resizeImage } = await import('../dist/core/resample.js');
const { Rng } = await import('../dist/core/rng.js');
const { parseParams } = await import('../dist/core/params.js');
const { stylize } = await import('../dist/methods/index.js');
const { getTrainer } = await import('../dist/train/index.js');
const { writeSafetensors } = await import('../dist/engine/weights/safetensors.js');
const { cycleGanNetwork, starGanNetwork, runGenerator } = await import('../dist/engine/nets/trained-generator.js');
const { structuralSimilarity } = await import('../dist/metrics/ssim.js');
const { peakSignalToNoise } = await import('../dist/metrics/psnr.js');
const { lossCurveSvg } = await import('../dist/train/loss-curve.js');
const sharp = (await import('sharp')).default;

const photos = path.resolve(root, '..', 'shared', 'data', 'train-photos');
if (!existsSync(photos)) {
  console.error(`skipped: ${photos} is absent`);
  process.exit(0);
}
const work = path.join(root, 'scratch', `gan-proof-${tag}`);
// The domain images depend only on the split and the data size: runs share them.
const dataDir = path.join(root, 'scratch', 'gan-proof-data', `seed${seed}-n${perDomain}-s${dataSize}`);
mkdirSync(dataDir, { recursive: true });
mkdirSync(work, { recursive: true });

// ---------------------------------------------------------------- data
const files = readdirSync(photos).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
new Rng(seed).shuffle(files);
const nDomains = single ? 2 : 1 + filters.length;
const needed = nDomains * perDomain + heldBack;
if (files.length < needed) throw new Error(`${files.length} photos, ${needed} needed`);
const short = Math.round(dataSize * 1.25);
const load = async (f) => {
  const img = await readImage(path.join(photos, f));
  const s = short / Math.min(img.width, img.height);
  return resizeImage(img, Math.round(img.width * s), Math.round(img.height * s));
};
const filtered = async (img, filter) => (await stylize(`filter.${filter}`, { content: img }, { seed: 1 })).image;

async function writeDomain(name, first, list, filter) {
  // Named by the slice too: domain 1 of one run and domain 3 of another draw different photos.
  const dir = path.join(dataDir, `${name}-from-${first}`);
  mkdirSync(dir, { recursive: true });
  for (const f of list) {
    const out = path.join(dir, f.replace(/\.\w+$/, '.png'));
    if (existsSync(out)) continue;
    const img = await load(f);
    await writeImage(filter ? await filtered(img, filter) : img, out, { force: true });
  }
  return dir;
}

const t0 = performance.now();
const domainDirs = [];
const domainNames = single ? ['photo', filters[0]] : ['photo', ...filters];
for (let d = 0; d < nDomains; d++) {
  domainDirs.push(await writeDomain(domainNames[d], d * perDomain, files.slice(d * perDomain, (d + 1) * perDomain), d === 0 ? undefined : domainNames[d]));
}
// Held-back photos, centre-cropped to size × size·1.5 (a multiple of 4), with each filter's output as the answer.
const held = [];
for (const f of files.slice(nDomains * perDomain, needed)) {
  const img = await load(f);
  const w = Math.min(img.width, Math.floor((evalSize * 3) / 2 / 4) * 4);
  const h = Math.min(img.height, evalSize);
  const crop = img.crop(Math.floor((img.width - w) / 2), Math.floor((img.height - h) / 2), w, h);
  const answers = {};
  for (const flt of filters) answers[flt] = await filtered(crop, flt);
  held.push({ file: f, photo: crop, answers });
}
console.error(`data ready in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${nDomains} domains × ${perDomain} images, ${held.length} held back`);

// ---------------------------------------------------------------- baselines
// The identity map (the photo itself), and the flat image of the filter domain's mean colour over
// its training images: what a generator that ignored its input could do best in the mean. xdog and
// pencil are mostly white paper, so the flat page beats the identity by far on both measures
// (xdog: SSIM 0.39, PSNR 12.8 against the identity's 0.30 and 4.8): a generator has learnt the
// mapping only where it beats both.
const baseline = {};
const flatBaseline = {};
{
  const { Image } = await import('../dist/core/image.js');
  for (const flt of filters) {
    const dir = domainDirs[domainNames.indexOf(flt)];
    const mean = [0, 0, 0];
    const list = readdirSync(dir).filter((f) => f.endsWith('.png'));
    for (const f of list) {
      const img = await readImage(path.join(dir, f));
      const plane = img.width * img.height;
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let i = 0; i < plane; i++) sum += img.data[c * plane + i];
        mean[c] += sum / plane / list.length;
      }
    }
    const flat = (h) => {
      const out = new Image(h.photo.width, h.photo.height, 3);
      const plane = out.width * out.height;
      for (let c = 0; c < 3; c++) out.data.fill(mean[c], c * plane, (c + 1) * plane);
      return out;
    };
    baseline[`${flt}.ssim`] = held.reduce((s, h) => s + structuralSimilarity(h.photo, h.answers[flt]).value, 0) / held.length;
    baseline[`${flt}.psnr`] = held.reduce((s, h) => s + peakSignalToNoise(h.photo, h.answers[flt]).value, 0) / held.length;
    flatBaseline[`${flt}.ssim`] = held.reduce((s, h) => s + structuralSimilarity(flat(h), h.answers[flt]).value, 0) / held.length;
    flatBaseline[`${flt}.psnr`] = held.reduce((s, h) => s + peakSignalToNoise(flat(h), h.answers[flt]).value, 0) / held.length;
    flatBaseline[`${flt}.colour`] = mean.map((v) => Number(v.toFixed(4)));
  }
}
console.error(`identity baseline: ${JSON.stringify(baseline)}`);
console.error(`flat baseline (the domain's mean colour): ${JSON.stringify(flatBaseline)}`);
// --baselines: only these, no training.
if (args.includes('--baselines')) {
  console.log(JSON.stringify({ filters, heldBack: held.length, identityBaseline: baseline, flatBaseline }, null, 1));
  process.exit(0);
}

// ---------------------------------------------------------------- training
/**
 * The supervised sanity run: CycleGAN's generator (G_A's names, so the evaluation reads it like a
 * CycleGAN file) trained with L1 to the filter's output of the same crop, batch 1, Adam with
 * CycleGAN's lr and betas.
 */
async function supervisedSession() {
  const { Graph } = await import('../dist/engine/graph/graph.js');
  const { grad } = await import('../dist/engine/autodiff/grad.js');
  const { compile } = await import('../dist/engine/runtime.js');
  const { Adam } = await import('../dist/engine/optim/adam.js');
  const { ParameterSet } = await import('../dist/engine/optim/parameter-set.js');
  const { cycleGanGenerator, cycleGanGeneratorSpecs } = await import('../dist/engine/nets/cyclegan.js');
  const { PUBLISHED_CYCLEGAN } = await import('../dist/train/recipes/cyclegan-trainer.js');
  const { linearDecayRate } = await import('../dist/train/gan-training.js');
  const config = { width, blocks: Number(option('blocks', '6')), skip };
  const set = ParameterSet.initialised(cycleGanGeneratorSpecs(config, 'G_A.'), seed);
  const g = new Graph();
  const x = g.input('x', [1, 3, size, size]);
  const y = g.input('y', [1, 3, size, size]);
  const loss = g.meanAll(g.abs(g.sub(cycleGanGenerator(g, x, set.graphParams(g, 'G_A.'), config), y)));
  g.output('loss', loss);
  grad(g, loss, g.params).forEach((t, i) => g.output(`grad:${g.params[i].name}`, t));
  const runner = await compile(g, { threads, paramsAsInputs: true, cache: false });
  const lr = Number(option('lr', String(PUBLISHED_CYCLEGAN.learningRate)));
  const adam = new Adam(set.size, { learningRate: lr, beta1: PUBLISHED_CYCLEGAN.beta1, beta2: PUBLISHED_CYCLEGAN.beta2 });
  const total = Number(fixedIterations ?? 1_000_000);
  const decay = fixedIterations ? Number(option('decay', String(PUBLISHED_CYCLEGAN.decayFraction))) : 0;
  // Pairs: the photos domain B was rendered from, and their renderings.
  const pairs = [];
  for (const f of files.slice(perDomain, 2 * perDomain)) {
    pairs.push({ photo: await load(f), target: await readImage(path.join(domainDirs[1], f.replace(/\.\w+$/, '.png'))) });
  }
  const signedCrop = (img, x0, y0, flip) => {
    const out = new Float32Array(3 * size * size);
    for (let c = 0; c < 3; c++)
      for (let yy = 0; yy < size; yy++)
        for (let xx = 0; xx < size; xx++) {
          const sx = x0 + (flip ? size - 1 - xx : xx);
          out[(c * size + yy) * size + xx] = 2 * img.data[(c * img.height + y0 + yy) * img.width + sx] - 1;
        }
    return out;
  };
  let iteration = 0;
  return {
    get iteration() {
      return iteration;
    },
    async step(rng) {
      const p = pairs[rng.int(pairs.length)];
      const x0 = rng.int(p.photo.width - size + 1);
      const y0 = rng.int(p.photo.height - size + 1);
      const flip = rng.next() < 0.5;
      const out = await runner.run({ ...set.feeds(), x: { data: signedCrop(p.photo, x0, y0, flip), shape: [1, 3, size, size] }, y: { data: signedCrop(p.target, x0, y0, flip), shape: [1, 3, size, size] } });
      const rate = linearDecayRate(lr, iteration, total, decay);
      adam.step(set.data, set.gatherGradients(out), rate);
      iteration++;
      return { values: { L1: out.loss.data[0], learningRate: rate } };
    },
    exportWeights: () => ({ tensors: set.tensors(), metadata: { architecture: 'cyclegan-resnet-generator', width: String(config.width), blocks: String(config.blocks), skip: String(skip) } }),
    params: { blocks: config.blocks, skip, lr, decay, betas: [PUBLISHED_CYCLEGAN.beta1, PUBLISHED_CYCLEGAN.beta2], loss: 'L1 to the filter output, paired' },
  };
}

async function ganSession() {
  const def = getTrainer(trainerId);
  const common = { size, width, eval: 0, skip, discriminatorWidth: Number(option('discriminator-width', String(2 * width))) };
  for (const [flag, key] of [['lr', 'lr'], ['pool', 'pool'], ['n-critic', 'nCritic'], ['identity-weight', 'identityWeight'], ['rec-weight', 'recWeight'], ['cls-weight', 'clsWeight'], ['cycle-weight', 'cycleWeight']]) {
    if (option(flag, undefined) !== undefined) common[key] = Number(option(flag));
  }
  const raw =
    trainerId === 'cyclegan'
      ? { ...common, a: domainDirs[0], b: domainDirs[1], blocks: Number(option('blocks', '6')), discriminatorLayers: Number(option('discriminator-layers', '3')) }
      : {
          ...common,
          domain: domainNames.map((n, i) => `${n}=${domainDirs[i]}`),
          batch: Number(option('batch', '4')),
          blocks: Number(option('blocks', '6')),
          discriminatorLayers: Number(option('discriminator-layers', '5')),
          labelNorm: args.includes('--label-norm'),
        };
  const params = parseParams(def.params, raw, { methodId: `train ${trainerId}` });
  // Without a length the schedule has none to decay over: the rate stays constant and the budget ends the run.
  params.decay = fixedIterations ? Number(option('decay', String(params.decay))) : 0;
  const log = { debug() {}, info: (m) => console.error(m), warn: (m) => console.error(m) };
  const session = await def.open({ seed, iterations: Number(fixedIterations ?? 1_000_000), threads, log, signal: new AbortController().signal }, params);
  return {
    get iteration() {
      return session.iteration;
    },
    step: (rng) => session.step(rng),
    exportWeights: () => session.exportWeights(),
    params: { ...params, a: undefined, b: undefined, domain: domainNames },
  };
}

// --evaluate FILE: no training, only the held-back figures and grids of a generator file this bench wrote.
const evaluateOnly = option('evaluate', undefined);
const session = evaluateOnly ? undefined : trainerId === 'supervised' ? await supervisedSession() : await ganSession();
console.error(`training compiled in ${((performance.now() - t0) / 1000).toFixed(0)} s since the start`);

async function evaluate(iteration) {
  let file = evaluateOnly;
  if (!file) {
    const exported = session.exportWeights();
    file = path.join(work, 'current.safetensors');
    await writeSafetensors(file, exported.tensors, { metadata: exported.metadata });
  }
  const row = { iteration, seconds: (performance.now() - trainStart) / 1000 };
  for (const flt of filters) {
    const { net } = trainerId === 'stargan' ? await starGanNetwork(file, flt, { seed, threads }) : await cycleGanNetwork(file, 'a2b', { seed, threads });
    let ssim = 0;
    let psnr = 0;
    const grid = [];
    for (const h of held) {
      const out = await runGenerator(net, h.photo, { tileSize: 2048 });
      ssim += structuralSimilarity(out, h.answers[flt]).value / held.length;
      psnr += peakSignalToNoise(out, h.answers[flt]).value / held.length;
      if (grid.length < 4) grid.push([h.photo, out, h.answers[flt]]);
    }
    row[`${flt}.ssim`] = ssim;
    row[`${flt}.psnr`] = psnr;
    await writeGrid(grid, path.join(work, `grid-${flt}-${String(iteration).padStart(6, '0')}.png`));
  }
  return row;
}

/** Rows of [photo, G(photo), filter(photo)] side by side with 2-pixel white gutters (portrait rows are narrower). */
async function writeGrid(rows, file) {
  const { Image } = await import('../dist/core/image.js');
  const cell = Math.max(...rows.map((r) => r[0].width));
  const heights = rows.map((r) => r[0].height);
  const out = new Image(3 * cell + 4, heights.reduce((s, h) => s + h + 2, -2), 3);
  out.data.fill(1);
  const plane = out.width * out.height;
  let top = 0;
  rows.forEach((r, ri) => {
    r.forEach((img, ci) => {
      const { width: w, height: h } = img;
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) out.data[c * plane + (top + y) * out.width + ci * (cell + 2) + x] = img.data[(c * h + y) * w + x];
    });
    top += heights[ri] + 2;
  });
  await writeImage(out, file, { force: true });
}


const losses = [];
const curve = [];
/** The result, the curves and the losses as they stand: written after every evaluation, so a stopped run keeps them. */
async function save() {
  const loadAverage = os.loadavg().map((v) => v.toFixed(1)).join(' ');
  const result = {
    trainer: trainerId,
    filters,
    size,
    dataSize,
    evalSize,
    width,
    params: session.params,
    threads,
    domains: domainNames.map((n, i) => ({ name: n, images: perDomain, source: i === 0 ? 'photos' : `other photos through filter.${n}` })),
    heldBack: held.length,
    minutes,
    plannedIterations: fixedIterations ? Number(fixedIterations) : null,
    iterations: session.iteration,
    loadAverage,
    identityBaseline: baseline,
    flatBaseline,
    curve,
  };
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(path.join(here, 'results', `gan-proof-${tag}.json`), JSON.stringify(result, null, 1));
  writeFileSync(path.join(work, 'losses.json'), JSON.stringify(losses));
  if (curve.length < 2) return loadAverage;
  for (const metric of ['ssim', 'psnr']) {
    const series = filters.flatMap((flt) => [
      { name: `G(x) vs filter.${flt}`, values: curve.map((r) => r[`${flt}.${metric}`]) },
      { name: `identity vs filter.${flt}`, values: curve.map(() => baseline[`${flt}.${metric}`]) },
      { name: `flat mean colour vs filter.${flt}`, values: curve.map(() => flatBaseline[`${flt}.${metric}`]) },
    ]);
    const its = curve.map((r) => r.iteration);
    const svg = lossCurveSvg(series, `${tag}: ${metric.toUpperCase()} to the filter's output on held-back photos, at iterations ${its[0]}…${its.at(-1)}`);
    await sharp(Buffer.from(svg)).png().toFile(path.join(work, `${metric}-curve.png`));
  }
  return loadAverage;
}

const trainStart = performance.now();
if (evaluateOnly) {
  const row = await evaluate(Number(option('iteration', '0')));
  console.log(JSON.stringify({ file: evaluateOnly, baseline, flatBaseline, ...row }, null, 1));
  process.exit(0);
}
curve.push(await evaluate(0));
console.error(JSON.stringify(curve[0]));
await save();
const deadline = trainStart + minutes * 60_000;
const end = Number(fixedIterations ?? Infinity);
while (performance.now() < deadline && session.iteration < end) {
  const it = session.iteration;
  const { values } = await session.step(new Rng((seed * 1_000_003 + it) >>> 0));
  losses.push({ iteration: it, ...values });
  if (session.iteration % evalEvery === 0) {
    curve.push(await evaluate(session.iteration));
    console.error(JSON.stringify({ ...curve.at(-1), ...values }));
    await save();
  }
}
if (curve.at(-1).iteration !== session.iteration) curve.push(await evaluate(session.iteration));
const loadAverage = await save();
console.log(JSON.stringify({ iterations: session.iteration, loadAverage, baseline, last: curve.at(-1), first: curve[0] }, null, 1));
