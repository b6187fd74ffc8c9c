#!/usr/bin/env node
// Proof that the GAN trainers learn, on a task with a known answer (issue 15 item 3). Photos of
// ../shared/data/train-photos are split three ways: domain A (photos), domain B (other photos
// rendered by our own filter, so the sets are unpaired but the right mapping is known), and
// held-back photos with their filtered versions as ground truth. The trainer runs for a time
// budget; every --eval-every iterations the current generator translates the held-back photos and
// SSIM and PSNR against the filter's output are recorded, beside the identity map (the photo
// itself) as the baseline a generator that learnt nothing would score.
//
//   node bench/gan-filter-proof.mjs cyclegan [--filter toon] [--minutes 30] [--size 128] [--width 16]
//   node bench/gan-filter-proof.mjs stargan [--filters toon,pencil,watercolor] [--minutes 30] [--batch 4]
//
// (after `npm run build`). Data, grids and plots go to scratch/gan-proof-<trainer>/ (never
// committed: they derive from ../shared); the figures to bench/results/gan-proof-<trainer>.json.
import { mkdirSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { option } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const args = process.argv.slice(2);
const trainerId = args[0];
if (trainerId !== 'cyclegan' && trainerId !== 'stargan') {
  // (`npm run bench -- all` runs every bench without arguments: a training of tens of minutes is asked for by name.)
  console.error('usage: node bench/gan-filter-proof.mjs cyclegan|stargan [options] (a training of tens of minutes: not run without a trainer)');
  process.exit(0);
}
const minutes = Number(option('minutes', '30'));
const size = Number(option('size', '128'));
const width = Number(option('width', '16'));
const evalEvery = Number(option('eval-every', '100'));
const threads = Number(option('threads', '2'));
const perDomain = Number(option('images', '120'));
const heldBack = Number(option('held-back', '12'));
const seed = Number(option('seed', '1'));
const filters = (option(trainerId === 'cyclegan' ? 'filter' : 'filters', trainerId === 'cyclegan' ? 'toon' : 'toon,pencil,watercolor')).split(',');

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
const work = path.join(root, 'scratch', `gan-proof-${trainerId}`);
const dataDir = path.join(work, 'data');
mkdirSync(dataDir, { recursive: true });

// ---------------------------------------------------------------- data
const files = readdirSync(photos).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
new Rng(seed).shuffle(files);
const nDomains = trainerId === 'cyclegan' ? 2 : 1 + filters.length;
const needed = nDomains * perDomain + heldBack;
if (files.length < needed) throw new Error(`${files.length} photos, ${needed} needed`);
const short = Math.round(size * 1.25);
const load = async (f) => {
  const img = await readImage(path.join(photos, f));
  const s = short / Math.min(img.width, img.height);
  return resizeImage(img, Math.round(img.width * s), Math.round(img.height * s));
};
const filtered = async (img, filter) => (await stylize(`filter.${filter}`, { content: img }, { seed: 1 })).image;

async function writeDomain(name, list, filter) {
  const dir = path.join(dataDir, name);
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
const domainNames = trainerId === 'cyclegan' ? ['photo', filters[0]] : ['photo', ...filters];
for (let d = 0; d < nDomains; d++) {
  domainDirs.push(await writeDomain(domainNames[d], files.slice(d * perDomain, (d + 1) * perDomain), d === 0 ? undefined : domainNames[d]));
}
// Held-back photos, centre-cropped to size × size·1.5 (a multiple of 4), with each filter's output as the answer.
const held = [];
for (const f of files.slice(nDomains * perDomain, needed)) {
  const img = await load(f);
  const w = Math.min(img.width, Math.floor((size * 3) / 2 / 4) * 4);
  const h = Math.min(img.height, size);
  const crop = img.crop(Math.floor((img.width - w) / 2), Math.floor((img.height - h) / 2), w, h);
  const answers = {};
  for (const flt of filters) answers[flt] = await filtered(crop, flt);
  held.push({ file: f, photo: crop, answers });
}
console.error(`data ready in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${nDomains} domains × ${perDomain} images, ${held.length} held back`);

// ---------------------------------------------------------------- training
const def = getTrainer(trainerId);
const common = { size, width, eval: 0 };
const raw =
  trainerId === 'cyclegan'
    ? { ...common, a: domainDirs[0], b: domainDirs[1], discriminatorWidth: Number(option('discriminator-width', String(2 * width))) }
    : {
        ...common,
        domain: domainNames.map((n, i) => `${n}=${domainDirs[i]}`),
        batch: Number(option('batch', '4')),
        blocks: Number(option('blocks', '6')),
        discriminatorWidth: Number(option('discriminator-width', String(2 * width))),
        discriminatorLayers: Number(option('discriminator-layers', '5')),
      };
if (trainerId === 'cyclegan') raw.blocks = Number(option('blocks', '6'));
const params = parseParams(def.params, raw, { methodId: `train ${trainerId}` });
// The schedule needs a length: the budget's estimate from the first iterations is not known yet,
// so the run is given a nominal length and the learning rate kept constant (decay 0) — the budget ends it.
params.decay = 0;
const log = { debug() {}, info: (m) => console.error(m), warn: (m) => console.error(m) };
const session = await def.open({ seed, iterations: 1_000_000, threads, log, signal: new AbortController().signal }, params);

async function evaluate(iteration) {
  const exported = session.exportWeights();
  const file = path.join(work, 'current.safetensors');
  await writeSafetensors(file, exported.tensors, { metadata: exported.metadata });
  const row = { iteration, seconds: (performance.now() - trainStart) / 1000 };
  for (const flt of filters) {
    const { net } = trainerId === 'cyclegan' ? await cycleGanNetwork(file, 'a2b', { seed, threads }) : await starGanNetwork(file, flt, { seed, threads });
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

async function writeGrid(rows, file) {
  const { Image } = await import('../dist/core/image.js');
  const w = rows[0][0].width;
  const h = rows[0][0].height;
  const out = new Image(3 * w + 4, rows.length * (h + 2) - 2, 3);
  out.data.fill(1);
  const plane = out.width * out.height;
  rows.forEach((r, ri) =>
    r.forEach((img, ci) => {
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) out.data[c * plane + (ri * (h + 2) + y) * out.width + ci * (w + 2) + x] = img.data[(c * h + y) * w + x];
    }),
  );
  await writeImage(out, file, { force: true });
}

const baseline = {};
for (const flt of filters) {
  baseline[`${flt}.ssim`] = held.reduce((s, h) => s + structuralSimilarity(h.photo, h.answers[flt]).value, 0) / held.length;
  baseline[`${flt}.psnr`] = held.reduce((s, h) => s + peakSignalToNoise(h.photo, h.answers[flt]).value, 0) / held.length;
}
console.error(`identity baseline: ${JSON.stringify(baseline)}`);
const trainStart = performance.now();
const curve = [await evaluate(0)];
console.error(JSON.stringify(curve[0]));
const deadline = trainStart + minutes * 60_000;
const losses = [];
while (performance.now() < deadline) {
  const it = session.iteration;
  const { values } = await session.step(new Rng((seed * 1_000_003 + it) >>> 0));
  losses.push({ iteration: it, ...values });
  if (session.iteration % evalEvery === 0) {
    curve.push(await evaluate(session.iteration));
    console.error(JSON.stringify(curve.at(-1)));
  }
}
if (curve.at(-1).iteration !== session.iteration) curve.push(await evaluate(session.iteration));
const loadAverage = os.loadavg().map((v) => v.toFixed(1)).join(' ');
const result = {
  trainer: trainerId,
  filters,
  size,
  width,
  params: { ...params, a: undefined, b: undefined, domain: domainNames },
  threads,
  domains: domainNames.map((n, i) => ({ name: n, images: perDomain, source: i === 0 ? 'photos' : `other photos through filter.${n}` })),
  heldBack: held.length,
  minutes,
  iterations: session.iteration,
  loadAverage,
  identityBaseline: baseline,
  curve,
};
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results', `gan-proof-${trainerId}.json`), JSON.stringify(result, null, 1));
writeFileSync(path.join(work, 'losses.json'), JSON.stringify(losses));
for (const metric of ['ssim', 'psnr']) {
  const series = filters.flatMap((flt) => [
    { name: `G(x) vs filter.${flt}`, values: curve.map((r) => r[`${flt}.${metric}`]) },
    { name: `identity vs filter.${flt}`, values: curve.map(() => baseline[`${flt}.${metric}`]) },
  ]);
  const svg = lossCurveSvg(series, `${trainerId}: ${metric.toUpperCase()} to the filter's output on held-back photos, every ${evalEvery} iterations`);
  await sharp(Buffer.from(svg)).png().toFile(path.join(work, `${metric}-curve.png`));
}
console.log(JSON.stringify({ iterations: session.iteration, loadAverage, baseline, last: curve.at(-1), first: curve[0] }, null, 1));
