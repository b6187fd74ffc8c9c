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
//   node bench/cyclegan-step.mjs [--sizes 128,256] [--iterations 3] [--threads 2] [--width 64]
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
const rows = [];
for (const size of sizes) {
  const blocks = Number(option('blocks', size >= 256 ? '9' : '6'));
  const config = [size, width, blocks, width, 3, iterations, threads].map(String);
  const load = os.loadavg()[0];
  const a = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', ...config], { encoding: 'utf8' });
  if (a.status !== 0) throw new Error(`atelier worker failed: ${a.stderr}`);
  console.error(`${size}²: Atelier ${a.stdout.trim()}`);
  const t = spawnSync('/usr/bin/python3', [path.join(here, 'cyclegan_torch.py'), ...config], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
  if (t.status !== 0) throw new Error(`torch failed: ${t.stderr}`);
  console.error(`${size}²: PyTorch ${t.stdout.trim()}`);
  const ra = JSON.parse(a.stdout.trim().split('\n').at(-1));
  const rt = JSON.parse(t.stdout.trim().split('\n').at(-1));
  const row = {
    size: `${size}x${size}`,
    generator: `width ${width}, ${blocks} blocks`,
    atelier_ms: median(ra.times_ms),
    torch_ms: median(rt.times_ms),
    speed_vs_torch: median(rt.times_ms) / median(ra.times_ms),
    atelier_cpu_ms: median(ra.cpu_ms),
    torch_cpu_ms: median(rt.cpu_ms),
    cpu_vs_torch: median(rt.cpu_ms) / median(ra.cpu_ms),
    atelier_peak_mb: ra.peak_rss_mb,
    torch_peak_mb: rt.peak_rss_mb,
    memory_vs_torch: ra.peak_rss_mb / rt.peak_rss_mb,
    compile_ms: ra.compile_ms,
    atelier_runs: ra.times_ms,
    torch_runs: rt.times_ms,
    load_before: load,
    load_after: os.loadavg()[0],
  };
  rows.push(row);
  console.log(`${row.size} ${row.generator}: Atelier ${row.atelier_ms.toFixed(0)} ms, PyTorch ${row.torch_ms.toFixed(0)} ms (speed ×${row.speed_vs_torch.toFixed(2)}); CPU ${row.atelier_cpu_ms.toFixed(0)} vs ${row.torch_cpu_ms.toFixed(0)} ms (×${row.cpu_vs_torch.toFixed(2)}); peak ${row.atelier_peak_mb.toFixed(0)} vs ${row.torch_peak_mb.toFixed(0)} MB (×${row.memory_vs_torch.toFixed(2)}); compile ${(row.compile_ms / 1000).toFixed(1)} s; load ${load.toFixed(1)} → ${row.load_after.toFixed(1)}`);
}
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results', 'cyclegan-step.json'), JSON.stringify({ threads, iterations, rows, node: process.version }, null, 1));
