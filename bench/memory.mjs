// Peak memory per megapixel of one method per family: each run in a fresh process (so peaks do not
// mix), at two sizes; the slope (MB per extra MP) is what a pixel limit buys, the intercept is the
// process and its libraries. Peak = the child's maxRSS; baseline = its RSS after loading Atelier.
// `node bench/memory.mjs [sizes…]` (default 0.25 and 1 MP), after `npm run build`. Results land in
// bench/results/memory.json. The peer in the same run is the copy of the input itself: 12 bytes
// per pixel (planar float RGB), so "× input" reads as how many image copies a method holds.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, '..', 'dist', 'index.js');
const METHODS = (process.env.METHODS ?? 'color.reinhard,color.mkl,color.histogram,filter.kuwahara,filter.oil,paint.strokes,patch.synthesis,patch.quilting,neural.adain').split(',');
const SIZES = process.argv.slice(2).map(Number).filter((n) => n > 0);
const megapixels = SIZES.length > 0 ? SIZES : [0.25, 1];
const TIMEOUT_MS = Number(process.env.TIMEOUT_MS ?? 300_000);

const child = `
const { methods, Image } = await import(${JSON.stringify(dist)});
const { runMethod } = await import(${JSON.stringify(path.join(here, '..', 'dist', 'core', 'stylize.js'))});
const [id, mp] = [process.argv[1], Number(process.argv[2])];
const side = Math.round(Math.sqrt(mp * 1e6));
const img = (seed) => { const im = new Image(side, side, 3); let s = seed; for (let i = 0; i < im.data.length; i++) { s = (s * 1664525 + 1013904223) >>> 0; im.data[i] = ((i % side) / side) * 0.6 + (s / 4294967296) * 0.4; } return im; };
const content = img(1), style = img(2);
global.gc?.();
const baseline = process.memoryUsage().rss;
const t0 = performance.now();
const def = methods[id];
const params = 'weights' in def.params.shape ? { weights: 'random' } : {};
await runMethod(def, { content, ...(def.inputs.style !== 'none' && { style }) }, params, { threads: 1 });
const seconds = (performance.now() - t0) / 1000;
global.gc?.();
console.log(JSON.stringify({ baselineMB: baseline / 2 ** 20, peakMB: process.resourceUsage().maxRSS / 1024, afterMB: process.memoryUsage().rss / 2 ** 20, seconds, side }));
`;

const rows = [];
for (const id of METHODS) {
  const runs = [];
  for (const mp of megapixels) {
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', child, id, String(mp)], { encoding: 'utf8', timeout: TIMEOUT_MS });
    if (r.status !== 0) {
      runs.push({ mp, error: (r.stderr || `timed out after ${TIMEOUT_MS} ms`).split('\n').find((l) => l.trim()) ?? 'failed' });
      continue;
    }
    runs.push({ mp, ...JSON.parse(r.stdout.trim().split('\n').at(-1)) });
  }
  const ok = runs.filter((r) => r.peakMB !== undefined);
  const slope = ok.length >= 2 ? (ok.at(-1).peakMB - ok.at(-1).baselineMB - (ok[0].peakMB - ok[0].baselineMB)) / (ok.at(-1).mp - ok[0].mp) : undefined;
  rows.push({ method: id, family: id.split('.')[0], runs, mbPerMegapixel: slope, timesInput: slope !== undefined ? slope / (12 * 1e6 / 2 ** 20) : undefined });
  const cells = runs.map((r) => (r.peakMB !== undefined ? `${r.mp} MP: peak ${r.peakMB.toFixed(0)} MB (base ${r.baselineMB.toFixed(0)}, after ${r.afterMB.toFixed(0)}, ${r.seconds.toFixed(1)} s)` : `${r.mp} MP: ${r.error}`));
  console.log(`${id.padEnd(18)} ${slope !== undefined ? `${slope.toFixed(0).padStart(5)} MB/MP (${(slope / (12 * 1e6 / 2 ** 20)).toFixed(1)}× input)` : '      –'}  ${cells.join('; ')}`);
}
const load = loadavg()[0].toFixed(1);
console.log(`load average ${load}; threads 1; sizes ${megapixels.join(', ')} MP`);
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results', 'memory.json'), JSON.stringify({ date: new Date().toISOString(), load, megapixels, rows }, null, 2) + '\n');
