#!/usr/bin/env node
// neural.wct --mode photoreal (PhotoWCT idea: WCT at the shallow levels, then a guided filter
// guided by the content) against color.mkl on the dev photorealistic pairs, with their label
// masks, as issue 14 asks: SSIM and PSNR of the output to the content (higher = more of the photo
// kept) and the style metric (relative Gram distance on the real VGG-19, lower = closer to the
// style). Variants: the method's defaults, the WCT without smoothing, and wider / smoother guided
// filters, so the trade-off is visible. Images at BENCH_SIZE long side (default 512), 2 threads.
// Needs ATELIER_HOME with vgg19-relu3_1 (default scratch/test-models) and ../shared/data.
//   full:       nice -n 10 node bench/photoreal-wct.mjs
//   short mode: BENCH_PAIRS=0,1 BENCH_SIZE=256 nice -n 10 node bench/photoreal-wct.mjs
//   (BENCH_VARIANTS='color.mkl|wct photoreal (defaults)' picks variants by label)
// Writes bench/results/photoreal-wct.json (after every pair).
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
if (!process.env.ATELIER_HOME) process.env.ATELIER_HOME = path.join(root, 'scratch/test-models');
const { readImage } = await import('../dist/core/io.js');
const { resizeImage } = await import('../dist/core/resample.js');
const { runMethod } = await import('../dist/core/stylize.js');
const { methods } = await import('../dist/methods/index.js');
const { computeMetric } = await import('../dist/metrics/metric.js');
const { styleDistance } = await import('../dist/metrics/style.js');
const { structuralSimilarity } = await import('../dist/metrics/ssim.js');
const { peakSignalToNoise } = await import('../dist/metrics/psnr.js');

const dataDir = process.env.ATELIER_DEV_DATA ?? path.resolve(root, '../shared/data/dev');
const pairs = JSON.parse(readFileSync(path.join(dataDir, 'pairs.json'), 'utf8')).photoreal;
const chosen = process.env.BENCH_PAIRS ? process.env.BENCH_PAIRS.split(',').map(Number) : pairs.map((_, i) => i);
const side = Number(process.env.BENCH_SIZE ?? 512);
const threads = 2;
const VARIANTS = [
  { label: 'color.mkl', method: 'color.mkl', params: {} },
  { label: 'wct photoreal (defaults)', method: 'neural.wct', params: { network: 'vgg19', mode: 'photoreal' } },
  { label: 'wct levels 2,1, no smoothing', method: 'neural.wct', params: { network: 'vgg19', levels: [2, 1] } },
  { label: 'wct photoreal r16 eps1e-2', method: 'neural.wct', params: { network: 'vgg19', mode: 'photoreal', smoothRadius: 16, smoothEps: 1e-2 } },
  { label: 'wct photoreal r32 eps1e-2', method: 'neural.wct', params: { network: 'vgg19', mode: 'photoreal', smoothRadius: 32, smoothEps: 1e-2 } },
  { label: 'wct photoreal level 1 only', method: 'neural.wct', params: { network: 'vgg19', mode: 'photoreal', levels: [1] } },
  // No transfer at all: what the encoders/decoders alone lose of the photo (the ceiling of any WCT variant's SSIM before smoothing).
  { label: 'wct levels 2,1 alpha 0', method: 'neural.wct', params: { network: 'vgg19', levels: [2, 1], alpha: 0 } },
];
const only = process.env.BENCH_VARIANTS?.split('|');
if (only) VARIANTS.splice(0, VARIANTS.length, ...VARIANTS.filter((v) => only.includes(v.label)));
const fit = (img) => {
  const s = Math.min(1, side / Math.max(img.width, img.height));
  return s === 1 ? img : resizeImage(img, Math.round(img.width * s), Math.round(img.height * s));
};
const rows = [];
const save = () => {
  const table = VARIANTS.map((v) => {
    const r = rows.filter((x) => x.variant === v.label);
    const mean = (k) => r.reduce((a, x) => a + x[k], 0) / (r.length || 1);
    return { variant: v.label, pairs: r.length, ssim: mean('ssim'), psnr: mean('psnr'), style: mean('style') };
  });
  writeFileSync(path.join(root, 'bench/results/photoreal-wct.json'), JSON.stringify({ date: new Date().toISOString(), host: { cpu: os.cpus()[0]?.model, load: os.loadavg() }, side, threads, table, rows }, null, 1) + '\n');
  return table;
};
for (const i of chosen) {
  const p = pairs[i];
  const content = fit(await readImage(path.join(dataDir, p.content)));
  const style = fit(await readImage(path.join(dataDir, p.style)));
  const inputs = { content, style, extra: {}, ...(p.content_mask && { mask: path.join(dataDir, p.content_mask), styleMask: path.join(dataDir, p.style_mask) }) };
  for (const v of VARIANTS) {
    const t = performance.now();
    const out = (await runMethod(methods[v.method], inputs, v.params, { threads })).image;
    const row = {
      pair: i,
      variant: v.label,
      ssim: structuralSimilarity(out, content).value,
      psnr: peakSignalToNoise(out, content).value,
      style: (await computeMetric(styleDistance, { output: out, style })).value,
      seconds: (performance.now() - t) / 1000,
    };
    rows.push(row);
    console.log(`pair ${i}\t${v.label.padEnd(30)}\tSSIM ${row.ssim.toFixed(3)}\tPSNR ${row.psnr.toFixed(2)}\tstyle ${row.style.toFixed(3)}\t${row.seconds.toFixed(1)} s`);
  }
  save();
}
console.log('\nvariant\tpairs\tSSIM↑\tPSNR↑\tstyle↓');
for (const r of save()) console.log(`${r.variant}\t${r.pairs}\t${r.ssim.toFixed(3)}\t${r.psnr.toFixed(2)}\t${r.style.toFixed(3)}`);
