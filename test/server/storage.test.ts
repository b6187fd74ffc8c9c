import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { HeldExecutor } from './held-executor.mjs';
import { InlineExecutor } from '../../src/server/jobs/executor.js';
import { parseSize } from '../../src/cli/serve.js';
import { tempDir } from '../helpers/fixtures.js';
import { samplePngs, submit, waitFinished, waitRunning } from './helpers.js';

/** Jobs run inline, each held `held.holdMs` first where a test needs one still running (see held-executor.mjs). */
const held = new HeldExecutor(new InlineExecutor());

/**
 * Bounded disk: inputs and results stored once by content, finished jobs deletable (their files go
 * when no other job names them), retention by age and by size at start, a capped queue; all of it
 * across restarts.
 */

const tmp = tempDir('atelier-storage-');
afterAll(() => tmp.cleanup());
afterEach(() => {
  held.holdMs = 0;
});

function blobFiles(dataDir: string): string[] {
  const dir = path.join(dataDir, 'blobs');
  return readdirSync(dir, { recursive: true }).map(String).filter((n) => n.includes(path.sep));
}

async function start(dataDir: string, extra: Partial<Parameters<typeof buildServer>[0]> = {}): Promise<AtelierServer> {
  return buildServer({ dataDir, executor: held, concurrency: 1, studio: false, ...extra });
}

async function reinhard(app: AtelierServer, content: Buffer, style: Buffer) {
  const r = await submit(app, [['method', 'color.reinhard'], ['content', { bytes: content }], ['style', { bytes: style }]]);
  expect(r.statusCode, r.body).toBe(201);
  return r.json().id as string;
}

describe('content-addressed storage and deletion', () => {
  it('stores a file uploaded twice once; DELETE of a finished job frees only what no other job names; it all survives a restart', async () => {
    const dataDir = tmp.file('cas');
    const { content, style, flat } = await samplePngs(48, 32);
    let app = await start(dataDir);
    const a = await reinhard(app, content, style);
    const b = await reinhard(app, content, style);
    await waitFinished(app, a);
    await waitFinished(app, b);
    // content, style, and one result (the same inputs give the same PNG): 3 files for 2 jobs.
    expect(blobFiles(dataDir)).toHaveLength(3);
    const c = await reinhard(app, flat, style);
    await waitFinished(app, c);
    expect(blobFiles(dataDir)).toHaveLength(5); // + flat content, + its result
    await app.close();

    // Restart: everything is still there and readable.
    app = await start(dataDir);
    expect((await app.inject({ url: `/api/jobs/${a}/result` })).statusCode).toBe(200);
    const delA = await app.inject({ method: 'DELETE', url: `/api/jobs/${a}` });
    expect(delA.statusCode).toBe(200);
    expect(delA.json()).toMatchObject({ deleted: a, freedBytes: 0 }); // b still names all of a's files
    expect((await app.inject({ url: `/api/jobs/${a}` })).statusCode).toBe(404);
    expect(blobFiles(dataDir)).toHaveLength(5);
    const delB = await app.inject({ method: 'DELETE', url: `/api/jobs/${b}` });
    expect(delB.json().freedBytes).toBeGreaterThan(0);
    expect(blobFiles(dataDir)).toHaveLength(3); // c's content and result, and the style it shares
    expect((await app.inject({ url: `/api/jobs/${c}/inputs/style-0` })).statusCode).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: `/api/jobs/${c}` })).statusCode).toBe(200);
    expect(blobFiles(dataDir)).toHaveLength(0);
    await app.close();
  });

  it('DELETE cancels a waiting job, and a second DELETE removes it', async () => {
    const dataDir = tmp.file('cancel-delete');
    const { content, style } = await samplePngs(32, 24);
    const app = await start(dataDir);
    try {
      held.holdMs = 60_000;
      const running = await reinhard(app, content, style);
      await waitRunning(app, running);
      const waiting = await reinhard(app, content, style);
      const first = await app.inject({ method: 'DELETE', url: `/api/jobs/${waiting}` });
      expect(first.statusCode).toBe(200);
      expect(first.json().status).toBe('cancelled');
      const second = await app.inject({ method: 'DELETE', url: `/api/jobs/${waiting}` });
      expect(second.json()).toMatchObject({ deleted: waiting });
      expect((await app.inject({ method: 'DELETE', url: `/api/jobs/${running}` })).statusCode).toBe(202);
      await waitFinished(app, running);
    } finally {
      await app.close();
    }
  });
});

describe('retention and limits', () => {
  it('--keep-days and --max-disk delete finished jobs at start, never waiting ones; orphan files of a killed server go', async () => {
    const dataDir = tmp.file('retention');
    const { content, style, flat } = await samplePngs(40, 30);
    let app = await start(dataDir);
    const done1 = await reinhard(app, content, style);
    await waitFinished(app, done1);
    const done2 = await reinhard(app, flat, style);
    await waitFinished(app, done2);
    await app.close();
    // A blob written by a server killed before it recorded the job, and a temp file of a cut write.
    mkdirSync(path.join(dataDir, 'blobs', 'ff'), { recursive: true });
    writeFileSync(path.join(dataDir, 'blobs', 'ff', 'f'.repeat(64)), 'orphan');
    writeFileSync(path.join(dataDir, 'blobs', 'ff', `.${'f'.repeat(64)}.99999.deadbeef.tmp`), 'cut');

    // Size: the oldest finished job goes until the images fit; the orphans go too.
    const before = blobFiles(dataDir).length;
    app = await start(dataDir, { maxDiskBytes: 1 });
    expect((await app.inject({ url: `/api/jobs/${done1}` })).statusCode).toBe(404);
    expect((await app.inject({ url: `/api/jobs/${done2}` })).statusCode).toBe(404);
    expect(blobFiles(dataDir)).toHaveLength(0);
    expect(before).toBe(7); // content, flat, style, 2 results, the orphan and the temp file
    await app.close();

    // Age: keep-days 0 deletes every finished job, a waiting one stays and still runs.
    app = await start(dataDir);
    const old = await reinhard(app, content, style);
    await waitFinished(app, old);
    held.holdMs = 60_000;
    const busy = await reinhard(app, content, style);
    await waitRunning(app, busy);
    const queued = await reinhard(app, flat, style);
    await app.close(); // busy is interrupted: it will run again
    held.holdMs = 0;
    app = await start(dataDir, { keepDays: 0 });
    expect((await app.inject({ url: `/api/jobs/${old}` })).statusCode).toBe(404);
    expect((await waitFinished(app, busy)).status).toBe('done');
    expect((await waitFinished(app, queued)).status).toBe('done');
    await app.close();
  });

  it('a full queue answers 503 E_BUSY with Retry-After', async () => {
    const { content, style } = await samplePngs(32, 24);
    const app = await start(tmp.file('cap'), { maxQueue: 1 });
    try {
      held.holdMs = 60_000;
      const running = await reinhard(app, content, style);
      await waitRunning(app, running);
      await reinhard(app, content, style); // waits: the queue is now full
      const r = await submit(app, [['method', 'color.reinhard'], ['content', { bytes: content }], ['style', { bytes: style }]]);
      expect(r.statusCode).toBe(503);
      expect(r.headers['retry-after']).toBe('30');
      expect(r.json().error).toMatchObject({ code: 'E_BUSY' });
      expect(r.json().error.message).toMatch(/queue is full.*at most 1 waiting jobs \(--max-queue\)/);
    } finally {
      await app.close();
    }
  });

  it('--max-disk sizes', () => {
    expect(parseSize('500M', '--max-disk')).toBe(500 * 1024 ** 2);
    expect(parseSize('1.5G', '--max-disk')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('300', '--max-disk')).toBe(300 * 1024 ** 2);
    expect(() => parseSize('lots', '--max-disk')).toThrow(/expected a size such as 500M/);
  });
});
