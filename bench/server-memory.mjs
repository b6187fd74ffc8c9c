#!/usr/bin/env node
// Does the server give memory back after a big job? A real `atelier serve` (jobs on worker
// threads) is started on a fresh data directory; its RSS (the whole process, threads included,
// from /proc) is read at idle, at the peak of one big job, and 2, 10 and 30 s after it finished.
// The peer in the same run is the idle baseline itself: "after" should come back close to it.
//   node bench/server-memory.mjs [SIDE] [METHOD]      (default 6000 px square, color.reinhard; `npm run build` first)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const side = Number(process.argv[2] ?? 6000);
const method = process.argv[3] ?? 'color.reinhard';
const dataDir = mkdtempSync(path.join(tmpdir(), 'atelier-server-memory-'));
const rssMB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = spawn(process.execPath, [path.join(root, 'bin/atelier.js'), 'serve', '--port', '0', '--data-dir', dataDir, '--concurrency', '1', '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
const base = await new Promise((resolve) => server.stdout.once('data', (d) => resolve(String(d).trim().replace('listening on ', ''))));
try {
  // A gradient with noise: compresses well (a small upload) yet has many distinct colours.
  const raw = Buffer.alloc(side * side * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = ((i / 3) % side) * (200 / side) + ((i * 2654435761) >>> 28);
  const content = await sharp(raw, { raw: { width: side, height: side, channels: 3 } }).png().toBuffer();
  const style = await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 30, g: 80, b: 160 } } }).png().toBuffer();
  await sleep(2000);
  const idle = rssMB(server.pid);
  const form = new FormData();
  form.append('method', method);
  form.append('content', new Blob([content]), 'c.png');
  form.append('style', new Blob([style]), 's.png');
  const posted = await fetch(`${base}/api/jobs`, { method: 'POST', body: form });
  if (posted.status !== 201) throw new Error(`POST: ${posted.status} ${await posted.text()}`);
  const { id } = await posted.json();
  let peak = idle;
  let job;
  for (;;) {
    peak = Math.max(peak, rssMB(server.pid));
    job = await (await fetch(`${base}/api/jobs/${id}`)).json();
    if (['done', 'failed', 'cancelled'].includes(job.status)) break;
    await sleep(100);
  }
  const after = [];
  for (const wait of [2000, 8000, 20000]) {
    await sleep(wait);
    after.push(rssMB(server.pid));
  }
  console.log(`${method} on ${side}×${side} (${(content.length / 1024).toFixed(0)} KB PNG): ${job.status}; RSS idle ${idle.toFixed(0)} MB, peak ${peak.toFixed(0)} MB, after 2 s ${after[0].toFixed(0)} MB, 10 s ${after[1].toFixed(0)} MB, 30 s ${after[2].toFixed(0)} MB (${(after[2] / idle).toFixed(2)}× idle); load ${loadavg()[0].toFixed(1)}`);
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
}
