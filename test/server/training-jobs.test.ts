import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeImage, readImage } from '../../src/core/io.js';
import { readSafetensors } from '../../src/engine/weights/safetensors.js';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { registerTrainer } from '../../src/train/index.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { flatImage, gradientImage } from '../helpers/fixtures.js';
import { temporaryHome } from '../helpers/temporary-home.js';
import { tintTrainer } from '../helpers/tint-trainer.js';
import { multipart, parseSse, waitFinished, type FormValue } from './helpers.js';
import { startTintServer, waitJob } from './processes.js';

/**
 * Training as a server job, over the HTTP API, with a recipe small enough to run in milliseconds
 * (test/helpers/tint-trainer.ts: it learns the mean colour of its style images): the job reports
 * steps with their losses, writes checkpoints in its folder, installs its model in the store
 * (listed by /api/models); cancel keeps the last checkpoint and resume continues from it; a
 * restart resumes; a loss that goes NaN fails the job with E_NUMERIC and keeps the last good
 * checkpoint; bad input is refused before anything is stored. The real CAP-VSTNet recipe through
 * a killed server process is in training-restart.test.ts (ATELIER_SLOW=1).
 */

registerTrainer(tintTrainer);
const tmp = temporaryHome('atelier-trainjobs-');
const STYLE_RGB: [number, number, number] = [0.8, 0.4, 0.2];
let style: Buffer;
let photo: Buffer;
let app: AtelierServer;

async function start(dataDir = tmp.file('data')): Promise<AtelierServer> {
  return buildServer({ dataDir, execution: 'inline', concurrency: 1, studio: false, trainingPhotos: tmp.file('photos') });
}

async function postTraining(server: AtelierServer, fields: [string, FormValue][]) {
  const body = await multipart(fields);
  return server.inject({ method: 'POST', url: '/api/trainings', payload: body.payload, headers: body.headers });
}

const tint = (model: string, extra: [string, FormValue][] = []): [string, FormValue][] => [
  ['trainer', 'test-tint'],
  ['model', model],
  ['style', { bytes: style }],
  ...extra,
];

beforeAll(async () => {
  style = await encodeImage(flatImage(16, 16, STYLE_RGB), 'png');
  photo = await encodeImage(gradientImage(24, 16), 'png');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(tmp.file('photos'), { recursive: true });
  writeFileSync(tmp.file('photos/a.png'), photo);
  app = await start();
});

afterAll(async () => {
  await app?.close();
});

describe('training jobs', () => {
  it('lists the recipes with their forms: image params apart, studio defaults applied', async () => {
    const { trainers } = (await app.inject({ url: '/api/trainers' })).json();
    const capvst = trainers.find((t: { id: string }) => t.id === 'capvst');
    expect(Object.keys(capvst.images)).toEqual(['style', 'content']);
    expect(capvst.params.properties.content).toBeUndefined();
    expect(capvst.params.properties.size.default).toBe(32);
    expect(capvst.base).toEqual({ param: 'init', choices: ['random', 'installed'] });
    expect(trainers.find((t: { id: string }) => t.id === 'test-tint').loop.iterations).toBe(20);
    // LoRA: steps, rank and learning rate first, its image folders as uploads.
    const lora = trainers.find((t: { id: string }) => t.id === 'lora');
    expect(Object.keys(lora.images)).toEqual(['styleDir', 'contentDir']);
    expect(lora.basic).toEqual(['base', 'rank', 'lr']);
    expect(lora.params.properties.rank.default).toBe(4);
    // Every shipped recipe declares its studio form (test/server/training-recipes.test.ts checks each).
    expect(trainers.map((t: { id: string }) => t.id)).toContain('cyclegan');
  });

  it('trains, reports steps with losses, checkpoints in its folder and installs the model', async () => {
    const r = await postTraining(app, tint('tint-a', [['iterations', '30'], ['saveEvery', '10']]));
    expect(r.statusCode).toBe(201);
    const created = r.json();
    expect(created.kind).toBe('training');
    expect(created.params).toMatchObject({ model: 'tint-a', iterations: 30, saveEvery: 10, recipe: { crop: 4 } });
    // No photos uploaded: the server's photo set was stored with the job.
    expect(created.inputs).toEqual(['style-0', 'extra-content0']);
    const events = parseSse((await app.inject({ url: `/api/jobs/${created.id}/events` })).body);
    const done = await waitFinished(app, created.id);
    expect(done.status).toBe('done');
    expect(done.meta).toMatchObject({ kind: 'training', model: 'tint-a', iterations: 30, resumed: false });
    const steps = events.filter((e) => e.event === 'progress' && e.data.type === 'step').map((e) => e.data);
    expect(steps.length).toBeGreaterThan(0);
    expect(steps.at(-1)).toMatchObject({ step: 30, total: 30, label: 'train test-tint' });
    expect(Object.keys(steps.at(-1).values)).toEqual(['loss', 'seconds']);
    expect(events.at(-1)!.event).toBe('done');
    // The learnt colour is the style's mean, measured independently from the decoded upload.
    const img = await readImage(style);
    const n = img.width * img.height;
    const mean = [0, 1, 2].map((c) => img.data.subarray(c * n, (c + 1) * n).reduce((a, b) => a + b, 0) / n);
    const ckpt = await readCheckpoint(path.join(tmp.file('data'), 'jobs', created.id, 'training', 'last.safetensors'), 'atelier-test-tint-1');
    expect(ckpt.iteration).toBe(30);
    Array.from(ckpt.tensors.get('tint')!.data).forEach((v, c) => expect(v).toBeCloseTo(mean[c]!, 3));
    const models = (await app.inject({ url: '/api/models' })).json().models;
    const model = models.find((m: { name: string }) => m.name === 'tint-a');
    expect(model).toMatchObject({ installed: true, trained: { trainer: 'test-tint', iterations: 30, job: created.id } });
    expect(JSON.stringify(model)).not.toContain(tmp.dir);
    const installed = await readSafetensors(path.join(tmp.file('home'), 'models', 'tint-a', 'tint.safetensors'));
    expect(Array.from(installed.get('tint')!.data)).toEqual(Array.from(ckpt.tensors.get('tint')!.data));
    const losses = (await app.inject({ url: `/api/jobs/${created.id}/losses` })).json();
    expect(losses.records.map((x: { iteration: number }) => x.iteration)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    // No method runs this recipe's weights, so the result is the loss curve.
    const result = await app.inject({ url: `/api/jobs/${created.id}/result` });
    expect(result.headers['content-type']).toBe('image/png');
    // The same name again is refused, before anything is stored.
    const again = await postTraining(app, tint('tint-a'));
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('E_OUTPUT_EXISTS');
  });

  it('refuses bad input with the right code and stores nothing', async () => {
    const before = (await app.inject({ url: '/api/jobs' })).json().total;
    const cases: [[string, FormValue][], number, string, RegExp?][] = [
      [[['trainer', 'test-tint'], ['model', 'x1']], 400, 'E_INPUT_MISSING', /style images/],
      [tint('x2').map(([k, v]) => (k === 'style' ? [k, { bytes: Buffer.from('not an image at all') }] : [k, v])), 400, 'E_IMAGE_DECODE'],
      [tint('x3', [['iterations', 'NaN']]), 400, 'E_PARAM', /iterations/],
      [tint('x4', [['iterations', '-5']]), 400, 'E_PARAM', /iterations/],
      [tint('x5', [['params', JSON.stringify({ lr: -1 })]]), 400, 'E_PARAM', /lr/],
      [tint('x6', [['params', '{"lr": NaN}']]), 400, 'E_PARAM', /not valid JSON/],
      [tint('x7', [['params', JSON.stringify({ style: '/etc' })]]), 400, 'E_PARAM', /uploaded images/],
      [tint('x8').map(([k, v]) => (k === 'trainer' ? [k, 'capvts'] : [k, v])), 400, 'E_PARAM', /did you mean capvst/i],
      [tint('Not A Name'), 400, 'E_PARAM', /name for a trained model/],
      [tint('capvstnet_photo_image'.replace(/_/g, '-')).map(([k, v]) => (k === 'model' ? [k, 'vgg_normalised'] : [k, v])), 409, 'E_OUTPUT_EXISTS'],
      [[['trainer', 'capvst'], ['model', 'x9'], ['style', { bytes: style }], ['params', JSON.stringify({ init: '/tmp/ckpt.pt' })]], 400, 'E_PARAM'],
    ];
    for (const [fields, status, code, message] of cases) {
      const r = await postTraining(app, fields);
      expect([r.statusCode, r.json().error.code], JSON.stringify(fields.map(([k]) => k))).toEqual([status, code]);
      if (message) expect(r.json().error.message).toMatch(message);
      expect(r.body).not.toContain(tmp.dir);
    }
    expect((await app.inject({ url: '/api/jobs' })).json().total).toBe(before);
  });

  it('refuses a second training writing the same model; cancel keeps the checkpoint and resume continues from it', async () => {
    const slow = tint('tint-b', [['iterations', '40'], ['saveEvery', '5'], ['params', JSON.stringify({ msPerStep: 40 })]]);
    const job = (await postTraining(app, slow)).json();
    const twin = await postTraining(app, tint('tint-b'));
    expect(twin.statusCode).toBe(409);
    expect(twin.json().error.message).toContain(job.id);
    // Let it pass a few checkpoints, then cancel.
    const until = Date.now() + 10_000;
    while (Date.now() < until && !existsSync(path.join(tmp.file('data'), 'jobs', job.id, 'training', 'last.safetensors'))) await new Promise((r) => setTimeout(r, 20));
    expect((await app.inject({ method: 'DELETE', url: `/api/jobs/${job.id}` })).statusCode).toBe(202);
    const cancelled = await waitFinished(app, job.id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.links.resume).toBe(`/api/jobs/${job.id}/resume`);
    const kept = await readCheckpoint(path.join(tmp.file('data'), 'jobs', job.id, 'training', 'last.safetensors'), 'atelier-test-tint-1');
    expect(kept.iteration).toBeGreaterThan(0);
    expect(kept.iteration).toBeLessThan(40);
    expect((await app.inject({ url: '/api/models' })).json().models.some((m: { name: string }) => m.name === 'tint-b')).toBe(false);
    // Resume, training longer than first asked.
    const resumed = await app.inject({ method: 'POST', url: `/api/jobs/${job.id}/resume`, payload: { iterations: 45 } });
    expect(resumed.statusCode).toBe(202);
    expect(resumed.json()).toMatchObject({ id: job.id, status: 'queued', params: { iterations: 45 } });
    const done = await waitFinished(app, job.id);
    expect(done).toMatchObject({ status: 'done', attempts: 2, meta: { resumed: true, iterations: 45 } });
    const records = (await app.inject({ url: `/api/jobs/${job.id}/losses` })).json().records as { iteration: number }[];
    expect(records.map((x) => x.iteration)).toEqual(Array.from({ length: 45 }, (_, i) => i));
    expect((await app.inject({ method: 'POST', url: `/api/jobs/${job.id}/resume` })).json().error.code).toBe('E_JOB');
  });

  it('fails a training whose loss goes NaN with E_NUMERIC and keeps the last good checkpoint', async () => {
    const job = (await postTraining(app, tint('tint-nan', [['iterations', '60'], ['saveEvery', '2'], ['params', JSON.stringify({ lr: 1e10 })]]))).json();
    const failed = await waitFinished(app, job.id);
    expect(failed.status).toBe('failed');
    expect(failed.error.code).toBe('E_NUMERIC');
    expect(failed.error.message).toMatch(/diverged: .* became .* at iteration \d+; the last good checkpoint \(iteration \d+\) is kept/);
    const at = Number(/checkpoint \(iteration (\d+)\)/.exec(failed.error.message)![1]);
    const kept = await readCheckpoint(path.join(tmp.file('data'), 'jobs', job.id, 'training', 'last.safetensors'), 'atelier-test-tint-1');
    expect(kept.iteration).toBe(at);
    expect(Array.from(kept.tensors.get('tint')!.data).every(Number.isFinite)).toBe(true);
    expect((await app.inject({ url: '/api/models' })).json().models.some((m: { name: string }) => m.name === 'tint-nan')).toBe(false);
  });

  it('resumes from its last checkpoint after the server stops mid-training', async () => {
    const dataDir = tmp.file('restart');
    let first = await start(dataDir);
    const job = (await postTraining(first, tint('tint-r', [['iterations', '30'], ['saveEvery', '3'], ['params', JSON.stringify({ msPerStep: 30 })]]))).json();
    const ckpt = path.join(dataDir, 'jobs', job.id, 'training', 'last.safetensors');
    const until = Date.now() + 10_000;
    while (Date.now() < until && !existsSync(ckpt)) await new Promise((r) => setTimeout(r, 20));
    await first.close();
    const second = await start(dataDir);
    try {
      const done = await waitFinished(second, job.id);
      expect(done, JSON.stringify(done.error)).toMatchObject({ status: "done", attempts: 2, meta: { resumed: true, iterations: 30 } });
      expect((await readCheckpoint(ckpt, 'atelier-test-tint-1')).iteration).toBe(30);
    } finally {
      await second.close();
    }
  });

  it('resumes from its last checkpoint after its server process is killed (SIGKILL)', async () => {
    const dataDir = tmp.file('killed');
    const first = await startTintServer(dataDir, tmp.file('photos'));
    try {
      const base = first.ready.replace('listening on ', '');
      const body = await multipart(tint('tint-killed', [['iterations', '40'], ['saveEvery', '4'], ['params', JSON.stringify({ msPerStep: 50 })]]));
      const job = (await (await fetch(`${base}/api/trainings`, { method: 'POST', body: new Uint8Array(body.payload), headers: body.headers })).json()) as { id: string };
      const ckpt = path.join(dataDir, 'jobs', job.id, 'training', 'last.safetensors');
      const until = Date.now() + 20_000;
      while (Date.now() < until && !existsSync(ckpt)) await new Promise((r) => setTimeout(r, 20));
      await first.kill('SIGKILL');
      const killedAt = (await readCheckpoint(ckpt, 'atelier-test-tint-1')).iteration;
      expect(killedAt).toBeGreaterThan(0);
      expect(killedAt).toBeLessThan(40);
      const second = await startTintServer(dataDir, tmp.file('photos'));
      try {
        const base2 = second.ready.replace('listening on ', '');
        const done = await waitJob(base2, job.id, (j) => j.status !== 'running' && j.status !== 'queued', 30_000);
        expect(done, JSON.stringify(done.error)).toMatchObject({ status: 'done', attempts: 2, meta: { resumed: true, iterations: 40 } });
        const records = ((await (await fetch(`${base2}/api/jobs/${job.id}/losses`)).json()) as { records: { iteration: number }[] }).records;
        expect(records.map((x) => x.iteration)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      } finally {
        await second.kill();
      }
    } finally {
      await first.kill();
    }
  }, 60_000);

  it('offers a trained CAP-VSTNet model among neural.capvst weights and runs it by name', async () => {
    // Installed the way a training job installs it, from weights in CAP-VSTNet's layout.
    const { addTrainedModel } = await import('../../src/engine/store.js');
    const { randomCapVstTensors } = await import('../../src/engine/nets/capvst/state-dict.js');
    const { writeSafetensors } = await import('../../src/engine/weights/safetensors.js');
    const file = tmp.file('capvst-photoreal.safetensors');
    await writeSafetensors(file, [...randomCapVstTensors('photoreal', 3).values()]);
    await addTrainedModel('my-capvst', { description: 'test', network: 'capvst', trained: { trainer: 'capvst', iterations: 1, createdAt: new Date().toISOString(), use: { method: 'neural.capvst', param: 'weights', params: { mode: 'photoreal' } } }, files: [{ path: 'capvst-photoreal.safetensors', from: file }] });
    const method = (await app.inject({ url: '/api/methods/neural.capvst' })).json();
    expect(method.weights.find((x: { model: string }) => x.model === 'my-capvst')).toMatchObject({ installed: true, trained: true, when: { weights: ['my-capvst'] } });
    const body = await multipart([
      ['method', 'neural.capvst'],
      ['params', JSON.stringify({ weights: 'my-capvst', maxSize: 32 })],
      ['content', { bytes: photo }],
      ['style', { bytes: style }],
    ]);
    const job = (await app.inject({ method: 'POST', url: '/api/jobs', payload: body.payload, headers: body.headers })).json();
    const done = await waitFinished(app, job.id, 60_000);
    expect(done.status, JSON.stringify(done.error)).toBe('done');
    expect(done.meta.weights).toBe('my-capvst');
    // And as the base of a new CAP-VSTNet training.
    const capvst = (await app.inject({ url: '/api/trainers/capvst' })).json();
    expect(capvst.base.choices).toEqual(['random', 'installed', 'my-capvst']);
  }, 90_000);

  it('offers the installed fast networks as the fast recipe\'s base model, the width then the base network\'s', async () => {
    const before = (await app.inject({ url: '/api/trainers/fast' })).json();
    // Nothing installed: only "none" (a new network), and the width is the form's.
    expect(before.base).toEqual({ param: 'from', choices: [], none: expect.stringMatching(/^none/), sets: ['width'] });
    // A fast network made here (by a training, or `atelier lora merge`) is a base: its store entry says `fast`.
    const { addTrainedModel } = await import('../../src/engine/store.js');
    const { writeSafetensors } = await import('../../src/engine/weights/safetensors.js');
    const { randomTransformerNetWeights, PYTORCH_EXAMPLES_NET } = await import('../../src/engine/nets/transformer-net.js');
    const { trainedFastMetadata } = await import('../../src/engine/nets/fast-style/trained.js');
    const spec = { ...PYTORCH_EXAMPLES_NET, width: 8 };
    const file = tmp.file('my-fast.safetensors');
    await writeSafetensors(file, randomTransformerNetWeights(3, spec).values(), { metadata: trainedFastMetadata(spec, 1) });
    await addTrainedModel('my-fast', { description: 'test', network: 'fast', trained: { trainer: 'fast', iterations: 1, createdAt: new Date().toISOString(), use: { method: 'neural.fast', param: 'model' } }, files: [{ path: 'my-fast.safetensors', from: file }] });
    // Another kind of network is no base for it.
    expect((await app.inject({ url: '/api/trainers/fast' })).json().base.choices).toEqual(['my-fast']);
    // Chosen, the studio's starting width (small8) is not applied: the base network fixes it.
    const fast = (from: string, model: string): [string, FormValue][] => [['trainer', 'fast'], ['model', model], ['style', { bytes: style }], ['iterations', '1'], ['params', JSON.stringify({ from, vgg: 'random', size: 32, styleSize: 32, batch: 1, eval: 0 })]];
    const r = await postTraining(app, fast('my-fast', 'warm-fast'));
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json().params.recipe).toMatchObject({ from: 'my-fast', size: 32 });
    expect(r.json().params.recipe.width).toBeUndefined();
    if (process.env.ATELIER_SLOW) {
      // A real step (about 10 s of ORT compile): it started from that network, so the installed result has its width (8 base channels, not the 32 of a new one).
      const done = await waitFinished(app, r.json().id, 120_000);
      expect(done.status, JSON.stringify(done.error)).toBe('done');
      const { readTrainedFastHeader } = await import('../../src/engine/nets/fast-style/trained.js');
      const trained = await readTrainedFastHeader(path.join(tmp.file('home'), 'models', 'warm-fast', 'warm-fast.safetensors'));
      expect(trained.spec.width).toBe(8);
    } else {
      // The warm start itself is test/train/fast.test.ts's (--from); here the job is only cancelled.
      await app.inject({ method: 'DELETE', url: `/api/jobs/${r.json().id}` });
      await waitFinished(app, r.json().id, 120_000);
    }
    // A base that is not installed is refused before anything is stored, naming the choices.
    const bad = await postTraining(app, fast('fst-pytorch-mosaic', 'cold-fast'));
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatchObject({ code: 'E_PARAM', subject: 'from' });
    expect(bad.json().error.message + JSON.stringify(bad.json().error)).toMatch(/my-fast/);
  }, 180_000);
});

const hasRedis = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;

describe.skipIf(!hasRedis)('training jobs with --redis', () => {
  it('run on the server that stores their checkpoints while image jobs go to Redis workers', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp.dir], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`redis-server was not ready: ${out}`)), 10_000);
        redis.stdout!.on('data', (d) => {
          out += String(d);
          if (out.includes('Ready to accept connections')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const server = await buildServer({ dataDir: tmp.file('redis-data'), redis: `redis://127.0.0.1:${port}`, execution: 'inline', studio: false, trainingPhotos: tmp.file('photos') });
      try {
        const job = (await postTraining(server, tint('tint-redis', [['iterations', '12']]))).json();
        // No worker is running: an image job waits in Redis, the training runs here regardless.
        const body = await multipart([['method', 'color.reinhard'], ['content', { bytes: photo }], ['style', { bytes: style }]]);
        const image = (await server.inject({ method: 'POST', url: '/api/jobs', payload: body.payload, headers: body.headers })).json();
        const done = await waitFinished(server, job.id);
        expect(done).toMatchObject({ status: 'done', meta: { model: 'tint-redis', iterations: 12 } });
        expect((await server.inject({ url: `/api/jobs/${image.id}` })).json().status).toBe('queued');
        expect((await server.inject({ url: '/api/models' })).json().models.some((m: { name: string; installed: boolean }) => m.name === 'tint-redis' && m.installed)).toBe(true);
      } finally {
        await server.close();
      }
    } finally {
      const exited = new Promise((r) => redis.once('exit', r));
      redis.kill('SIGTERM');
      await exited;
    }
  }, 30_000);
});
