// Load check for `atelier serve`: 50 jobs submitted at once over loopback HTTP, all must complete
// (none lost) with the server's memory bounded. Throughput in jobs/min for color.reinhard at 512²,
// compared in the same run with the peer "no server at all": the same method called through the
// library in one process (so the ratio is the server's overhead: upload, sniffing, SQLite, files,
// threads, PNG encoding, HTTP). With redis-server installed, also BullMQ with two workers.
// Usage: npm run bench -- server   (BENCH_JOBS=50 BENCH_RUNS=3 to change the load)
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import sharp from 'sharp';
import { stylize } from '../dist/index.js';
import { encodeImage } from '../dist/core/io.js';
import { median } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const JOBS = Number(process.env.BENCH_JOBS ?? 50);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZE = 512;
const METHOD = 'color.reinhard';


async function images() {
  const w = SIZE;
  const a = Buffer.alloc(w * w * 3);
  const b = Buffer.alloc(w * w * 3);
  for (let i = 0; i < w * w; i++) {
    const x = i % w;
    const y = (i / w) | 0;
    a.set([(x * 255) / w, (y * 255) / w, 128 + 100 * Math.sin((x + y) / 40)], 3 * i);
    b.set([200 + 50 * Math.sin(x / 17), (x * y) % 255, 60 + (y % 64)], 3 * i);
  }
  const raw = { raw: { width: w, height: w, channels: 3 } };
  return { content: await sharp(a, raw).png().toBuffer(), style: await sharp(b, raw).png().toBuffer() };
}

function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function start(args, prefix = 'listening on ') {
  const proc = spawn(process.execPath, [path.join(root, 'bin/atelier.js'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no answer from atelier ${args[0]}`)), 30_000);
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve({ proc, line: out.split('\n')[0].replace(prefix, '') });
      }
    });
    proc.once('exit', (code) => reject(new Error(`atelier ${args[0]} exited with ${code}`)));
  });
}

async function stop(proc) {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

/** Submit JOBS at once, wait for all; returns seconds, lost count and peak RSS of the watched pids. */
async function loadRun(base, pngs, pids) {
  let peak = 0;
  const sampler = setInterval(() => {
    const total = pids.map(rssMb).reduce((s, v) => s + (Number.isFinite(v) ? v : 0), 0);
    peak = Math.max(peak, total);
  }, 50);
  const t0 = performance.now();
  const ids = await Promise.all(
    Array.from({ length: JOBS }, async () => {
      const form = new FormData();
      form.append('method', METHOD);
      form.append('content', new Blob([pngs.content]), 'c.png');
      form.append('style', new Blob([pngs.style]), 's.png');
      const r = await fetch(`${base}/api/jobs`, { method: 'POST', body: form });
      if (r.status !== 201) throw new Error(`submit: ${r.status} ${await r.text()}`);
      return (await r.json()).id;
    }),
  );
  const pending = new Set(ids);
  const deadline = Date.now() + 20 * 60_000;
  let failed = 0;
  while (pending.size > 0 && Date.now() < deadline) {
    const { jobs } = await (await fetch(`${base}/api/jobs?pageSize=100`)).json();
    for (const j of jobs) {
      if (!pending.has(j.id)) continue;
      if (j.status === 'done') pending.delete(j.id);
      else if (j.status === 'failed' || j.status === 'cancelled') {
        pending.delete(j.id);
        failed++;
      }
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 100));
  }
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  // Every result must be there, and be a 512² PNG.
  let missing = 0;
  for (const id of ids) {
    const r = await fetch(`${base}/api/jobs/${id}/result`);
    const ok = r.status === 200 && (await sharp(Buffer.from(await r.arrayBuffer())).metadata()).width === SIZE;
    if (!ok) missing++;
  }
  return { seconds, lost: pending.size + failed + missing, peakMb: peak };
}

async function libraryBaseline(pngs) {
  // The peer: no server, the library called directly, one job after another in one process.
  const times = [];
  for (let i = 0; i < 12; i++) {
    const t0 = performance.now();
    const r = await stylize(METHOD, { content: pngs.content, style: pngs.style });
    await encodeImage(r.image, 'png');
    times.push(performance.now() - t0);
  }
  return median(times.slice(2)); // first runs warm up
}

const pngs = await images();
const rows = [];
const libraryMs = await libraryBaseline(pngs);
rows.push({ setup: 'library, no server (peer)', jobsPerMin: 60_000 / libraryMs, medianSeconds: null, lost: 0, peakMb: null });

const work = mkdtempSync(path.join(tmpdir(), 'atelier-bench-server-'));
try {
  const embedded = [];
  for (let run = 0; run < RUNS; run++) {
    const dataDir = path.join(work, `embedded-${run}`);
    const { proc, line: base } = await start(['serve', '--port', '0', '--data-dir', dataDir, '--quiet']);
    const baseRss = rssMb(proc.pid);
    const r = await loadRun(base, pngs, [proc.pid]);
    embedded.push({ ...r, baseRss });
    await stop(proc);
  }
  rows.push({
    setup: `serve, embedded queue`,
    jobsPerMin: (JOBS / median(embedded.map((r) => r.seconds))) * 60,
    medianSeconds: median(embedded.map((r) => r.seconds)),
    lost: embedded.reduce((s, r) => s + r.lost, 0),
    peakMb: Math.max(...embedded.map((r) => r.peakMb)),
    idleMb: median(embedded.map((r) => r.baseRss)),
  });

  if (spawnSync('redis-server', ['--version']).status === 0) {
    const port = await freePort();
    const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));
    const url = `redis://127.0.0.1:${port}`;
    const redisRuns = [];
    try {
      for (let run = 0; run < RUNS; run++) {
        const server = await start(['serve', '--port', '0', '--data-dir', path.join(work, `redis-${run}`), '--redis', url, '--quiet']);
        const ws = await Promise.all([0, 1].map(() => start(['worker', '--redis', url, '--quiet'], 'worker ')));
        const r = await loadRun(server.line, pngs, [server.proc.pid, ...ws.map((w) => w.proc.pid)]);
        redisRuns.push(r);
        await Promise.all([server.proc, ...ws.map((w) => w.proc)].map(stop));
      }
    } finally {
      await stop(redis);
    }
    rows.push({
      setup: 'serve --redis + 2 workers',
      jobsPerMin: (JOBS / median(redisRuns.map((r) => r.seconds))) * 60,
      medianSeconds: median(redisRuns.map((r) => r.seconds)),
      lost: redisRuns.reduce((s, r) => s + r.lost, 0),
      peakMb: Math.max(...redisRuns.map((r) => r.peakMb)),
    });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const peer = rows[0].jobsPerMin;
console.log(`\nserver load: ${JOBS} jobs at once × ${RUNS} runs, ${METHOD} at ${SIZE}², ${availableParallelism()} cores (${cpus()[0]?.model ?? 'cpu'})`);
console.log('other engineers share this machine: absolute figures are noisy, the ratio less so\n');
console.log('setup                        jobs/min   vs library   median s   lost   peak RSS MB');
for (const r of rows) {
  console.log(
    `${r.setup.padEnd(28)} ${r.jobsPerMin.toFixed(0).padStart(8)}   ${(r.jobsPerMin / peer).toFixed(2).padStart(9)}×   ${r.medianSeconds === null ? '       -' : r.medianSeconds.toFixed(1).padStart(8)}   ${String(r.lost).padStart(4)}   ${r.peakMb === null ? '-' : r.peakMb.toFixed(0).padStart(11)}`,
  );
}
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(
  path.join(here, 'results', 'server.json'),
  JSON.stringify({ date: new Date().toISOString(), jobs: JOBS, runs: RUNS, size: SIZE, method: METHOD, cores: availableParallelism(), rows }, null, 2) + '\n',
);
if (rows.some((r) => r.lost > 0)) {
  console.error('some jobs were lost');
  process.exit(1);
}
