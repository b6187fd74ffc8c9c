#!/usr/bin/env node
// `npm run bench -- NAME…` runs bench/NAME.mjs (each compares Atelier with a peer in the same run
// and prints a table; results land in bench/results/NAME.json). With no name it lists them.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here).filter((f) => f.endsWith('.mjs')).map((f) => f.slice(0, -4)).sort();
const names = process.argv.slice(2);
if (names.length === 0) {
  console.log(`benchmarks: ${available.join(', ') || '(none)'}\nrun: npm run bench -- NAME [NAME…]  (or: npm run bench -- all)`);
  process.exit(0);
}
const build = spawnSync('npm', ['run', '-s', 'build'], { stdio: 'inherit', cwd: path.join(here, '..') });
if (build.status !== 0) process.exit(build.status ?? 1);
for (const name of names[0] === 'all' ? available : names) {
  if (!available.includes(name)) {
    console.error(`no benchmark named ${name}; available: ${available.join(', ')}`);
    process.exit(2);
  }
  const r = spawnSync(process.execPath, [path.join(here, `${name}.mjs`)], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
