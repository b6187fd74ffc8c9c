#!/usr/bin/env node
// What one `atelier` process costs before it does any work: the built CLI spawned N times for
// commands that load no network (`--help`, `methods`, `methods ID`, an unknown method's error),
// against a bare `node -e ''` spawned as many times in the same run (the peer: what Node itself
// costs). Every CLI test spawns the CLI, so this is also a floor under the CLI tests' time.
//   node bench/cli-startup.mjs [N]        (default 10 spawns per command; build first)
// Prints the median wall time per command and its ratio to bare node; bench/results/cli-startup.json
// keeps the last run with its date and load.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = path.join(here, '..', 'bin', 'atelier.js');
const n = Number(process.argv[2] ?? 10) || 10;

const cases = [
  ['node (peer)', ['-e', '']],
  ['atelier --help', [bin, '--help']],
  ['atelier methods', [bin, 'methods']],
  ['atelier methods neural.fast', [bin, 'methods', 'neural.fast']],
  ['atelier transfer (unknown method)', [bin, 'transfer', 'a.png', '--method', 'nope', '-o', 'b.png']],
];

function timeSpawns(args) {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    spawnSync(process.execPath, args, { stdio: 'ignore' });
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)];
}

const loadBefore = loadavg()[0];
// Interleave nothing: each command's spawns run back to back after one warm-up of the file cache.
spawnSync(process.execPath, [bin, '--help'], { stdio: 'ignore' });
const rows = [];
for (const [name, args] of cases) rows.push({ name, medianMs: Math.round(timeSpawns(args)) });
const peer = rows[0].medianMs;
for (const r of rows) r.ratioToNode = +(r.medianMs / peer).toFixed(2);
const loadAfter = loadavg()[0];

console.log(`spawns per command: ${n}; load ${loadBefore.toFixed(2)} → ${loadAfter.toFixed(2)}`);
for (const r of rows) console.log(`${r.name.padEnd(36)} ${String(r.medianMs).padStart(6)} ms  ×${r.ratioToNode} node`);
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(
  path.join(here, 'results', 'cli-startup.json'),
  JSON.stringify({ date: new Date().toISOString(), spawns: n, load: [loadBefore, loadAfter], rows }, null, 2) + '\n',
);
