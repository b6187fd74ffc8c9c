#!/usr/bin/env node
// One CycleGAN training iteration (both generators: forward, LSGAN + cycle + identity losses,
// gradient, Adam; both PatchGANs: losses on real and pooled fake images, gradient, Adam), Atelier
// (engine graphs on ONNX Runtime, bench worker below) against PyTorch CPU (bench/cyclegan_torch.py,
// the same architecture), the published widths (generator 64 with 6 blocks at 128², 9 at 256²;
// PatchGAN 64, 3 layers), batch 1, float32, same threads, same run. Each side runs in a fresh process so
// its peak RSS (VmHWM) is its own; times are medians over --iterations after one warm-up
// iteration; Atelier's graph compilation is reported apart. Each side's CPU time per iteration
// (user + system) is reported too: under load it is steadier than wall time, and with
// `--threads 1` its ratio is the ratio of work done (with more threads it counts spin-waiting). Prints a table and writes
// bench/results/cyclegan-step.json.
//   node bench/cyclegan-step.mjs [--sizes 128,256] [--iterations 3] [--threads 2] [--width 64] [--rounds 1]
// On a loaded machine compare CPU time on one thread, the two sides interleaved over several
// rounds (each round a fresh process per side, the order alternating), and read the CPU ratio's
// median and its per-round spread:
//   node bench/cyclegan-step.mjs --sizes 256 --threads 1 --rounds 3 --iterations 2 --out cyclegan-step-cpu.json
// (`--out` names the results file under bench/results, so a loaded run does not replace the quiet one.)
// The quiet comparison (2 threads; three rounds, each side's process fresh per round, median of all
// iterations; ~10 min):
//   node bench/cyclegan-step.mjs --sizes 128,256 --rounds 3
// Where the time goes, per op, on each side: bench/profile/cyclegan-step.mjs and
// `/usr/bin/python3 bench/cyclegan_torch.py 256 64 9 64 3 1 1 profile` (PyTorch's, one thread).
// (after `npm run build`). The 256² row alone, at the published sizes (width 64, 9 blocks):
//   node bench/cyclegan-step.mjs --sizes 256
// It needs several GB per side and minutes per iteration on 2 threads, plus Atelier's graph
// compilation; `--sizes 256 --width 4 --iterations 1` is a quick check that it runs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, option, peakMB } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);

async function worker([size, width, blocks, dwidth, dlayers, iterations, threads]) {
  [size, width, blocks, dwidth, dlayers, iterations, threads] = [size, width, blocks, dwidth, dlayers, iterations, threads].map(Number);
  const { CycleGanTrainer } = await import('../dist/train/recipes/cyclegan-trainer.js');
  const { Rng } = await import('../dist/core/rng.js');
  const t0 = performance.now();
  const trainer = await CycleGanTrainer.create({
    size,
    generator: { width, blocks },
    discriminator: { width: dwidth, layers: dlayers },
    lossWeights: { cycleA: 10, cycleB: 10, identity: 0.5 },
    learningRate: 2e-4,
    iterations: 1000,
    decayFraction: 0.5,
    poolSize: 50,
    threads,
    seed: 1,
  });
  const compileMs = performance.now() - t0;
  const rng = new Rng(1);
  const image = () => Float32Array.from({ length: 3 * size * size }, () => rng.uniform(-1, 1));
  const times = [];
  const cpu = [];
  for (let i = 0; i <= iterations; i++) {
    const [a, b] = [image(), image()];
    const t = performance.now();
    const c = process.cpuUsage();
    await trainer.step(a, b, rng);
    const used = process.cpuUsage(c);
    if (i > 0) times.push(performance.now() - t);
    if (i > 0) cpu.push((used.user + used.system) / 1000);
  }
  process.stdout.write(JSON.stringify({ times_ms: times, cpu_ms: cpu, compile_ms: compileMs, peak_rss_mb: peakMB() }) + '\n');
}

if (args[0] === '--worker') {
  await worker(args.slice(1));
  process.exit(0);
}

const sizes = option('sizes', '128,256').split(',').map(Number);
const iterations = Number(option('iterations', '3'));
const threads = Number(option('threads', '2'));
const width = Number(option('width', '64'));
const rounds = Number(option('rounds', '1'));
const out = option('out', 'cyclegan-step.json');
const spread = (xs) => `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;
const rows = [];
for (const size of sizes) {
  const blocks = Number(option('blocks', size >= 256 ? '9' : '6'));
  const config = [size, width, blocks, width, 3, iterations, threads].map(String);
  const load = os.loadavg()[0];
  const runAtelier = () => {
    const a = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', ...config], { encoding: 'utf8' });
    if (a.status !== 0) throw new Error(`atelier worker failed: ${a.stderr}`);
    console.error(`${size}²: Atelier ${a.stdout.trim()}`);
    return JSON.parse(a.stdout.trim().split('\n').at(-1));
  };
  const runTorch = () => {
    const t = spawnSync('/usr/bin/python3', [path.join(here, 'cyclegan_torch.py'), ...config], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
    if (t.status !== 0) throw new Error(`torch failed: ${t.stderr}`);
    console.error(`${size}²: PyTorch ${t.stdout.trim()}`);
    return JSON.parse(t.stdout.trim().split('\n').at(-1));
  };
  // Rounds alternate which side goes first, so a load that rises or falls meets both alike.
  const ours = [];
  const theirs = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      ours.push(runAtelier());
      theirs.push(runTorch());
    } else {
      theirs.push(runTorch());
      ours.push(runAtelier());
    }
  }
  const all = (results, key) => results.flatMap((x) => x[key]);
  const [aTimes, tTimes, aCpu, tCpu] = [all(ours, 'times_ms'), all(theirs, 'times_ms'), all(ours, 'cpu_ms'), all(theirs, 'cpu_ms')];
  const aPeak = Math.max(...ours.map((x) => x.peak_rss_mb));
  const tPeak = Math.max(...theirs.map((x) => x.peak_rss_mb));
  // Per round: PyTorch's median CPU time over ours (the pairs ran back to back).
  const roundRatios = ours.map((x, i) => median(theirs[i].cpu_ms) / median(x.cpu_ms));
  const row = {
    size: `${size}x${size}`,
    generator: `width ${width}, ${blocks} blocks`,
    atelier_ms: median(aTimes),
    torch_ms: median(tTimes),
    speed_vs_torch: median(tTimes) / median(aTimes),
    atelier_cpu_ms: median(aCpu),
    torch_cpu_ms: median(tCpu),
    cpu_vs_torch: median(tCpu) / median(aCpu),
    cpu_vs_torch_per_round: roundRatios,
    atelier_peak_mb: aPeak,
    torch_peak_mb: tPeak,
    memory_vs_torch: aPeak / tPeak,
    compile_ms: median(ours.map((x) => x.compile_ms)),
    atelier_runs: aTimes,
    torch_runs: tTimes,
    atelier_cpu_runs: aCpu,
    torch_cpu_runs: tCpu,
    load_before: load,
    load_after: os.loadavg()[0],
  };
  rows.push(row);
  console.log(`${row.size} ${row.generator}: Atelier ${row.atelier_ms.toFixed(0)} ms (${spread(aTimes)}), PyTorch ${row.torch_ms.toFixed(0)} ms (${spread(tTimes)}) (speed ×${row.speed_vs_torch.toFixed(2)}); CPU ${row.atelier_cpu_ms.toFixed(0)} (${spread(aCpu)}) vs ${row.torch_cpu_ms.toFixed(0)} (${spread(tCpu)}) ms (×${row.cpu_vs_torch.toFixed(2)}${rounds > 1 ? `; per round ${roundRatios.map((r) => r.toFixed(2)).join(' ')}` : ''}); peak ${row.atelier_peak_mb.toFixed(0)} vs ${row.torch_peak_mb.toFixed(0)} MB (×${row.memory_vs_torch.toFixed(2)}); compile ${(row.compile_ms / 1000).toFixed(1)} s; load ${load.toFixed(1)} → ${row.load_after.toFixed(1)}`);
}
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results', out), JSON.stringify({ threads, iterations, rounds, rows, node: process.version }, null, 1));
