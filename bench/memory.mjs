// Peak memory per megapixel of each method, with the cost of loading its weights: each run in a
// fresh process (so peaks do not mix), at several sizes. Peak = the child's maxRSS; baseline = its
// RSS after loading Atelier and making the images, before the method loads anything.
//   load  = peak − baseline at the smallest size (weights, sessions, code paths; the pixels are few)
//   MB/MP = slope of peak − baseline between the two largest sizes (what a pixel limit buys)
// The peer in the same run is the copy of the input itself: 12 bytes per pixel (planar float RGB),
// so "× input" reads as how many image copies a method holds per pixel.
//
//   node bench/memory.mjs [sizes…]              (default 0.0625 0.25 1 MP; `npm run build` first)
//   METHODS=neural.fast,neural.wct node bench/memory.mjs
//   PARAMS='{"tileSize":256}' METHODS=neural.fast node bench/memory.mjs 0.25 1
//                                               extra params (here: sizes above the tile measure what a
//                                               tiled run keeps of the whole image per pixel)
//   node bench/memory.mjs --installed           the real networks (from ../shared/weights, installed
//                                               into scratch/bench-models), with each model's file
//                                               size beside its load: the budget's weights factor
// Networks run with seeded random weights of the published architecture by default (the same
// tensor sizes; diffusion's 'random' is a tiny SD, so its figures are the pipeline's, not SD 1.5's).
// Tiled methods run their default tiles; sizes above a method's tile measure the tiled path.
// Results land in bench/results/memory.json (random) or memory-installed.json, keyed by method:
// a run with METHODS replaces only those rows.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const dist = path.join(root, 'dist', 'index.js');
const installed = process.argv.includes('--installed');
const DEFAULT_METHODS = installed
  ? 'neural.fast,neural.wct,neural.microast,neural.multistyle,neural.arbitrary,neural.cartoon,neural.anime'
  : 'color.reinhard,color.mkl,color.histogram,filter.kuwahara,filter.oil,paint.haeberli,paint.strokes,patch.synthesis,neural.fast,neural.adain,neural.wct,neural.microast,neural.multistyle,neural.arbitrary,neural.cartoon,neural.anime,neural.capvst,neural.cyclegan,diffusion.img2img';
const METHODS = (process.env.METHODS ?? DEFAULT_METHODS).split(',');
const SIZES = process.argv.slice(2).map(Number).filter((n) => n > 0);
const megapixels = SIZES.length > 0 ? SIZES : [0.0625, 0.25, 1];
const EXTRA = process.env.PARAMS ? JSON.parse(process.env.PARAMS) : {};
const TIMEOUT_MS = Number(process.env.TIMEOUT_MS ?? 600_000);
/** The real networks the bench can install from ../shared/weights, and the params that pick them. */
const INSTALLED = {
  'neural.fast': { models: ['fst-engstrom-udnie'], params: { model: 'fst-engstrom-udnie' } },
  'neural.wct': { models: ['wct-cd16x'], params: {} },
  'neural.microast': { models: ['microast'], params: {} },
  'neural.multistyle': { models: ['magenta-multistyle'], params: {} },
  'neural.arbitrary': { models: ['magenta-arbitrary'], params: {} },
  'neural.cartoon': { models: ['whitebox-cartoon'], params: {} },
  'neural.anime': { models: ['animeganv2-hayao'], params: {} },
};
const home = path.join(root, 'scratch', 'bench-models');
const shared = process.env.ATELIER_SHARED ? path.join(process.env.ATELIER_SHARED, 'weights') : path.join(root, '..', 'shared', 'weights');

const child = `
const { methods, Image } = await import(${JSON.stringify(dist)});
const { runMethod } = await import(${JSON.stringify(path.join(root, 'dist', 'core', 'stylize.js'))});
const [id, mp, given, extra] = [process.argv[1], Number(process.argv[2]), JSON.parse(process.argv[3]), JSON.parse(process.argv[4])];
const side = Math.round(Math.sqrt(mp * 1e6));
const img = (seed) => { const im = new Image(side, side, 3); let s = seed; for (let i = 0; i < im.data.length; i++) { s = (s * 1664525 + 1013904223) >>> 0; im.data[i] = ((i % side) / side) * 0.6 + (s / 4294967296) * 0.4; } return im; };
const content = img(1), style = img(2);
global.gc?.();
const baseline = process.memoryUsage().rss;
const t0 = performance.now();
const def = methods[id];
// The quick params that pick weights or models ('random', a domain), not the ones that shrink the work.
const picks = Object.fromEntries(Object.entries(def.quickParams ?? {}).filter(([, v]) => typeof v === 'string'));
await runMethod(def, { content, ...(def.inputs.style !== 'none' && { style }) }, { ...(given ?? picks), ...extra }, { threads: 1, maxMemoryBytes: 64 * 2 ** 30 });
const seconds = (performance.now() - t0) / 1000;
global.gc?.();
console.log(JSON.stringify({ baselineMB: baseline / 2 ** 20, peakMB: process.resourceUsage().maxRSS / 1024, afterMB: process.memoryUsage().rss / 2 ** 20, seconds, side }));
`;

/** Bytes of a model's installed files (what the budget counts as its weights). */
function modelBytes(name) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const { modelFiles } = await import(${JSON.stringify(dist)}); console.log(modelFiles(${JSON.stringify(name)}).files.reduce((a, f) => a + f.size, 0));`], { encoding: 'utf8', env: { ...process.env, ATELIER_HOME: home } });
  return r.status === 0 ? Number(r.stdout.trim()) : undefined;
}

const resultFile = path.join(here, 'results', installed ? 'memory-installed.json' : 'memory.json');
const previous = existsSync(resultFile) ? JSON.parse(readFileSync(resultFile, 'utf8')) : { rows: [] };
const rows = new Map((previous.rows ?? []).map((r) => [r.method, r]));
for (const id of METHODS) {
  let given = null;
  let weightsMB;
  if (installed) {
    const spec = INSTALLED[id];
    if (!spec) { console.log(`${id}: no shared model listed in bench/memory.mjs INSTALLED`); continue; }
    for (const m of spec.models) {
      const pull = spawnSync(process.execPath, [path.join(root, 'bin', 'atelier.js'), 'models', 'pull', m, '--from', shared, '--accept-licence'], { encoding: 'utf8', env: { ...process.env, ATELIER_HOME: home } });
      if (pull.status !== 0) { console.log(`${id}: could not install ${m}: ${pull.stderr.trim().split('\n')[0]}`); given = undefined; }
    }
    if (given === undefined) continue;
    given = spec.params;
    const bytes = spec.models.map(modelBytes);
    weightsMB = bytes.every((b) => b !== undefined) ? bytes.reduce((a, b) => a + b, 0) / 2 ** 20 : undefined;
  }
  const runs = [];
  for (const mp of megapixels) {
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', child, id, String(mp), JSON.stringify(given), JSON.stringify(EXTRA)], { encoding: 'utf8', timeout: TIMEOUT_MS, env: { ...process.env, ...(installed && { ATELIER_HOME: home }) } });
    if (r.status !== 0) {
      // A child killed by a signal prints nothing: say which (SIGKILL with no timeout: the system ran out of memory).
      const why = r.error?.code === 'ETIMEDOUT' ? `timed out after ${TIMEOUT_MS} ms` : r.signal ? `killed by ${r.signal}${r.signal === 'SIGKILL' ? ' (out of memory?)' : ''}` : `exit ${r.status}`;
      const lines = (r.stderr || why).split('\n').filter((l) => l.trim());
      runs.push({ mp, error: lines.find((l) => /Error|error:/.test(l)) ?? lines[0] ?? 'failed' });
      continue;
    }
    runs.push({ mp, ...JSON.parse(r.stdout.trim().split('\n').at(-1)) });
  }
  const ok = runs.filter((r) => r.peakMB !== undefined);
  const grown = (r) => r.peakMB - r.baselineMB;
  const [a, b] = ok.slice(-2);
  const slope = ok.length >= 2 ? (grown(b) - grown(a)) / (b.mp - a.mp) : undefined;
  const loadMB = ok.length > 0 ? grown(ok[0]) - (slope !== undefined ? Math.max(0, slope) * ok[0].mp : 0) : undefined;
  const key = process.env.PARAMS ? `${id} ${process.env.PARAMS}` : id;
  rows.set(key, { method: key, family: id.split('.')[0], measured: new Date().toISOString(), load: loadavg()[0].toFixed(1), runs, loadMB, ...(weightsMB !== undefined && { weightsMB }), mbPerMegapixel: slope, timesInput: slope !== undefined ? slope / (12 * 1e6 / 2 ** 20) : undefined });
  const cells = runs.map((r) => (r.peakMB !== undefined ? `${r.mp} MP: peak ${r.peakMB.toFixed(0)} (base ${r.baselineMB.toFixed(0)}, ${r.seconds.toFixed(1)} s)` : `${r.mp} MP: ${r.error}`));
  const fmt = (x, w) => (x !== undefined ? x.toFixed(0).padStart(w) : '–'.padStart(w));
  console.log(`${(process.env.PARAMS ? `${id} ${process.env.PARAMS}` : id).padEnd(18)} load ${fmt(loadMB, 5)} MB${weightsMB !== undefined ? ` (files ${weightsMB.toFixed(1)} MB)` : ''}  ${fmt(slope, 5)} MB/MP${slope !== undefined ? ` (${(slope / (12 * 1e6 / 2 ** 20)).toFixed(1)}× input)` : ''}  ${cells.join('; ')}`);
}
const load = loadavg()[0].toFixed(1);
console.log(`load average ${load}; threads 1; sizes ${megapixels.join(', ')} MP`);
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(resultFile, JSON.stringify({ date: new Date().toISOString(), megapixels, rows: [...rows.values()] }, null, 2) + '\n');
