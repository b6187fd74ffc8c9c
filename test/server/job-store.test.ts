import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { JobStore, isJobId } from '../../src/server/job-store.js';
import { tempDir } from '../helpers/fixtures.js';

/** The store's promises: outcomes are recorded once, interrupted runs go back to the queue, ids never become paths. */

const tmp = tempDir('atelier-store-');
afterAll(() => tmp.cleanup());

it('records a job through its life and survives reopening', async () => {
  const store = new JobStore(tmp.dir);
  const job = await store.create({ method: 'color.reinhard', params: { strength: 0.5 }, files: { content: Buffer.from('c'), 'style-0': Buffer.from('s') } });
  expect(isJobId(job.id)).toBe(true);
  expect(job).toMatchObject({ status: 'queued', attempts: 0, inputs: ['content', 'style-0'] });
  expect(String(await store.readInput(job.id, 'style-0'))).toBe('s');

  expect(store.markRunning(job.id)).toBe(true);
  store.close();
  // A crash while running: the next process puts it back in the queue.
  const again = new JobStore(tmp.dir);
  expect(again.get(job.id).status).toBe('running');
  expect(again.requeueInterrupted()).toBe(1);
  expect(again.idsWithStatus('queued')).toEqual([job.id]);
  expect(again.markRunning(job.id)).toBe(true);
  expect(again.get(job.id).attempts).toBe(2);

  expect(await again.markDone(job.id, Buffer.from('png'), { params: { strength: 0.5 }, meta: { w: 1 }, timings: { totalMs: 3 } })).toBe(true);
  // Finished is final: a late failure or a second result changes nothing.
  expect(again.markFinished(job.id, 'failed', { code: 'E_INTERNAL', message: 'late' })).toBe(false);
  expect(await again.markDone(job.id, Buffer.from('other'), { params: {}, meta: {}, timings: {} })).toBe(false);
  const done = again.get(job.id);
  expect(done).toMatchObject({ status: 'done', progress: 1, meta: { w: 1 } });
  expect(done.error).toBeUndefined();
  expect(String(await again.readResult(job.id))).toBe('png');
  // Inputs and result are content-addressed blobs; no temporary files are left behind.
  const blobs = readdirSync(path.join(tmp.dir, 'blobs'), { recursive: true }).map(String).filter((n) => n.includes(path.sep));
  expect(blobs).toHaveLength(3);
  expect(blobs.some((n) => n.endsWith('.tmp'))).toBe(false);
  expect(again.countByStatus()).toMatchObject({ done: 1, queued: 0 });
  again.close();
});

it('refuses ids that are not its own, without touching the filesystem', async () => {
  const store = new JobStore(tmp.file('other'));
  for (const id of ['../atelier.db', '..', '00000000-0000-4000-8000-000000000000', 'a'.repeat(500)]) {
    expect(() => store.get(id)).toThrow(expect.objectContaining({ code: 'E_JOB' }));
  }
  await expect(store.readResult('../../etc/passwd')).rejects.toMatchObject({ code: 'E_JOB' });
  expect(existsSync(tmp.file('other/atelier.db'))).toBe(true);
  store.close();
});
