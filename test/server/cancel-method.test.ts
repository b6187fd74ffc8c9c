import { afterAll, expect, it } from 'vitest';
import { encodeImage } from '../../src/core/io.js';
import { buildServer } from '../../src/server/app.js';
import type { JobEvent } from '../../src/server/jobs/job-events.js';
import { noiseImage, tempDir } from '../helpers/fixtures.js';
import { submit, waitFinished } from './helpers.js';

/**
 * DELETE reaches a method mid-run: an iterative method (Gatys, seeded random weights, so nothing
 * to download) is cancelled after a few optimiser steps and stops at its next check of the signal.
 */

const iterative = 'neural.gatys';
const tmp = tempDir('atelier-cancel-');
afterAll(() => tmp.cleanup());

it('a running method stops at its next step when its job is cancelled', async () => {
  const app = await buildServer({ dataDir: tmp.dir, execution: 'inline', studio: false });
  try {
    const png = await encodeImage(noiseImage(40, 32, 3), 'png');
    const params = { weights: 'random', iterations: 10_000, size: 32, pyramid: 1, optimizer: 'adam' };
    const job = (await submit(app, [['method', iterative], ['params', JSON.stringify(params)], ['content', { bytes: png }], ['style', { bytes: png }]])).json();
    let steps = 0;
    let cancelledAt = 0;
    let stepsAfterCancel = 0;
    const unsubscribe = app.atelier.events.subscribe(job.id, (e: JobEvent) => {
      if (e.type !== 'progress' || e.event.type !== 'step') return;
      steps++;
      if (cancelledAt) stepsAfterCancel++;
      if (steps === 3) {
        cancelledAt = Date.now();
        void app.inject({ method: 'DELETE', url: `/api/jobs/${job.id}` }).then((r) => expect(r.statusCode).toBe(202));
      }
    });
    const final = await waitFinished(app, job.id, 60_000);
    unsubscribe();
    expect(final.status).toBe('cancelled');
    expect(final.error.code).toBe('E_ABORTED');
    expect(steps).toBeLessThan(100); // nowhere near its 10 000 iterations
    expect(stepsAfterCancel).toBeLessThanOrEqual(2);
    expect(Date.now() - cancelledAt).toBeLessThan(5_000);
  } finally {
    await app.close();
  }
}, 90_000);
