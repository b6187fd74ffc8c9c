#!/usr/bin/env node
// Chaos run of the server and its workers (issue 20): JOBS jobs go to a real `atelier serve` (the
// embedded queue, or --redis with two `atelier worker`s) while processes are killed with SIGKILL
// at random moments and started again on the same data. At the end every acknowledged job must
// have ended exactly once (done; a final restart runs nothing again), its result byte-identical to
// the same run in the library (a clean run), no blob left that no job names, no temp file behind.
//   node bench/chaos.mjs [--jobs 200] [--kills 8] [--mode embedded|redis|both] [--seed 1]
// (`npm run build` first; redis mode needs redis-server on PATH). test/server/chaos.test.ts runs a
// small one by default.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin/atelier.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sha = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** A small deterministic PRNG (mulberry32): the same seed, the same kill moments and inputs. */
function prng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function start(args, log) {
  const proc = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr.on('data', (d) => log.push(String(d)));
  const exited = new Promise((r) => proc.once('exit', r));
  const ready = new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += String(d);
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    proc.once('exit', (code) => reject(new Error(`atelier ${args[0]} exited (${code}) before it was ready: ${log.join('').slice(-500)}`)));
  });
  return { proc, ready, kill: async (signal = 'SIGKILL') => { if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal); await exited; } };
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath ?? e.path, e.name));
}

/**
 * One chaos run. Returns the figures and the list of violations (empty when every rule held).
 * `mode`: 'embedded' kills the server; 'redis' kills a worker most times and the server sometimes.
 */
export async function runChaos({ jobs = 200, kills = 8, mode = 'embedded', seed = 1, side = 96 } = {}) {
  const { default: sharp } = await import('sharp');
  const { stylize } = await import(pathToFileURL(path.join(root, 'dist/methods/index.js')).href);
  const { encodeImage } = await import(pathToFileURL(path.join(root, 'dist/core/io.js')).href);
  const rand = prng(seed);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'atelier-chaos-'));
  const log = [];
  const violations = [];
  let redis;
  let redisUrl;
  const children = { server: undefined, workers: [] };
  try {
    // Inputs: a few contents and one style; each job has its own strength, so results differ.
    const contents = [];
    for (let k = 0; k < 4; k++) {
      const raw = Buffer.alloc(side * side * 3);
      for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(255 * rand());
      contents.push(await sharp(raw, { raw: { width: side, height: side, channels: 3 } }).png().toBuffer());
    }
    const style = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 30, g: 90, b: 170 } } }).png().toBuffer();
    const specs = Array.from({ length: jobs }, (_, i) => ({ content: i % contents.length, strength: (1 + (i % 50)) / 50 }));
    // The clean run: the library on the same bytes.
    const expected = new Map();
    for (const s of specs) {
      const key = `${s.content}:${s.strength}`;
      if (expected.has(key)) continue;
      const r = await stylize('color.reinhard', { content: contents[s.content], style }, { strength: s.strength });
      expected.set(key, sha(await encodeImage(r.image, 'png')));
    }

    if (mode === 'redis') {
      const port = await freePort();
      redisUrl = `redis://127.0.0.1:${port}`;
      redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dataDir], { stdio: ['ignore', 'pipe', 'ignore'] });
      await new Promise((resolve, reject) => {
        let out = '';
        redis.stdout.on('data', (d) => ((out += String(d)), out.includes('Ready to accept') && resolve()));
        redis.once('exit', (c) => reject(new Error(`redis-server exited ${c}`)));
      });
    }
    const serveArgs = ['serve', '--port', '0', '--data-dir', path.join(dataDir, 'data'), '--concurrency', '1', '--quiet', ...(redisUrl ? ['--redis', redisUrl] : [])];
    const workerArgs = ['worker', '--redis', redisUrl, '--concurrency', '1', '--lock-duration', '2000', '--quiet'];
    let base;
    const startServer = async () => {
      children.server = start(serveArgs, log);
      base = (await children.server.ready).replace('listening on ', '');
    };
    const startWorker = async (i) => {
      children.workers[i] = start(workerArgs, log);
      await children.workers[i].ready;
    };
    await startServer();
    if (redisUrl) await Promise.all([startWorker(0), startWorker(1)]);

    const acked = new Map(); // job id → spec
    let unacked = 0;
    let killed = { server: 0, worker: 0 };
    let next = 0;
    // Submit from one loop while another kills; a POST cut by a kill is retried after the restart.
    const submitter = (async () => {
      while (next < specs.length) {
        const s = specs[next];
        const form = new FormData();
        form.append('method', 'color.reinhard');
        form.append('strength', String(s.strength));
        form.append('content', new Blob([contents[s.content]]), 'c.png');
        form.append('style', new Blob([style]), 's.png');
        try {
          const r = await fetch(`${base}/api/jobs`, { method: 'POST', body: form });
          if (r.status === 201) {
            acked.set((await r.json()).id, s);
            next++;
          } else if (r.status === 503) await sleep(200);
          else throw new Error(`POST answered ${r.status}: ${await r.text()}`);
        } catch (e) {
          if (String(e.message).startsWith('POST answered')) throw e;
          // Refused: no server was there, nothing can exist. Otherwise the server died under the
          // POST: the job may or may not exist. Either way, try again.
          if (e.cause?.code !== 'ECONNREFUSED') unacked++;
          await sleep(100);
        }
      }
    })();
    const killer = (async () => {
      for (let k = 0; k < kills; k++) {
        await sleep(200 + rand() * 1500);
        const victim = !redisUrl || rand() < 0.3 ? 'server' : 'worker';
        if (victim === 'server') {
          await children.server.kill('SIGKILL');
          killed.server++;
          await startServer();
        } else {
          const i = rand() < 0.5 ? 0 : 1;
          await children.workers[i].kill('SIGKILL');
          killed.worker++;
          await startWorker(i);
        }
      }
    })();
    await Promise.all([submitter, killer]);

    // Wait (bounded) for every acknowledged job to end.
    const until = Date.now() + 120_000 + jobs * 500;
    const final = new Map();
    for (const id of acked.keys()) {
      for (;;) {
        const r = await fetch(`${base}/api/jobs/${id}`).catch(() => undefined);
        const j = r && r.status === 200 ? await r.json() : undefined;
        if (j && ['done', 'failed', 'cancelled'].includes(j.status)) {
          final.set(id, j);
          break;
        }
        if (Date.now() > until) {
          violations.push(`job ${id} never ended (last: ${j?.status ?? 'unknown'})`);
          break;
        }
        await sleep(50);
      }
    }
    // Results identical to the clean run.
    const resultHashes = new Set();
    for (const [id, j] of final) {
      if (j.status !== 'done') {
        violations.push(`job ${id} ended ${j.status}: ${JSON.stringify(j.error)}`);
        continue;
      }
      const png = Buffer.from(await (await fetch(`${base}${j.links.result}`)).arrayBuffer());
      const s = acked.get(id);
      resultHashes.add(sha(png));
      if (sha(png) !== expected.get(`${s.content}:${s.strength}`)) violations.push(`job ${id}: result differs from the clean run`);
    }
    // Exactly once: a clean restart runs nothing again and changes no ending.
    await children.server.kill('SIGTERM');
    await startServer();
    await sleep(500);
    const stored = [];
    for (let page = 1; ; page++) {
      const r = await (await fetch(`${base}/api/jobs?page=${page}&pageSize=100`)).json();
      stored.push(...r.jobs);
      if (page >= r.pages) break;
    }
    for (const [id, j] of final) {
      const again = await (await fetch(`${base}/api/jobs/${id}`)).json();
      if (again.status !== j.status || again.attempts !== j.attempts || again.finishedAt !== j.finishedAt) violations.push(`job ${id} changed after a restart: ${j.status}/${j.attempts} → ${again.status}/${again.attempts}`);
    }
    const total = stored.length;
    // POSTs cut by a kill may have created a job the client never heard of: at most one each.
    if (total < acked.size || total > acked.size + unacked) violations.push(`the server holds ${total} jobs; ${acked.size} acknowledged, ${unacked} POSTs cut`);
    // Every stored job that the client did not hear of also ended.
    for (const j of stored) if (!['done', 'failed', 'cancelled'].includes(j.status)) violations.push(`job ${j.id} (unacknowledged) is still ${j.status}`);
    // No orphan blobs, no temp files.
    await children.server.kill('SIGTERM');
    children.server = undefined;
    const files = filesUnder(path.join(dataDir, 'data'));
    const temps = files.filter((f) => path.basename(f).endsWith('.tmp'));
    if (temps.length > 0) violations.push(`${temps.length} temp files left: ${temps.slice(0, 3).join(', ')}`);
    const blobs = new Set(files.filter((f) => f.includes(`${path.sep}blobs${path.sep}`) && !f.endsWith('.tmp')).map((f) => path.basename(f)));
    const named = new Set([...contents.map(sha), sha(style), ...resultHashes]);
    const orphans = [...blobs].filter((b) => !named.has(b));
    if (orphans.length > 0) violations.push(`${orphans.length} blob files no job names`);
    const missing = [...named].filter((h) => !blobs.has(h));
    if (missing.length > 0) violations.push(`${missing.length} inputs or results have no blob file`);
    return { mode, jobs, acknowledged: acked.size, unacknowledgedPosts: unacked, storedJobs: total, done: [...final.values()].filter((j) => j.status === 'done').length, lost: jobs - final.size, killed, rerun: [...final.values()].filter((j) => j.attempts > 1).length, violations };
  } finally {
    await children.server?.kill('SIGKILL');
    await Promise.all(children.workers.map((w) => w?.kill('SIGKILL')));
    if (redis && redis.exitCode === null) {
      const exited = new Promise((r) => redis.once('exit', r));
      redis.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const arg = (name, fallback) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
  const modeArg = arg('--mode', 'both');
  const hasRedis = spawnSync('redis-server', ['--version']).status === 0;
  const modes = modeArg === 'both' ? ['embedded', ...(hasRedis ? ['redis'] : [])] : [modeArg];
  let failed = false;
  for (const mode of modes) {
    const t0 = Date.now();
    const r = await runChaos({ jobs: Number(arg('--jobs', 200)), kills: Number(arg('--kills', 8)), mode, seed: Number(arg('--seed', 1)) });
    console.log(`${mode}: ${r.jobs} jobs, ${r.acknowledged} acknowledged, ${r.done} done, ${r.lost} lost, ${r.rerun} run again after a kill; kills survived: server ${r.killed.server}, worker ${r.killed.worker}; POSTs cut ${r.unacknowledgedPosts}, jobs stored ${r.storedJobs}; ${((Date.now() - t0) / 1000).toFixed(0)} s, load ${loadavg()[0].toFixed(1)}`);
    for (const v of r.violations) console.log(`  VIOLATION ${v}`);
    failed ||= r.violations.length > 0;
  }
  if (!hasRedis && modeArg === 'both') console.log('redis mode skipped: no redis-server on PATH');
  process.exit(failed ? 1 : 0);
}
