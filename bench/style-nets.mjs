// The style networks on real weights against PyTorch running the same architecture with the same
// weights, same run, same inputs, same thread count, each side in its own process: best of
// BENCH_RUNS warm runs (default 3) and the process's peak resident memory (VmHWM; a first run
// compiles the sessions / loads the weights and is not timed), at 512² and 1024² (content; style
// 512 px, 256 px for neural.arbitrary, whose predictor takes 256²). Each row also gives how far the
// two outputs are apart (max and mean |Δ| on [0, 1], PyTorch's output clipped as ours is), so a
// ratio is only read for the same computation.
// - neural.wct (vgg19 levels 3-2-1; cd16x levels 5…1), neural.adain (relu3_1) and neural.microast:
//   test/helpers/torch_style_nets.py, written from the papers, on the .pth weights.
// - neural.multistyle (style 3), neural.arbitrary (fp16 transfer net), neural.cartoon (dr) and
//   neural.anime: test/helpers/torch_imported_nets.py, written from the papers and the files' layer
//   structure, on the TFLite / GraphDef files' weights exported by Atelier's own readers
//   (engine/import/foreign-weights.ts) into scratch/foreign-weights/*.safetensors. neural.anime runs
//   the whole image here (tileSize = size; its default 512 tiles a 1024² image), as PyTorch does.
// Then every neural method once at 3840×2160 (4K), ours only: peak memory must stay under 2 GB (the
// cases above plus neural.fast and neural.gatys, which optimises at its working size and upsamples).
// Installs the models it needs from ../shared/weights into its own store (scratch/bench-models,
// bench/model-bench-setup.mjs). Env: BENCH_RUNS, BENCH_SIZES (e.g. 512,1024; 'none' for 4K only),
// BENCH_ONLY (case ids), BENCH_4K=0. `npm run build` first.
//   full:       node bench/style-nets.mjs
//   imported networks against PyTorch (the lead's quiet run):
//               BENCH_ONLY=multistyle,arbitrary,cartoon,anime BENCH_4K=0 node bench/style-nets.mjs
//   short mode: BENCH_RUNS=1 BENCH_SIZES=512 BENCH_ONLY=adain,microast BENCH_4K=0 nice -n 19 node bench/style-nets.mjs
//   agreement only, small: BENCH_RUNS=1 BENCH_SIZES=128 BENCH_4K=0 nice -n 19 node bench/style-nets.mjs
//   4K only:    BENCH_SIZES=none node bench/style-nets.mjs
// CPU-time mode, for a loaded machine (BENCH_CPU=1): each side's time is its process's CPU time per
// run (user + system; best of BENCH_RUNS), not the wall clock, which other processes stretch; run
// it with one thread (BENCH_THREADS=1), where CPU time is the work done and no spinning thread
// pool adds to it. BENCH_ROUNDS=N (default 1) repeats ours and PyTorch's processes in turns N
// times; a row gives the median speed ratio of the rounds and their spread (lowest–highest).
//   loaded machine: BENCH_CPU=1 BENCH_THREADS=1 BENCH_ROUNDS=5 BENCH_ONLY=wct-cd16x,microast BENCH_SIZES=512 BENCH_4K=0 nice -n 10 node bench/style-nets.mjs
// BENCH_THREADS (default 2) sets the thread count of both sides in either mode.
// Writes bench/results/style-nets.json (CPU-time mode: style-nets-cpu.json), merged: a partial run (BENCH_ONLY, BENCH_SIZES, BENCH_4K=0)
// replaces only the rows it measured (same case and size) and keeps the others with their dates.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOME, installFromShared, root, shared, THREADS } from './model-bench-setup.mjs';
import { median, peakMB } from './stats.js';

const runs = Number(process.env.BENCH_RUNS ?? 3);
const threads = Number(process.env.BENCH_THREADS ?? THREADS);
const cpuMode = process.env.BENCH_CPU === '1';
const rounds = Number(process.env.BENCH_ROUNDS ?? 1);

const CASES = {
  'wct-vgg19': { method: 'neural.wct', params: { network: 'vgg19' }, torch: { kind: 'universal', network: 'vgg19', levels: [3, 2, 1], transform: 'wct', dir: 'vgg19-relu3_1' } },
  'wct-cd16x': { method: 'neural.wct', params: { network: 'cd16x' }, torch: { kind: 'universal', network: 'cd16x', levels: [5, 4, 3, 2, 1], transform: 'wct', dir: 'wct-cd16x' } },
  adain: { method: 'neural.adain', params: {}, torch: { kind: 'universal', network: 'vgg19', levels: [3], transform: 'adain', dir: 'vgg19-relu3_1' } },
  microast: { method: 'neural.microast', params: {}, torch: { kind: 'microast', dir: 'microast' } },
  multistyle: { method: 'neural.multistyle', params: { style: 3 }, torch: { kind: 'multistyle', files: 'magenta-multistyle/stylize_quantized.pb', styleNum: Array.from({ length: 26 }, (_, i) => (i === 3 ? 1 : 0)) } },
  arbitrary: {
    method: 'neural.arbitrary',
    params: {},
    styleSize: 256,
    torch: { kind: 'arbitrary', files: { predictor: 'magenta-arbitrary/style_predict_quantized_256.tflite', transfer: 'magenta-arbitrary/style_transfer_f16_384.tflite' } },
  },
  cartoon: { method: 'neural.cartoon', params: {}, torch: { kind: 'cartoon', files: 'whitebox-cartoon/whitebox_cartoon_gan_dr.tflite' } },
  anime: { method: 'neural.anime', params: {}, pairParams: (size) => ({ tileSize: size }), torch: { kind: 'anime', files: 'animeganv2-hayao/animeganv2_hayao_256x256_integer_quant.tflite' } },
};
/** The models each case runs (installed into the bench store before it runs). */
const MODELS = {
  'wct-vgg19': ['vgg19-relu3_1'],
  'wct-cd16x': ['wct-cd16x'],
  adain: ['vgg19-relu3_1'],
  microast: ['microast'],
  multistyle: ['magenta-multistyle'],
  arbitrary: ['magenta-arbitrary'],
  cartoon: ['whitebox-cartoon'],
  anime: ['animeganv2-hayao'],
  fast: ['fst-pytorch-candy'],
  gatys: ['vgg19-relu3_1'],
};
/** Methods measured at 4K only (their PyTorch comparisons live in bench/fast.mjs, or have no PyTorch reference here). */
const FOUR_K_ONLY = {
  fast: { method: 'neural.fast', params: { model: 'fst-pytorch-candy' } },
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
  const { id, w, h, timed, pair, out } = JSON.parse(process.argv[3]);
  const { Image } = await import('../dist/core/image.js');
  const { runMethod } = await import('../dist/core/stylize.js');
  const { methods } = await import('../dist/methods/index.js');
  const c = CASES[id] ?? FOUR_K_ONLY[id];
  const content = new Image(w, h, 3, picture(w, h, 1));
  const ss = c.styleSize ?? 512;
  const style = new Image(ss, ss, 3, picture(ss, ss, 2));
  const params = { ...c.params, ...(pair && c.pairParams?.(Math.max(w, h))) };
  const run = () => runMethod(methods[c.method], { content, style, extra: {} }, params, { threads });
  const times = [];
  const cpuTimes = [];
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const first = await run();
  if (out) writeFileSync(out, first.image.data);
  for (let r = 0; r < timed; r++) {
    const t = performance.now();
    const c = cpu();
    await run();
    times.push((performance.now() - t) / 1000);
    cpuTimes.push(cpu() - c);
  }
  console.log(JSON.stringify({ seconds: times.length ? Math.min(...times) : null, cpuSeconds: cpuTimes.length ? Math.min(...cpuTimes) : null, peakMB: peakMB() }));
  process.exit(0);
}

function ours(id, w, h, timed, extra = {}) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify({ id, w, h, timed, ...extra })], {
    encoding: 'utf8',
    env: { ...process.env, ATELIER_HOME: HOME },
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`ours ${id} ${w}×${h} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

/** A foreign file's weights as Atelier reads them, in a safetensors file PyTorch reads (written afresh each run). */
async function exportedWeights(file) {
  const out = path.join(root, 'scratch/foreign-weights', `${path.basename(file)}.safetensors`);
  {
    const { readTflite } = await import('../dist/engine/weights/tflite.js');
    const { readGraphDef } = await import('../dist/engine/weights/graphdef.js');
    const { foreignWeights } = await import('../dist/engine/import/foreign-weights.js');
    const { writeSafetensors } = await import('../dist/engine/weights/safetensors.js');
    const full = path.join(shared, file);
    mkdirSync(path.dirname(out), { recursive: true });
    await writeSafetensors(out, foreignWeights(file.endsWith('.pb') ? await readGraphDef(full) : await readTflite(full)));
  }
  return out;
}

/** PyTorch on the same inputs (same pictures as the child's); returns its time, peak and output. */
async function torch(id, w, h, dir) {
  const c = CASES[id];
  const ss = c.styleSize ?? 512;
  writeFileSync(path.join(dir, 'input.f32'), picture(w, h, 1));
  writeFileSync(path.join(dir, 'style.f32'), picture(ss, ss, 2));
  const imported = !c.torch.dir;
  const { files, ...rest } = c.torch;
  const job = {
    ...rest,
    ...(imported
      ? { weights: typeof files === 'string' ? await exportedWeights(files) : Object.fromEntries(await Promise.all(Object.entries(files).map(async ([k, f]) => [k, await exportedWeights(f)]))) }
      : { dir: path.join(shared, c.torch.dir) }),
    input: path.join(dir, 'input.f32'),
    shape: [1, 3, h, w],
    style: path.join(dir, 'style.f32'),
    styleShape: [1, 3, ss, ss],
    alpha: 1,
    output: path.join(dir, 'torch.f32'),
    threads,
    // One untimed warm-up is folded in: best of runs + 1.
    repeat: runs + 1,
  };
  writeFileSync(path.join(dir, 'job.json'), JSON.stringify(job));
  const script = path.join(root, 'test/helpers', imported ? 'torch_imported_nets.py' : 'torch_style_nets.py');
  const r = spawnSync('/usr/bin/python3', [script, path.join(dir, 'job.json')], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
  if (r.status !== 0) throw new Error(`torch ${id} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

/** Max and mean |ours − PyTorch's| with PyTorch's output clipped to [0, 1], as ours is. */
function agreement(dir) {
  const a = new Float32Array(readFileSync(path.join(dir, 'ours.f32')).buffer.slice(0));
  const b = new Float32Array(readFileSync(path.join(dir, 'torch.f32')).buffer.slice(0));
  if (a.length !== b.length) throw new Error(`outputs differ in size: ours ${a.length} values, PyTorch's ${b.length}`);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - Math.min(1, Math.max(0, b[i])));
    max = Math.max(max, d);
    sum += d;
  }
  return { maxDiff: max, meanDiff: sum / a.length };
}

const only = process.env.BENCH_ONLY?.split(',');
const ids = Object.keys(CASES).filter((id) => !only || only.includes(id));
const sizes = process.env.BENCH_SIZES === 'none' ? [] : (process.env.BENCH_SIZES ?? '512,1024').split(',').map(Number);
// CPU-time rows (another measure, usually another thread count) go to a file of their own.
const resultsFile = path.join(root, cpuMode ? 'bench/results/style-nets-cpu.json' : 'bench/results/style-nets.json');
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
const fourKIds = [...ids, ...Object.keys(FOUR_K_ONLY).filter((id) => !only || only.includes(id))];
for (const name of new Set([...(sizes.length ? ids : []), ...(process.env.BENCH_4K !== '0' ? fourKIds : [])].flatMap((id) => MODELS[id] ?? []))) {
  await installFromShared(name, { variants: 'all' });
}
console.log(`${threads} threads, best of ${runs}${cpuMode ? `, CPU time, median of ${rounds} rounds` : ''}; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`case\tsize\tours s\ttorch s\tspeed ×${cpuMode ? '\tspread' : ''}\tours MB\ttorch MB\tmemory ×\tmax|Δ|\tmean|Δ|\tload`);
for (const id of ids) {
  for (const s of sizes) {
    const load = os.loadavg()[0];
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-style-nets-'));
    try {
      // Rounds in turns (ours, PyTorch, ours, …): a change in the machine's load falls on both.
      const pairs = [];
      for (let k = 0; k < (cpuMode ? rounds : 1); k++) {
        const a = ours(id, s, s, runs, { pair: true, out: path.join(dir, 'ours.f32') });
        const b = await torch(id, s, s, dir);
        pairs.push({ a, b, time: (x) => (cpuMode ? x.cpuSeconds : x.seconds) });
      }
      const agree = agreement(dir);
      const ratios = pairs.map((p) => p.time(p.b) / p.time(p.a));
      const a = { seconds: median(pairs.map((p) => p.time(p.a))), peakMB: Math.max(...pairs.map((p) => p.a.peakMB)) };
      const b = { seconds: median(pairs.map((p) => p.time(p.b))), peakMB: Math.max(...pairs.map((p) => p.b.peakMB)) };
      const timing = cpuMode ? { timing: 'cpu', rounds, speedups: ratios, spread: [Math.min(...ratios), Math.max(...ratios)] } : {};
      const row = { ...stamp, ...timing, case: id, size: s, oursSeconds: a.seconds, torchSeconds: b.seconds, speedup: median(ratios), oursPeakMB: a.peakMB, torchPeakMB: b.peakMB, memoryRatio: a.peakMB / b.peakMB, ...agree, load1: load, load1After: os.loadavg()[0] };
      rows.push(row);
      save();
      const spread = cpuMode ? `\t${row.spread[0].toFixed(2)}–${row.spread[1].toFixed(2)}` : '';
      console.log(`${id}\t${s}²\t${a.seconds.toFixed(2)}\t${b.seconds.toFixed(2)}\t${row.speedup.toFixed(2)}${spread}\t${a.peakMB.toFixed(0)}\t${b.peakMB.toFixed(0)}\t${row.memoryRatio.toFixed(2)}\t${agree.maxDiff.toExponential(1)}\t${agree.meanDiff.toExponential(1)}\t${load.toFixed(1)}–${row.load1After.toFixed(1)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
if (process.env.BENCH_4K !== '0') {
  for (const id of fourKIds) {
    const load = os.loadavg()[0];
    const t = performance.now();
    const a = ours(id, 3840, 2160, 0);
    fourK.push({ ...stamp, case: id, seconds: (performance.now() - t) / 1000, peakMB: a.peakMB, under2GB: a.peakMB < 2048, load1: load });
    save();
    console.log(`${id}\t4K\tpeak ${a.peakMB.toFixed(0)} MB (${a.peakMB < 2048 ? 'under' : 'OVER'} 2 GB), ${((performance.now() - t) / 1000).toFixed(1)} s incl. start, load ${load.toFixed(1)}`);
  }
}
save();
