#!/usr/bin/env node
// Imported TFLite / TF1 networks (issues 13–15): inference time and peak memory of neural.anime and
// neural.cartoon at 1024², neural.multistyle and neural.arbitrary at 512² and 1024², and the time
// to read, import and compile each model cold and from the session cache. Each case runs in its
// own process (peak RSS is the process's). The one peer that runs any of these files is Arm NN's
// reference backend (CpuRef, python3-pyarmnn) on the style predictor: a same-run ratio, though
// CpuRef is a reference implementation, not an optimised one. The others have no runtime here
// (no TensorFlow; Arm NN's parser lacks MIRROR_PAD and White-box's hybrid convs): absolute
// figures, with the load average, 2 threads. Same-run ratios against PyTorch running these
// networks (references written from the papers on the weights our readers export) are in
// bench/style-nets.mjs: BENCH_ONLY=multistyle,arbitrary,cartoon,anime BENCH_4K=0 node bench/style-nets.mjs
//   node bench/imported.mjs [--rounds N]      (needs ../shared/weights; `npm run build` first)
//   node bench/imported.mjs --gan [--rounds N] [--size 1024]
// --gan runs only the GAN stylisers of issue 15 at 1024²: neural.anime (its default tiles, and
// whole) and neural.cartoon in its three variants (dr, int8, fp16), time and peak RSS, into
// bench/results/imported-gan.json. No peer
// runs these files here (PyTorch cannot read TFLite, and neither network has a PyTorch port among
// the shared weights), so the figures are absolute, with the load average. (--size 256 --rounds 1:
// a quick check that the command works.)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installFromShared, root, shared, THREADS } from './model-bench-setup.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

if (process.argv[2] === '--case') {
  await runCase(JSON.parse(process.argv[3]));
  process.exit(0);
}

const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1] ?? 2) || 2;
const ganOnly = process.argv.includes('--gan');
const ganSize = process.argv.includes('--size') ? Number(process.argv[process.argv.indexOf('--size') + 1]) : 1024;
// The GAN stylisers run with their own defaults, as a user gets them (neural.anime tiles a 1024²
// image 2×2 at its default tileSize 576), plus neural.anime whole (tileSize 1024) for comparison.
const ganCases = [
  { method: 'neural.anime', model: 'animeganv2-hayao', size: ganSize, params: {} },
  { method: 'neural.anime', model: 'animeganv2-hayao', size: ganSize, params: { tileSize: 1024 } },
  ...['dr', 'int8', 'fp16'].map((variant) => ({ method: 'neural.cartoon', model: 'whitebox-cartoon', size: ganSize, params: { variant } })),
];
// Whole images: one tile up to 1024².
const allCases = [
  { method: 'neural.cartoon', model: 'whitebox-cartoon', size: 1024, params: { variant: 'dr', tileSize: 1024 } },
  { method: 'neural.anime', model: 'animeganv2-hayao', size: 1024, params: { tileSize: 1024 } },
  { method: 'neural.multistyle', model: 'magenta-multistyle', size: 512, params: { style: 3, tileSize: 1024 } },
  { method: 'neural.multistyle', model: 'magenta-multistyle', size: 1024, params: { style: 3, tileSize: 1024 } },
  { method: 'neural.arbitrary', model: 'magenta-arbitrary', size: 512, params: { variant: 'fp16', tileSize: 1024 } },
  { method: 'neural.arbitrary', model: 'magenta-arbitrary', size: 1024, params: { variant: 'fp16', tileSize: 1024 } },
];
const cases = ganOnly ? ganCases : allCases;
// Install the models into the bench model store.
for (const name of new Set(cases.map((c) => c.model))) await installFromShared(name, { variants: 'all' }); // every variant a case runs (cartoon dr, int8, fp16)
const results = { date: new Date().toISOString(), threads: THREADS, rounds, cpu: cpuName(), cases: [], builds: [], predictor: undefined };
console.log(`imported networks, ${THREADS} threads, ${rounds} timed rounds after a warm-up; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const c of cases) {
  const r = child({ kind: 'method', rounds, ...c });
  results.cases.push({ ...c, ...r });
  console.log(`${`${c.method}${c.params.variant ? ` ${c.params.variant}` : ''}${c.params.tileSize ? ` tile ${c.params.tileSize}` : ''}`.padEnd(28)} ${String(c.size).padStart(4)}²  ${(r.seconds * 1000).toFixed(0).padStart(7)} ms  CPU ${r.cpuSeconds?.toFixed(1) ?? '-'} s  peak RSS ${r.peakMiB.toFixed(0)} MiB  (load ${r.load})`);
}
if (ganOnly) {
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(path.join(here, 'results', 'imported-gan.json'), JSON.stringify(results, null, 2) + '\n');
  process.exit(0);
}
for (const file of [
  'magenta-multistyle/stylize_quantized.pb',
  'magenta-arbitrary/style_predict_quantized_256.tflite',
  'magenta-arbitrary/style_transfer_f16_384.tflite',
  'magenta-arbitrary/style_transfer_quantized_384.tflite',
  'magenta-arbitrary/style_transfer_quantized_dynamic.tflite',
  'whitebox-cartoon/whitebox_cartoon_gan_dr.tflite',
  'whitebox-cartoon/whitebox_cartoon_gan_int8.tflite',
  'whitebox-cartoon/whitebox_cartoon_gan_fp16.tflite',
  'animeganv2-hayao/animeganv2_hayao_256x256_integer_quant.tflite',
]) {
  const r = child({ kind: 'build', file });
  results.builds.push({ file, ...r });
  console.log(`build ${file.padEnd(62)} cold ${r.coldMs.toFixed(0).padStart(5)} ms (read ${r.readMs.toFixed(0)}, import ${r.importMs.toFixed(0)}, compile ${r.compileMs.toFixed(0)}); again from the session cache ${r.cachedMs.toFixed(0)} ms`);
}
results.predictor = predictorAgainstArmnn(rounds);
if (results.predictor) {
  const p = results.predictor;
  console.log(`style predictor 256²: ours ${p.oursMs.toFixed(0)} ms vs Arm NN CpuRef ${p.armnnMs.toFixed(0)} ms → ${(p.armnnMs / p.oursMs).toFixed(1)}× its speed (load ${p.load})`);
}
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results', 'imported.json'), JSON.stringify(results, null, 2) + '\n');

function cpuName() {
  try {
    return /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function child(spec) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--case', JSON.stringify(spec)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`case ${JSON.stringify(spec)} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

async function runCase(spec) {
  const load = loadavg()[0].toFixed(1);
  if (spec.kind === 'method') {
    const { runMethod } = await import(path.join(root, 'dist/core/stylize.js'));
    const { methods } = await import(path.join(root, 'dist/methods/index.js'));
    const { readImage } = await import(path.join(root, 'dist/core/io.js'));
    const { resizeImage } = await import(path.join(root, 'dist/core/resample.js'));
    const content = resizeImage(await readImage(path.join(shared, '../data/dev/content/stata.jpg')), spec.size, spec.size);
    const style = await readImage(path.join(shared, '../data/dev/style/udnie.jpg'));
    const inputs = { content, ...(spec.method === 'neural.arbitrary' && { style }), extra: {} };
    const params = spec.params;
    await runMethod(methods[spec.method], inputs, params, { threads: THREADS });
    let best = Infinity;
    let cpu = Infinity;
    for (let i = 0; i < spec.rounds; i++) {
      const t = performance.now();
      const c = process.cpuUsage();
      await runMethod(methods[spec.method], inputs, params, { threads: THREADS });
      const used = process.cpuUsage(c);
      best = Math.min(best, (performance.now() - t) / 1000);
      cpu = Math.min(cpu, (used.user + used.system) / 1e6);
    }
    // CPU seconds (all threads, ORT's spin-waits included): steadier than wall time under load.
    console.log(JSON.stringify({ seconds: best, cpuSeconds: cpu, peakMiB: process.resourceUsage().maxRSS / 1024, load }));
    return;
  }
  if (spec.kind === 'predictor') {
    const { ImportedNetwork } = await import(path.join(root, 'dist/engine/nets/imported-network.js'));
    const net = await ImportedNetwork.load(path.join(shared, 'magenta-arbitrary/style_predict_quantized_256.tflite'), {}, THREADS);
    const { runner } = await net.at({ style_image: [1, 256, 256, 3] });
    const data = new Float32Array(3 * 256 * 256).map((_, i) => (Math.sin(i * 0.01) + 1) / 2);
    await runner.run({ style_image: { data, shape: [1, 3, 256, 256] } });
    const t = performance.now();
    for (let i = 0; i < spec.rounds; i++) await runner.run({ style_image: { data, shape: [1, 3, 256, 256] } });
    console.log(JSON.stringify({ ms: (performance.now() - t) / spec.rounds }));
    return;
  }
  const { readTflite } = await import(path.join(root, 'dist/engine/weights/tflite.js'));
  const { readGraphDef } = await import(path.join(root, 'dist/engine/weights/graphdef.js'));
  const { importTflite } = await import(path.join(root, 'dist/engine/import/tflite-import.js'));
  const { importGraphDef } = await import(path.join(root, 'dist/engine/import/graphdef-import.js'));
  const { compile } = await import(path.join(root, 'dist/engine/runtime.js'));
  const file = path.join(shared, spec.file);
  const pb = file.endsWith('.pb');
  const build = async () => {
    const t0 = performance.now();
    const m = pb ? await readGraphDef(file) : await readTflite(file);
    const t1 = performance.now();
    const imp = pb ? importGraphDef(m, { outputs: ['transformer/expand/conv3/conv/Sigmoid'], inputShapes: { input: [1, 512, 512, 3] } }) : importTflite(m);
    const t2 = performance.now();
    await compile(imp.graph, { threads: THREADS });
    const t3 = performance.now();
    return { readMs: t1 - t0, importMs: t2 - t1, compileMs: t3 - t2, total: t3 - t0 };
  };
  const cold = await build();
  // Second build in the same process: ORT's session cache (keyed by the model's hash) answers the compile.
  const again = await build();
  console.log(JSON.stringify({ coldMs: cold.total, readMs: cold.readMs, importMs: cold.importMs, compileMs: cold.compileMs, cachedMs: again.total, load }));
}

function predictorAgainstArmnn(n) {
  const python = ['/usr/bin/python3', 'python3'].find((exe) => spawnSync(exe, ['-c', 'import pyarmnn, numpy'], { stdio: 'ignore' }).status === 0);
  if (!python) {
    console.log('style predictor vs Arm NN: skipped (no python3-pyarmnn)');
    return undefined;
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-armnn-'));
  const input = new Float32Array(256 * 256 * 3).map((_, i) => (Math.sin(i * 0.01) + 1) / 2);
  writeFileSync(path.join(dir, 'in.f32'), input);
  const script = path.join(root, 'test/engine/import/armnn_run.py');
  const model = path.join(shared, 'magenta-arbitrary/style_predict_quantized_256.tflite');
  // Arm NN: loading once, then n + 1 runs; per-run time from the difference of two invocations.
  const timeRuns = (k) => {
    const args = [script, model, '256', '256', '3'];
    for (let i = 0; i < k; i++) args.push(path.join(dir, 'in.f32'), path.join(dir, `out${i}.f32`));
    const t = performance.now();
    execFileSync(python, args, { stdio: 'ignore' });
    return performance.now() - t;
  };
  const one = timeRuns(1);
  const more = timeRuns(1 + n);
  const armnnMs = (more - one) / n;
  const r = child({ kind: 'predictor', rounds: n });
  return { armnnMs, oursMs: r.ms, load: loadavg()[0].toFixed(1) };
}
