#!/usr/bin/env node
// Time left, as the CLI and the studio show it, against the truth (issue 20: within 2× after 10 %
// of a run). Each registered method runs once in a fresh process at SIZE² (threads 1, default
// params, random weights where a method takes weights); at the first progress event at or past
// 10 % the estimate the CLI shows (src/core/time-left.ts: elapsed·(1 − f)/f, elapsed counted from
// the last event at 0 %, where a method's one-off setup ends) is compared with the time the rest
// of the run really took. The estimate counted from the run's start is printed beside it.
// Runs shorter than a second are listed but not judged (no ETA is shown under a second left).
// Two clocks: the wall clock (what a user sees) and the process's CPU time, which is what a quiet
// machine's wall clock would read for these one-thread runs: on a shared machine the wall clock
// also counts the time other processes had the cores, so a load that changes during a run skews
// the wall ratio. The CPU ratio is the one judged; both are printed and saved.
//   node bench/eta.mjs [SIZE] [METHOD…]      (default 384, every method; TIMEOUT_S per method, default 240)
// bench/results/eta.json keeps rows by size, each with its date and load; a run of some methods at
// a size replaces only their rows at that size.
// ETA_PARAMS='{"iterations":60}' adds parameters to every method's run (a shorter optimisation).
// ETA_WEIGHTS=installed runs the default weights, installed from ../shared/weights into the bench's
// model store (bench/model-bench-setup.mjs), instead of random ones: for the networks whose random
// stand-in is not the real architecture (multistyle, arbitrary, cartoon, anime).
// CycleGAN and StarGAN have no published weights and their 'random' stand-ins are tiny (0.4 s, no
// step between): their rows come from a model of the published generator's size trained one
// iteration here (the cost per pixel is the architecture's, not the training's), e.g.
//   ATELIER_HOME=scratch/eta-home atelier train cyclegan --a A --b B --size 32 --width 64 --blocks 9 --iterations 1 --name etacg
//   ATELIER_HOME=scratch/eta-home ETA_PARAMS='{"model":"etacg","tileSize":256}' node bench/eta.mjs 512 neural.cyclegan
// (StarGAN: --domain a=A --domain b=B --size 64 --width 64 --blocks 6, then model etasg, domain b).
// At the default tile (1024) a 512² image is one tile, which these generators run with no step between.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = (p) => pathToFileURL(path.join(here, '..', 'dist', p)).href;
const size = Number(process.argv[2] ?? 384) || 384;
const TIMEOUT_S = Number(process.env.TIMEOUT_S ?? 240);

const child = `
const { methods } = await import(${JSON.stringify(dist('methods/index.js'))});
const { runMethod } = await import(${JSON.stringify(dist('core/stylize.js'))});
const { Image } = await import(${JSON.stringify(dist('core/image.js'))});
const [id, side] = [process.argv[1], Number(process.argv[2])];
const img = (seed) => { const im = new Image(side, side, 3); let s = seed; for (let i = 0; i < im.data.length; i++) { s = (s * 1664525 + 1013904223) >>> 0; im.data[i] = 0.5 + 0.3 * Math.sin((i % side) / 9 + seed) * Math.cos(Math.floor(i / side) / 7) + 0.2 * (s / 4294967296 - 0.5); } return im; };
const def = methods[id];
// A parameter with no default (neural.cyclegan's and neural.stargan's model) takes the method's quick value.
const shape = def.params.shape;
// So do the weights-picking ones set to 'random' (diffusion.img2img's adapter), unless installed weights are asked for.
const required = Object.entries(def.quickParams ?? {}).filter(([k, v]) => k in shape && (!shape[k].safeParse(undefined).success || (v === 'random' && process.env.ETA_WEIGHTS !== 'installed')));
const params = { ...Object.fromEntries(required), ...("weights" in shape && process.env.ETA_WEIGHTS !== "installed" && { weights: "random" }), ...JSON.parse(process.env.ETA_PARAMS || "{}") };
const extra = Object.fromEntries(Object.keys(def.inputs.extra ?? {}).map((k, i) => [k, img(10 + i)]));
const inputs = { content: img(1), ...(def.inputs.style !== 'none' && { style: img(2) }), extra };
const events = [];
const cpu0 = process.cpuUsage();
const cpu = () => { const u = process.cpuUsage(cpu0); return (u.user + u.system) / 1000; };
const t0 = performance.now();
await runMethod(def, inputs, params, { threads: 1, onProgress: (e) => events.push([performance.now() - t0, e.fraction, e.type, cpu()]) });
const total = performance.now() - t0;
const totalCpu = cpu();
console.log(JSON.stringify({ total, totalCpu, events }));
`;

const { listMethods, getMethod } = await import(dist('methods/index.js'));
const { TimeLeft } = await import(dist('core/time-left.js'));
const wanted = process.argv.slice(3);
const ids = wanted.length > 0 ? wanted : listMethods().map((m) => m.id);
if (process.env.ETA_WEIGHTS === 'installed') {
  // The bench's own model store (scratch/bench-models, set for the children too), filled from ../shared/weights.
  const { installFromShared } = await import('./model-bench-setup.mjs');
  for (const id of ids) for (const w of getMethod(id).weights ?? []) await installFromShared(w.model);
}
const rows = [];
console.log(`time left at 10 %, ${size}², threads 1; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
for (const id of ids) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', child, id, String(size)], { encoding: 'utf8', timeout: TIMEOUT_S * 1000 });
  if (r.status !== 0) {
    rows.push({ id, error: r.error ? `over ${TIMEOUT_S} s` : (r.stderr.trim().split('\n').find((l) => /Error|E_/.test(l)) ?? 'failed') });
    console.log(`${id.padEnd(24)} ${rows.at(-1).error}`);
    continue;
  }
  const { total, totalCpu, events } = JSON.parse(r.stdout.trim().split('\n').at(-1));
  const k = events.findIndex(([, f, type]) => f >= 0.1 && f < 1 && type !== 'start');
  const steps = events.filter(([, f]) => f > 0 && f < 1).length;
  if (k < 0) {
    rows.push({ id, totalS: total / 1000, steps, ratio: null });
    console.log(`${id.padEnd(24)} ${(total / 1000).toFixed(2).padStart(7)} s  no progress between 10 % and 100 % (${steps} events)`);
    continue;
  }
  // The estimate the CLI shows (core/time-left.ts: the rate since the last event at 0 %), on both clocks.
  const estimateOn = (clock) => {
    const left = new TimeLeft(0);
    let ms;
    for (const e of events.slice(0, k + 1)) ms = left.observe({ type: e[2], fraction: e[1] }, e[clock]);
    return ms;
  };
  const [t, f, , c] = events[k];
  const estimate = estimateOn(0);
  const truth = total - t;
  const ratio = estimate / truth;
  const cpuRatio = estimateOn(3) / (totalCpu - c);
  // The same from the run's start (the estimate before setup was left out), for comparison.
  const fromStartCpu = ((c * (1 - f)) / f) / (totalCpu - c);
  const setupCpu = events.filter(([, fr], i) => i < k && fr === 0).at(-1)?.[3] ?? 0;
  const judged = totalCpu >= 1000;
  const ok = !judged || (cpuRatio >= 0.5 && cpuRatio <= 2);
  rows.push({ id, totalS: total / 1000, cpuS: totalCpu / 1000, setupCpuS: setupCpu / 1000, steps, atFraction: f, estimateS: estimate / 1000, truthS: truth / 1000, ratio, cpuRatio, fromStartCpuRatio: fromStartCpu, judged, ok });
  console.log(`${id.padEnd(24)} ${(total / 1000).toFixed(2).padStart(7)} s (CPU ${(totalCpu / 1000).toFixed(2)} s, ${(setupCpu / 1000).toFixed(2)} s before 0 %, ${steps} steps)  at ${(f * 100).toFixed(0).padStart(3)} %: estimated ${(estimate / 1000).toFixed(2)} s left, took ${(truth / 1000).toFixed(2)} s (wall ×${ratio.toFixed(2)}, CPU ×${cpuRatio.toFixed(2)}; from the start CPU ×${fromStartCpu.toFixed(2)})${judged ? (ok ? '' : '  OUTSIDE 2×') : '  (under 1 s of CPU: not judged)'}`);
}
console.log(`load ${loadavg()[0].toFixed(1)}; ${rows.filter((r) => r.ok === false).length} outside 2×, ${rows.filter((r) => r.ok).length} within`);
// A run of some methods replaces their rows and keeps the others measured at the same size (each row dated).
mkdirSync(path.join(here, 'results'), { recursive: true });
const file = path.join(here, 'results', 'eta.json');
const date = new Date().toISOString();
const load = loadavg()[0];
let saved = { bySize: {} };
try {
  const old = JSON.parse(readFileSync(file, 'utf8'));
  // The earlier layout held one size's rows, dated once.
  saved = old.bySize ? old : { bySize: { [old.size]: old.rows.map((r) => ({ date: old.date, load: old.load, ...r })) } };
} catch {}
const earlier = saved.bySize[size] ?? [];
const fresh = rows.map((r) => ({ date, load, ...(process.env.ETA_PARAMS && { params: JSON.parse(process.env.ETA_PARAMS) }), ...r }));
const merged = [...earlier.filter((r) => !fresh.some((f) => f.id === r.id)), ...fresh];
const order = listMethods().map((m) => m.id);
merged.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
saved.bySize[size] = merged;
writeFileSync(file, JSON.stringify(saved, null, 2) + '\n');
