// The arbitrary-style networks on real weights against PyTorch running the same architecture with
// the same weights (test/helpers/torch_style_nets.py, written from the papers), same run, same
// inputs, same thread count: neural.wct (vgg19 levels 3-2-1; cd16x levels 5…1), neural.adain
// (relu3_1) and neural.microast, at 512² and 1024² (content; style 512 px), each side in its own
// process: best of BENCH_RUNS warm runs (default 3) and the process's peak resident memory
// (VmHWM; a first run compiles the sessions / loads the weights and is not timed). Then every
// neural method once at 3840×2160 (4K), ours only: peak memory must stay under 2 GB (the four
// above plus neural.fast, neural.multistyle, neural.arbitrary, neural.cartoon, neural.anime and
// neural.gatys, which optimises at its working size and upsamples).
// Needs ATELIER_HOME with the models (default scratch/test-models, as the tests install them) and
// ../shared/weights for PyTorch. Env: BENCH_RUNS, BENCH_SIZES (e.g. 512,1024; 'none' for 4K only),
// BENCH_ONLY (case ids), BENCH_4K=0.
//   full:       nice -n 10 node bench/style-nets.mjs
//   short mode: BENCH_RUNS=1 BENCH_SIZES=512 BENCH_ONLY=adain,microast BENCH_4K=0 nice -n 10 node bench/style-nets.mjs
//   4K only:    BENCH_SIZES=none nice -n 10 node bench/style-nets.mjs
// Writes bench/results/style-nets.json, merged: a partial run (BENCH_ONLY, BENCH_SIZES, BENCH_4K=0)
// replaces only the rows it measured (same case and size) and keeps the others with their dates.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { peakMB } from './stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = path.resolve(root, '../shared/weights');
const threads = 2;
const runs = Number(process.env.BENCH_RUNS ?? 3);

const CASES = {
  'wct-vgg19': { method: 'neural.wct', params: { network: 'vgg19' }, torch: { kind: 'universal', network: 'vgg19', levels: [3, 2, 1], transform: 'wct', dir: 'vgg19-relu3_1' } },
  'wct-cd16x': { method: 'neural.wct', params: { network: 'cd16x' }, torch: { kind: 'universal', network: 'cd16x', levels: [5, 4, 3, 2, 1], transform: 'wct', dir: 'wct-cd16x' } },
  adain: { method: 'neural.adain', params: {}, torch: { kind: 'universal', network: 'vgg19', levels: [3], transform: 'adain', dir: 'vgg19-relu3_1' } },
  microast: { method: 'neural.microast', params: {}, torch: { kind: 'microast', dir: 'microast' } },
};
/** Methods measured at 4K only (their PyTorch comparisons live in bench/fast.mjs, or have no PyTorch reference here). */
const FOUR_K_ONLY = {
  fast: { method: 'neural.fast', params: { model: 'fst-pytorch-candy' } },
  multistyle: { method: 'neural.multistyle', params: { style: 3 } },
  arbitrary: { method: 'neural.arbitrary', params: {} },
  cartoon: { method: 'neural.cartoon', params: {} },
  anime: { method: 'neural.anime', params: {} },
  gatys: { method: 'neural.gatys', params: { iterations: 5 } },
};

/** A deterministic test picture (smooth gradients, ripples and noise: structure at every scale). */
function picture(w, h, seed) {
  const data = new Float32Array(3 * w * h);
  let s = seed >>> 0;
  const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = x / w;
      const v = y / h;
      const i = y * w + x;
      data[i] = 0.5 + 0.3 * Math.sin(9 * u + seed) * Math.cos(7 * v) + 0.1 * rnd();
      data[w * h + i] = 0.4 + 0.3 * v + 0.1 * Math.sin(31 * (u + v)) + 0.1 * rnd();
      data[2 * w * h + i] = 0.3 + 0.4 * u * v + 0.1 * rnd();
    }
  }
  return data;
}

// ---------------------------------------------------------------- child: one of ours
if (process.argv[2] === '--child') {
  const { id, w, h, timed } = JSON.parse(process.argv[3]);
  const { Image } = await import('../dist/core/image.js');
  const { runMethod } = await import('../dist/core/stylize.js');
  const { methods } = await import('../dist/methods/index.js');
  const c = CASES[id] ?? FOUR_K_ONLY[id];
  const content = new Image(w, h, 3, picture(w, h, 1));
  const style = new Image(512, 512, 3, picture(512, 512, 2));
  const run = () => runMethod(methods[c.method], { content, style, extra: {} }, c.params, { threads });
  const times = [];
  await run();
  for (let r = 0; r < timed; r++) {
    const t = performance.now();
    await run();
    times.push((performance.now() - t) / 1000);
  }
  console.log(JSON.stringify({ seconds: times.length ? Math.min(...times) : null, peakMB: peakMB() }));
  process.exit(0);
}

function ours(id, w, h, timed) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify({ id, w, h, timed })], {
    encoding: 'utf8',
    env: { ...process.env, ATELIER_HOME: process.env.ATELIER_HOME ?? path.join(root, 'scratch/test-models') },
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`ours ${id} ${w}×${h} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

function torch(id, w, h) {
  const c = CASES[id];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-style-nets-'));
  try {
    writeFileSync(path.join(dir, 'input.f32'), picture(w, h, 1));
    writeFileSync(path.join(dir, 'style.f32'), picture(512, 512, 2));
    const job = {
      ...c.torch,
      dir: path.join(shared, c.torch.dir),
      input: path.join(dir, 'input.f32'),
      shape: [1, 3, h, w],
      style: path.join(dir, 'style.f32'),
      styleShape: [1, 3, 512, 512],
      alpha: 1,
      output: path.join(dir, 'out.f32'),
      threads,
      // One untimed warm-up is folded in: best of runs + 1.
      repeat: runs + 1,
    };
    writeFileSync(path.join(dir, 'job.json'), JSON.stringify(job));
    const r = spawnSync('/usr/bin/python3', [path.join(root, 'test/helpers/torch_style_nets.py'), path.join(dir, 'job.json')], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
    if (r.status !== 0) throw new Error(`torch ${id} failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const only = process.env.BENCH_ONLY?.split(',');
const ids = Object.keys(CASES).filter((id) => !only || only.includes(id));
const sizes = process.env.BENCH_SIZES === 'none' ? [] : (process.env.BENCH_SIZES ?? '512,1024').split(',').map(Number);
const resultsFile = path.join(root, 'bench/results/style-nets.json');
const previous = (() => {
  try {
    return JSON.parse(readFileSync(resultsFile, 'utf8'));
  } catch {
    return { rows: [], fourK: [] };
  }
})();
const rows = [];
const fourK = [];
const date = new Date().toISOString();
// Every row carries its own date, runs and host, since a file may mix rows of several runs.
const stamp = { date, host: { cpu: os.cpus()[0]?.model, cores: os.cpus().length }, threads, runs };
const save = () => {
  const keptRows = (previous.rows ?? []).filter((r) => !rows.some((n) => n.case === r.case && n.size === r.size)).map((r) => ({ date: previous.date, ...r }));
  const keptFourK = (previous.fourK ?? []).filter((r) => !fourK.some((n) => n.case === r.case)).map((r) => ({ date: previous.date, ...r }));
  writeFileSync(resultsFile, JSON.stringify({ date, host: stamp.host, threads, runs, rows: [...keptRows, ...rows], fourK: [...keptFourK, ...fourK] }, null, 1));
};
console.log('case\tsize\tours s\ttorch s\tspeed ×\tours MB\ttorch MB\tmemory ×\tload');
for (const id of ids) {
  for (const s of sizes) {
    const load = os.loadavg()[0];
    const a = ours(id, s, s, runs);
    const b = torch(id, s, s);
    const row = { ...stamp, case: id, size: s, oursSeconds: a.seconds, torchSeconds: b.seconds, speedup: b.seconds / a.seconds, oursPeakMB: a.peakMB, torchPeakMB: b.peakMB, memoryRatio: a.peakMB / b.peakMB, load1: load };
    rows.push(row);
    save();
    console.log(`${id}\t${s}²\t${a.seconds.toFixed(2)}\t${b.seconds.toFixed(2)}\t${row.speedup.toFixed(2)}\t${a.peakMB.toFixed(0)}\t${b.peakMB.toFixed(0)}\t${row.memoryRatio.toFixed(2)}\t${load.toFixed(1)}`);
  }
}
if (process.env.BENCH_4K !== '0') {
  for (const id of [...ids, ...Object.keys(FOUR_K_ONLY).filter((id) => !only || only.includes(id))]) {
    const load = os.loadavg()[0];
    const t = performance.now();
    const a = ours(id, 3840, 2160, 0);
    fourK.push({ ...stamp, case: id, seconds: (performance.now() - t) / 1000, peakMB: a.peakMB, under2GB: a.peakMB < 2048, load1: load });
    save();
    console.log(`${id}\t4K\tpeak ${a.peakMB.toFixed(0)} MB (${a.peakMB < 2048 ? 'under' : 'OVER'} 2 GB), ${((performance.now() - t) / 1000).toFixed(1)} s incl. start, load ${load.toFixed(1)}`);
  }
}
save();
