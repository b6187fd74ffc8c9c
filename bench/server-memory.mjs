#!/usr/bin/env node
// Does the server give memory back after a big job? A real `atelier serve` (jobs on worker
// threads) is started on a fresh data directory; its RSS (the whole process, threads included,
// from /proc) is read at idle, after a small job of the same method (libraries loaded: the warm
// baseline), at the peak of one big job, 2, 10 and 30 s after it finished, and after the same big
// job again (memory must not pile up).
// The peer in the same run is the idle baseline itself: "after" should come back close to it.
//   node bench/server-memory.mjs [SIDE] [METHOD] [PARAMS_JSON]   (default 6000 px square, color.reinhard; `npm run build` first)
//   node bench/server-memory.mjs 2000 neural.fast '{"weights":"random"}'   a big neural job (1536² tiles)
// The server inherits ATELIER_HOME, so installed networks can be measured too. REPEAT=n runs the
// big job n times in all (default 2). Beside each RSS: how much of it sits in glibc's arena heaps
// (anonymous mappings of 60–64 MB, where a job thread's freed buffers stayed before
// server/jobs/native-heap.ts) and each job's wall time.
// Before/after in one run: the same command twice side by side, one with ATELIER_MALLOC_TUNING=off
// (glibc's own dynamic thresholds), e.g.
//   (ATELIER_MALLOC_TUNING=off REPEAT=4 node bench/server-memory.mjs 2000 neural.fast '{"weights":"random"}' &
//    REPEAT=4 node bench/server-memory.mjs 2000 neural.fast '{"weights":"random"}'; wait)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const side = Number(process.argv[2] ?? 6000);
const method = process.argv[3] ?? 'color.reinhard';
const params = process.argv[4];
const dataDir = mkdtempSync(path.join(tmpdir(), 'atelier-server-memory-'));
const rssMB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
/** MB resident in glibc's arena heaps: anonymous mappings of 60–64 MB (HEAP_MAX_SIZE, less what is still reserved). */
const arenaMB = (pid) => {
  let mb = 0;
  let arena = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (m) {
      const size = parseInt(m[2], 16) - parseInt(m[1], 16);
      arena = m[3] === '' && size >= 60 * 2 ** 20 && size <= 64 * 2 ** 20;
    } else if (arena && line.startsWith('Rss:')) mb += Number(/\d+/.exec(line)[0]) / 1024;
  }
  return mb;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = spawn(process.execPath, [path.join(root, 'bin/atelier.js'), 'serve', '--port', '0', '--data-dir', dataDir, '--concurrency', '1', '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
const base = await new Promise((resolve) => server.stdout.once('data', (d) => resolve(String(d).trim().replace('listening on ', ''))));
try {
  // A gradient with noise: compresses well (a small upload) yet has many distinct colours.
  const png = (n) => {
    // A gradient with noise: compresses well (a small upload) yet has many distinct colours.
    const raw = Buffer.alloc(n * n * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = ((i / 3) % n) * (200 / n) + ((i * 2654435761) >>> 28);
    return sharp(raw, { raw: { width: n, height: n, channels: 3 } }).png().toBuffer();
  };
  const content = await png(side);
  const style = await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 30, g: 80, b: 160 } } }).png().toBuffer();
  const described = await (await fetch(`${base}/api/methods/${method}`)).json();
  /** One job through the HTTP API; the server's RSS peak while it runs. */
  const runJob = async (bytes) => {
    const form = new FormData();
    form.append('method', method);
    form.append('content', new Blob([bytes]), 'c.png');
    if (described.inputs?.style !== 'none') form.append('style', new Blob([style]), 's.png');
    if (params !== undefined) form.append('params', params);
    const posted = await fetch(`${base}/api/jobs`, { method: 'POST', body: form });
    if (posted.status !== 201) throw new Error(`POST: ${posted.status} ${await posted.text()}`);
    const { id } = await posted.json();
    const t0 = performance.now();
    let peak = 0;
    for (;;) {
      peak = Math.max(peak, rssMB(server.pid));
      const job = await (await fetch(`${base}/api/jobs/${id}`)).json();
      if (['done', 'failed', 'cancelled'].includes(job.status)) return { status: job.status, peak, error: job.error?.message, seconds: (performance.now() - t0) / 1000 };
      await sleep(100);
    }
  };
  const settle = async (waits) => {
    const out = [];
    for (const wait of waits) {
      await sleep(wait);
      out.push(rssMB(server.pid));
    }
    return out;
  };
  await sleep(2000);
  const idle = rssMB(server.pid);
  // A small job of the same method first: the libraries it loads (ONNX Runtime, sharp's codecs)
  // stay mapped for the process's life, so "warm" is the baseline a big job should return to.
  const small = await runJob(await png(128));
  const [warm] = await settle([5000]);
  const warmArena = arenaMB(server.pid);
  const big = await runJob(content);
  const after = await settle([2000, 8000, 20000]);
  const afterArena = arenaMB(server.pid);
  // The same big job again (REPEAT times in all): memory must not pile up.
  const repeats = [];
  for (let i = 1; i < Number(process.env.REPEAT ?? 2); i++) {
    const again = await runJob(content);
    const [settled] = await settle([30000]);
    repeats.push({ ...again, settled, arena: arenaMB(server.pid) });
  }
  const f = (x) => x.toFixed(0);
  console.log(`${method} ${params ?? ''} on ${side}×${side} (${(content.length / 1024).toFixed(0)} KB PNG): ${big.status}${big.error ? ` (${big.error})` : ''}, again ${repeats.map((r) => `${r.status}${r.error ? ` (${r.error})` : ''}`).join(', ')}, small ${small.status}`);
  console.log(`RSS MB${process.env.ATELIER_MALLOC_TUNING === 'off' ? ' (ATELIER_MALLOC_TUNING=off)' : ''}: idle ${f(idle)}, after a 128² job ${f(warm)} (warm; ${f(warmArena)} in arena heaps), peak ${f(big.peak)}, after 2 s ${f(after[0])}, 10 s ${f(after[1])}, 30 s ${f(after[2])} (${(after[2] / warm).toFixed(2)}× warm, ${(after[2] / idle).toFixed(2)}× idle; ${f(afterArena)} in arena heaps; the job ${big.seconds.toFixed(1)} s); the same job again: ${repeats.map((r) => `peak ${f(r.peak)}, after 30 s ${f(r.settled)} (${f(r.arena)} in arena heaps; ${r.seconds.toFixed(1)} s)`).join('; ')}; load ${loadavg()[0].toFixed(1)}`);
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
}
