#!/usr/bin/env node
// Time left, as the CLI and the studio show it, against the truth (issue 20: within 2× after 10 %
// of a run). Each registered method runs once in a fresh process at SIZE² (threads 1, default
// params, random weights where a method takes weights); at the first progress event at or past
// 10 % the estimate elapsed·(1 − f)/f is compared with the time the rest of the run really took.
// Runs shorter than a second are listed but not judged (no ETA is shown under a second left).
// Two clocks: the wall clock (what a user sees) and the process's CPU time, which is what a quiet
// machine's wall clock would read for these one-thread runs: on a shared machine the wall clock
// also counts the time other processes had the cores, so a load that changes during a run skews
// the wall ratio. The CPU ratio is the one judged; both are printed and saved.
//   node bench/eta.mjs [SIZE] [METHOD…]      (default 384, every method; TIMEOUT_S per method, default 240)
// ETA_WEIGHTS=installed runs the default (installed) weights instead of random ones: for the
// networks whose random stand-in is not the real architecture (multistyle, arbitrary, cartoon, anime).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
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
const params = "weights" in def.params.shape && process.env.ETA_WEIGHTS !== "installed" ? { weights: "random" } : {};
const extra = Object.fromEntries(Object.keys(def.inputs.extra ?? {}).map((k, i) => [k, img(10 + i)]));
const inputs = { content: img(1), ...(def.inputs.style !== 'none' && { style: img(2) }), extra };
const events = [];
const cpu0 = process.cpuUsage();
const cpu = () => { const u = process.cpuUsage(cpu0); return (u.user + u.system) / 1000; };
const t0 = performance.now();
await runMethod(def, inputs, params, { threads: 1, onProgress: (e) => { if (typeof e.fraction === 'number') events.push([performance.now() - t0, e.fraction, e.type, cpu()]); } });
const total = performance.now() - t0;
const totalCpu = cpu();
const at = events.find(([, f, type]) => f >= 0.1 && f < 1 && type !== 'start');
console.log(JSON.stringify({ total, totalCpu, at: at ?? null, steps: events.length }));
`;

const { listMethods } = await import(dist('methods/index.js'));
const wanted = process.argv.slice(3);
const ids = wanted.length > 0 ? wanted : listMethods().map((m) => m.id);
const rows = [];
console.log(`time left at 10 %, ${size}², threads 1; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
for (const id of ids) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', child, id, String(size)], { encoding: 'utf8', timeout: TIMEOUT_S * 1000 });
  if (r.status !== 0) {
    rows.push({ id, error: r.error ? `over ${TIMEOUT_S} s` : (r.stderr.trim().split('\n').find((l) => /Error|E_/.test(l)) ?? 'failed') });
    console.log(`${id.padEnd(24)} ${rows.at(-1).error}`);
    continue;
  }
  const { total, totalCpu, at, steps } = JSON.parse(r.stdout.trim().split('\n').at(-1));
  if (!at) {
    rows.push({ id, totalS: total / 1000, steps, ratio: null });
    console.log(`${id.padEnd(24)} ${(total / 1000).toFixed(2).padStart(7)} s  no progress between 10 % and 100 % (${steps} events)`);
    continue;
  }
  const [t, f, , c] = at;
  const estimate = (t * (1 - f)) / f;
  const truth = total - t;
  const ratio = estimate / truth;
  const cpuRatio = ((c * (1 - f)) / f) / (totalCpu - c);
  const judged = totalCpu >= 1000;
  const ok = !judged || (cpuRatio >= 0.5 && cpuRatio <= 2);
  rows.push({ id, totalS: total / 1000, cpuS: totalCpu / 1000, atFraction: f, estimateS: estimate / 1000, truthS: truth / 1000, ratio, cpuRatio, judged, ok });
  console.log(`${id.padEnd(24)} ${(total / 1000).toFixed(2).padStart(7)} s (CPU ${(totalCpu / 1000).toFixed(2)} s)  at ${(f * 100).toFixed(0).padStart(3)} %: estimated ${(estimate / 1000).toFixed(2)} s left, took ${(truth / 1000).toFixed(2)} s (wall ×${ratio.toFixed(2)}, CPU ×${cpuRatio.toFixed(2)})${judged ? (ok ? '' : '  OUTSIDE 2×') : '  (under 1 s of CPU: not judged)'}`);
}
console.log(`load ${loadavg()[0].toFixed(1)}; ${rows.filter((r) => r.ok === false).length} outside 2×, ${rows.filter((r) => r.ok).length} within`);
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results', 'eta.json'), JSON.stringify({ date: new Date().toISOString(), size, load: loadavg()[0], rows }, null, 2) + '\n');
