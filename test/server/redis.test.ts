import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { tempDir } from '../helpers/fixtures.js';
import { ffprobeJson, HAS_FFMPEG, makeClip } from '../helpers/video-clips.js';
import { parseSse, samplePngs, submit, waitFinished, waitRunning } from './helpers.js';
import { startHeld, type Child } from './processes.js';

/**
 * Scale-out on a real Redis (Debian's redis-server, started here on a loopback port): the server
 * queues on BullMQ, two `atelier worker` processes share the jobs, a worker killed mid-job has its
 * job re-queued to the other, cancellation reaches the worker running the job; video jobs run on
 * the workers too, with the preview and the MP4 coming back, and a video job whose worker is killed
 * continues on the other from the frames kept in the work folder they share (one machine).
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
    // Workers whose jobs are each held 700 ms so that both get some; locks expire after 2 s; video
    // jobs keep their frames in one work folder, as workers on one machine would.
    workers.push(...(await Promise.all([startHeld('worker', url, 700, 2000, tmp.file('worker-work')), startHeld('worker', url, 700, 2000, tmp.file('worker-work'))])));
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

  it.skipIf(!HAS_FFMPEG)('runs a video job on a worker: progress, a preview, the MP4 with its audio, nothing left in the work folder', async () => {
    const clip = readFileSync(makeClip(tmp.dir, 'clip.mp4', { frames: 8, audio: true }));
    const created = (
      await submit(app, [
        ['method', 'color.reinhard'],
        ['video', { bytes: clip, filename: 'clip.mp4', type: 'video/mp4' }],
        ['style', { bytes: pngs.style }],
      ])
    ).json();
    expect(created).toMatchObject({ kind: 'video', links: { preview: `/api/jobs/${created.id}/preview` } });
    const job = await waitFinished(app, created.id, 60_000);
    expect(job, JSON.stringify(job.error)).toMatchObject({ status: 'done', meta: { kind: 'video', frames: 8, resumedFrames: 0, temporal: 'flow' } });
    expect(workers.map(workerId)).toContain(job.meta.worker);
    const result = await app.inject({ url: `/api/jobs/${created.id}/result` });
    expect(result.headers['content-type']).toBe('video/mp4');
    const file = tmp.file('redis-result.mp4');
    writeFileSync(file, result.rawPayload);
    const probe = ffprobeJson(file, 'stream=codec_type,nb_frames') as { streams: { codec_type: string; nb_frames: string }[] };
    expect(probe.streams).toEqual(expect.arrayContaining([{ codec_type: 'video', nb_frames: '8' }, expect.objectContaining({ codec_type: 'audio' })]));
    const preview = await app.inject({ url: `/api/jobs/${created.id}/preview` });
    expect(preview.statusCode).toBe(200);
    expect(preview.rawPayload.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(readdirSync(tmp.file('worker-work'))).toEqual([]);
    const redis = new Redis(url);
    expect(await redis.keys('atelier-jobs:preview:*')).toEqual([]);
    redis.disconnect();
  }, 90_000);

  it.skipIf(!HAS_FFMPEG)('a video job whose worker is killed continues on another from the frames it kept', async () => {
    workers.push(await startHeld('worker', url, 0, 2000, tmp.file('worker-work')));
    // A slower method, so the kill lands mid-run; finished frames are saved 16 at a time.
    const clip = readFileSync(makeClip(tmp.dir, 'long.mp4', { frames: 24 }));
    const created = (
      await submit(app, [
        ['method', 'patch.synthesis'],
        ['params', JSON.stringify({ levels: 1, iterations: 1, patchSize: 9 })],
        ['video', { bytes: clip, filename: 'long.mp4', type: 'video/mp4' }],
        ['style', { bytes: pngs.style }],
      ])
    ).json();
    const until = Date.now() + 60_000;
    let victim: Child | undefined;
    while (!victim && Date.now() < until) {
      const job = (await app.inject({ url: `/api/jobs/${created.id}` })).json();
      expect(job.status).not.toBe('done');
      if (job.progress >= 17 / 24) victim = workers.find((w) => w.log().includes(`running ${created.id}`));
      else await new Promise((r) => setTimeout(r, 20));
    }
    expect(victim).toBeDefined();
    await victim!.kill('SIGKILL');
    workers.splice(workers.indexOf(victim!), 1);
    const done = await waitFinished(app, created.id, 120_000);
    expect(done, JSON.stringify(done.error)).toMatchObject({ status: 'done', meta: { frames: 24 } });
    expect(done.meta.worker).not.toBe(workerId(victim!));
    expect(done.meta.resumedFrames).toBeGreaterThanOrEqual(16);
  }, 200_000);
});
