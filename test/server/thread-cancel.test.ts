import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { noiseImage, tempDir } from '../helpers/fixtures.js';
import { multipart } from './helpers.js';

/**
 * The server's job threads (the compiled build's ThreadExecutor) on a cancel that arrives while
 * ONNX Runtime is running a large session: Gatys at 512², where one step's run outlasts the 250 ms
 * grace after which the thread is ended. Ended inside that run, the thread took the whole server
 * process down ('terminate called after throwing an instance of Napi::Error'); it is now ended
 * between runs (engine/native-calls.ts), the job ends cancelled and the server closes cleanly.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const built = existsSync(path.join(root, 'dist/server/jobs/task-thread.js'));
if (!built) console.warn('thread cancel test skipped: no compiled build (run `npm run build`)');
const tmp = tempDir('atelier-thread-cancel-');
afterAll(() => tmp.cleanup());

it.skipIf(!built)('a neural job cancelled in the middle of an ONNX Runtime run ends cancelled, and the server lives on', async () => {
  const { buildServer } = (await import(path.join(root, 'dist/server/app.js'))) as typeof import('../../src/server/app.js');
  const { encodeImage } = (await import(path.join(root, 'dist/core/io.js'))) as typeof import('../../src/core/io.js');
  const app = await buildServer({ dataDir: tmp.dir, execution: 'thread', studio: false, concurrency: 1 });
  try {
    const png = await encodeImage(noiseImage(512, 512, 3), 'png');
    const params = { weights: 'random', iterations: 1000, size: 512, pyramid: 1 };
    const body = await multipart([['method', 'neural.gatys'], ['params', JSON.stringify(params)], ['content', { bytes: png }], ['style', { bytes: png }]]);
    const id = (await app.inject({ method: 'POST', url: '/api/jobs', payload: body.payload, headers: body.headers })).json().id as string;
    const status = async () => (await app.inject({ url: `/api/jobs/${id}` })).json() as { status: string; error?: { code: string } };
    await expect.poll(async () => (await status()).status, { timeout: 60_000, interval: 50 }).toBe('running');
    // Into the optimisation, where each step is one long run of the VGG-19 forward and backward.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await app.inject({ method: 'DELETE', url: `/api/jobs/${id}` })).statusCode).toBe(202);
    await expect.poll(async () => (await status()).status, { timeout: 30_000, interval: 20 }).toBe('cancelled');
    expect((await status()).error?.code).toBe('E_ABORTED');
    // The server process is still there to answer.
    expect((await app.inject({ url: '/api/jobs' })).statusCode).toBe(200);
  } finally {
    await app.close();
  }
}, 120_000);
