import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { tempDir } from '../helpers/fixtures.js';
import { parseSse, samplePngs, submit, waitFinished, waitRunning } from './helpers.js';
import { startHeld, type Child } from './processes.js';

/**
 * Scale-out on a real Redis (Debian's redis-server, started here on a loopback port): the server
 * queues on BullMQ, two `atelier worker` processes share the jobs, a worker killed mid-job has its
 * job re-queued to the other, cancellation reaches the worker running the job.
 */

const hasRedis = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;
if (!hasRedis) console.warn('redis tests skipped: no redis-server on PATH (scripts/system-deps.sh test installs it)');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe.skipIf(!hasRedis)('BullMQ scale-out', () => {
  const tmp = tempDir('atelier-redis-');
  let redis: ChildProcess;
  let url: string;
  let app: AtelierServer;
  const workers: Child[] = [];
  let pngs: Awaited<ReturnType<typeof samplePngs>>;
  const reinhard = (): [string, any][] => [
    ['method', 'color.reinhard'],
    ['content', { bytes: pngs.content }],
    ['style', { bytes: pngs.style }],
  ];

  beforeAll(async () => {
    pngs = await samplePngs();
    const port = await freePort();
    url = `redis://127.0.0.1:${port}`;
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp.dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis-server was not ready within 10 s: ${out}`)), 10_000);
      redis.stdout!.on('data', (d) => {
        out += String(d);
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      redis.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
    });
    const probe = new Redis(url);
    expect(await probe.ping()).toBe('PONG');
    probe.disconnect();
    app = await buildServer({ dataDir: tmp.file('data'), redis: url, studio: false });
    // Workers whose jobs are each held 700 ms so that both get some; locks expire after 2 s.
    workers.push(...(await Promise.all([startHeld('worker', url, 700, 2000), startHeld('worker', url, 700, 2000)])));
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill()));
    await app?.close();
    if (redis && redis.exitCode === null) {
      const exited = new Promise((r) => redis.once('exit', r));
      redis.kill('SIGTERM');
      await exited;
    }
    tmp.cleanup();
  });

  const workerId = (w: Child) => w.ready.replace(/^worker (.*) ready$/, '$1');

  it('two workers share the load and report progress back', async () => {
    expect((await app.inject({ url: '/healthz' })).json().queue).toBe('redis');
    const first = (await submit(app, reinhard())).json();
    const events = app.inject({ url: `/api/jobs/${first.id}/events` });
    const ids = [first.id];
    for (let i = 0; i < 5; i++) ids.push((await submit(app, reinhard())).json().id);
    const jobs = await Promise.all(ids.map((id) => waitFinished(app, id, 30_000)));
    expect(jobs.map((j) => j.status)).toEqual(jobs.map(() => 'done'));
    const byWorker = new Map<string, number>();
    for (const j of jobs) byWorker.set(j.meta.worker, (byWorker.get(j.meta.worker) ?? 0) + 1);
    expect([...byWorker.keys()].sort()).toEqual(workers.map(workerId).sort());
    for (const n of byWorker.values()) expect(n).toBeGreaterThanOrEqual(2);
    const stream = parseSse((await events).body);
    expect(stream.some((e) => e.event === 'progress' && e.data.type === 'start')).toBe(true);
    expect(stream.at(-1)!.event).toBe('done');
    const result = await app.inject({ url: `/api/jobs/${first.id}/result` });
    expect(result.statusCode).toBe(200);
    expect(result.headers['content-type']).toBe('image/png');
    // Redis holds nothing once the outcomes are recorded.
    expect((await app.inject({ url: '/healthz' })).json()).toMatchObject({ waiting: 0, running: 0 });
  });

  it('a job whose worker is killed mid-run is re-queued to the other worker', async () => {
    const job = (await submit(app, reinhard())).json();
    await waitRunning(app, job.id);
    // Whoever logged it first is running it.
    const until = Date.now() + 5_000;
    let victim: Child | undefined;
    while (!victim && Date.now() < until) {
      victim = workers.find((w) => w.log().includes(`running ${job.id}`));
      if (!victim) await new Promise((r) => setTimeout(r, 20));
    }
    expect(victim).toBeDefined();
    await victim!.kill('SIGKILL');
    const survivor = workers.find((w) => w !== victim)!;
    const done = await waitFinished(app, job.id, 30_000);
    expect(done.status).toBe('done');
    expect(done.meta.worker).toBe(workerId(survivor));
    workers.splice(workers.indexOf(victim!), 1);
  });

  it('cancels a waiting job in Redis and a running one on its worker', async () => {
    const a = (await submit(app, reinhard())).json();
    const b = (await submit(app, reinhard())).json();
    await waitRunning(app, a.id);
    const rb = await app.inject({ method: 'DELETE', url: `/api/jobs/${b.id}` });
    expect(rb.statusCode).toBe(200);
    expect(rb.json().status).toBe('cancelled');
    const ra = await app.inject({ method: 'DELETE', url: `/api/jobs/${a.id}` });
    expect(ra.statusCode).toBe(202);
    const final = await waitFinished(app, a.id, 10_000);
    expect(final.status).toBe('cancelled');
    expect(final.error.code).toBe('E_ABORTED');
    expect((await app.inject({ method: 'DELETE', url: `/api/jobs/${a.id}` })).json()).toMatchObject({ deleted: a.id });
  });
});
