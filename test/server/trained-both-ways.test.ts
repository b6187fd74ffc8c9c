import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeImage, readImage, writeImage } from '../../src/core/io.js';
import { runMethod } from '../../src/core/stylize.js';
import { fast } from '../../src/methods/neural/fast.js';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { train } from '../../src/train/index.js';
import { runCli } from '../helpers/cli.js';
import { gradientImage, meanAbsDiff, noiseImage, stripesImage } from '../helpers/fixtures.js';
import { temporaryHome } from '../helpers/temporary-home.js';
import { multipart, waitFinished } from './helpers.js';

/**
 * One store, both ways: a fast network trained by `atelier train fast`'s path (the library's
 * `train()` with `--name`) is a model the HTTP API lists, offers among neural.fast's weights and
 * runs by name; one trained by a server training job runs by name from the CLI (a real `atelier
 * transfer` process), and each gives the pixels its weights give when read as a file. Tiny
 * trainings (small8, 32² crops, the seeded random loss network): the mechanics, not the look.
 */

const tmp = temporaryHome('atelier-both-ways-');
let app: AtelierServer;
let photo: Buffer;
let styleFile: string;
const recipe = { width: 'small8', size: 32, batch: 1, styleSize: 48, eval: 0, vgg: 'random' };

beforeAll(async () => {
  mkdirSync(tmp.file('photos'), { recursive: true });
  for (let i = 0; i < 3; i++) await writeImage(noiseImage(48, 40, i + 1), tmp.file(`photos/p${i}.png`));
  styleFile = tmp.file('stripes.png');
  await writeImage(stripesImage(48, 48, 6), styleFile);
  photo = await encodeImage(gradientImage(40, 32), 'png');
  app = await buildServer({ dataDir: tmp.file('data'), execution: 'inline', concurrency: 1, studio: false, trainingPhotos: tmp.file('photos') });
});

afterAll(async () => {
  await app?.close();
});

describe('models made here, CLI and server alike', () => {
  it('a network trained by the CLI runs over the API by name', async () => {
    const r = await train('fast', { out: tmp.file('cli-run'), iterations: 1, params: { ...recipe, style: styleFile, contentDir: tmp.file('photos'), name: 'cli-stripes' } });
    expect(r.model).toBe('cli-stripes');
    const listed = (await app.inject({ url: '/api/models' })).json().models.find((m: { name: string }) => m.name === 'cli-stripes');
    expect(listed).toMatchObject({ installed: true, network: 'fast', usedBy: ['neural.fast'], trained: { trainer: 'fast', iterations: 1, use: { method: 'neural.fast', param: 'model' } } });
    expect(listed.trained.job).toBeUndefined();
    const method = (await app.inject({ url: '/api/methods/neural.fast' })).json();
    expect(method.weights.find((w: { model: string }) => w.model === 'cli-stripes')).toMatchObject({ installed: true, trained: true });
    const body = await multipart([
      ['method', 'neural.fast'],
      ['params', JSON.stringify({ model: 'cli-stripes' })],
      ['content', { bytes: photo }],
    ]);
    const job = (await app.inject({ method: 'POST', url: '/api/jobs', payload: body.payload, headers: body.headers })).json();
    const done = await waitFinished(app, job.id, 120_000);
    expect(done.status, JSON.stringify(done.error)).toBe('done');
    const over = await readImage((await app.inject({ url: `/api/jobs/${job.id}/result` })).rawPayload);
    const local = await runMethod(fast, { content: await readImage(photo), extra: {} }, { model: r.installed! });
    expect(over.width).toBe(40);
    expect(meanAbsDiff(over, local.image)).toBeLessThan(1 / 255);
    // The server still never takes a path for it.
    const byPath = await multipart([
      ['method', 'neural.fast'],
      ['params', JSON.stringify({ model: r.installed })],
      ['content', { bytes: photo }],
    ]);
    const refused = await app.inject({ method: 'POST', url: '/api/jobs', payload: byPath.payload, headers: byPath.headers });
    expect([refused.statusCode, refused.json().error.code]).toEqual([400, 'E_PARAM']);
  }, 300_000);

  it('a network trained by a server job runs from the CLI by name', async () => {
    const form = await multipart([
      ['trainer', 'fast'],
      ['model', 'served-stripes'],
      ['iterations', '1'],
      ['params', JSON.stringify(recipe)],
      ['style', { bytes: await encodeImage(stripesImage(48, 48, 6), 'png') }],
    ]);
    const created = await app.inject({ method: 'POST', url: '/api/trainings', payload: form.payload, headers: form.headers });
    expect(created.statusCode, created.body).toBe(201);
    const done = await waitFinished(app, created.json().id, 240_000);
    expect(done.status, JSON.stringify(done.error)).toBe('done');
    expect(done.meta).toMatchObject({ model: 'served-stripes', trainer: 'fast', use: { method: 'neural.fast', param: 'model' } });
    const weights = path.join(tmp.file('home'), 'models', 'served-stripes', 'served-stripes.safetensors');
    const content = tmp.file('content.png');
    writeFileSync(content, photo);
    const out = tmp.file('served.png');
    const cli = runCli(['transfer', content, '--method', 'neural.fast', '--model', 'served-stripes', '-o', out, '--quiet'], { env: { ATELIER_HOME: tmp.file('home') } });
    expect(cli.status, cli.stderr).toBe(0);
    const local = await runMethod(fast, { content: await readImage(photo), extra: {} }, { model: weights });
    expect(meanAbsDiff(await readImage(out), local.image)).toBeLessThan(1 / 255);
    // `atelier models list` shows where it came from.
    const list = runCli(['models', 'list'], { env: { ATELIER_HOME: tmp.file('home') } });
    expect(list.stdout).toMatch(new RegExp(`served-stripes\\s+fast\\s+.*\\n\\s+made by server training job ${done.id} \\(fast\\), 1 iterations`));
    expect(list.stdout).toMatch(/cli-stripes\s+fast\s+.*\n\s+made by atelier train fast \(CLI\), 1 iterations/);
  }, 300_000);
});
