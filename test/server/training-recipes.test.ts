import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeImage, writeImage } from '../../src/core/io.js';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { trainers as shipped } from '../../src/train/index.js';
import { gradientImage, noiseImage, stripesImage } from '../helpers/fixtures.js';
import { temporaryHome } from '../helpers/temporary-home.js';
import { multipart, waitFinished, type FormValue } from './helpers.js';

/**
 * Every shipped training recipe is offered by the server's trainer (and so the studio's #train
 * page, which renders what GET /api/trainers gives): each with its own form from its schema, its
 * image drop zones, and no field the job owns (the model's name, replacing). StarGAN's domains
 * (NAME=DIR on the CLI) come from two drop zones; a tiny StarGAN job trains, installs its
 * generator as a model neural.stargan runs by name over the API, and its record holds no server path.
 */

const tmp = temporaryHome('atelier-train-recipes-');
let app: AtelierServer;
let photo: Buffer;

beforeAll(async () => {
  mkdirSync(tmp.file('photos'), { recursive: true });
  for (let i = 0; i < 3; i++) await writeImage(noiseImage(40, 36, i + 1), tmp.file(`photos/p${i}.png`));
  photo = await encodeImage(gradientImage(32, 24), 'png');
  app = await buildServer({ dataDir: tmp.file('data'), execution: 'inline', concurrency: 1, studio: false, trainingPhotos: tmp.file('photos') });
});

afterAll(async () => {
  await app?.close();
});

async function postTraining(fields: [string, FormValue][]) {
  const body = await multipart(fields);
  return app.inject({ method: 'POST', url: '/api/trainings', payload: body.payload, headers: body.headers });
}

type Described = { id: string; params: { properties: Record<string, { default?: unknown }>; required?: string[] }; images: Record<string, { role: string; min: number; max: number }>; basic: string[] };

describe('every training recipe in the server trainer', () => {
  it('lists each shipped recipe with its own form, drop zones and studio defaults, without the job-owned params', async () => {
    const { trainers } = (await app.inject({ url: '/api/trainers' })).json() as { trainers: Described[] };
    const ids = trainers.map((t) => t.id);
    expect(ids).toEqual(expect.arrayContaining(Object.keys(shipped)));
    for (const t of trainers) {
      expect(Object.keys(t.images).length, t.id).toBeGreaterThan(0);
      expect(Object.values(t.images).some((i) => i.role === 'style'), `${t.id} takes the look as style images`).toBe(true);
      for (const hidden of ['name', 'force', ...Object.keys(t.images)]) expect(t.params.properties[hidden], `${t.id}.${hidden}`).toBeUndefined();
      for (const k of t.params.required ?? []) expect(t.params.properties[k], `${t.id} requires ${k}`).toBeDefined();
      for (const k of t.basic) expect(t.params.properties[k], `${t.id} basic ${k}`).toBeDefined();
    }
    const by = Object.fromEntries(trainers.map((t) => [t.id, t]));
    expect(Object.keys(by.cyclegan!.images)).toEqual(['a', 'b']);
    expect(by.cyclegan!.params.properties.width!.default).toBe(16);
    expect(Object.keys(by['multistyle-style']!.images)).toEqual(['style', 'contentDir']);
    // StarGAN's domains are two drop zones, not a text field of paths.
    expect(Object.keys(by.stargan!.images)).toEqual(['photo', 'look']);
    expect(by.stargan!.params.properties.domain).toBeUndefined();
    expect(by.stargan!.params.properties.size!.default).toBe(32);
  });

  it('refuses the params the job owns, and domains as text', async () => {
    const style = await encodeImage(stripesImage(24, 24, 4), 'png');
    for (const [params, key] of [[{ name: 'other' }, 'name'], [{ force: true }, 'force'], [{ domain: ['a=/etc', 'b=/tmp'] }, 'domain']] as const) {
      const r = await postTraining([['trainer', key === 'domain' ? 'stargan' : 'fast'], ['model', `x-${key}`], ['params', JSON.stringify(params)], [key === 'domain' ? 'look' : 'style', { bytes: style }], ...(key === 'domain' ? [['look', { bytes: style }] as [string, FormValue]] : [])]);
      expect([r.statusCode, r.json().error.code, r.json().error.subject], key).toEqual([400, 'E_PARAM', key]);
      expect(r.body).not.toContain(tmp.dir);
    }
  });

  it('a StarGAN job trains from its two drop zones, installs a model neural.stargan runs by name, and records no path', async () => {
    const looks: [string, FormValue][] = [];
    for (let i = 0; i < 3; i++) looks.push(['look', { bytes: await encodeImage(stripesImage(24, 24, 3 + i), 'png') }]);
    const tiny = { size: 16, batch: 2, width: 4, blocks: 1, discriminatorWidth: 4, discriminatorLayers: 2, nCritic: 1, eval: 0 };
    const r = await postTraining([['trainer', 'stargan'], ['model', 'tiny-looks'], ['iterations', '2'], ['params', JSON.stringify(tiny)], ...looks]);
    expect(r.statusCode, r.body).toBe(201);
    const done = await waitFinished(app, r.json().id, 240_000);
    expect(done.status, JSON.stringify(done.error)).toBe('done');
    expect(done.meta).toMatchObject({ model: 'tiny-looks', trainer: 'stargan', iterations: 2, use: { method: 'neural.stargan', param: 'model', params: { domain: 'look' } } });
    expect(done.params.recipe).toMatchObject({ name: 'tiny-looks' });
    expect(['uploaded images', undefined]).toContain(done.params.recipe.domain);
    expect(JSON.stringify(done)).not.toContain(tmp.dir);
    const model = (await app.inject({ url: '/api/models' })).json().models.find((m: { name: string }) => m.name === 'tiny-looks');
    expect(model).toMatchObject({ installed: true, network: 'stargan', usedBy: ['neural.stargan'], trained: { trainer: 'stargan', job: done.id } });
    const run = await multipart([['method', 'neural.stargan'], ['params', JSON.stringify({ model: 'tiny-looks', domain: 'look' })], ['content', { bytes: photo }]]);
    const job = (await app.inject({ method: 'POST', url: '/api/jobs', payload: run.payload, headers: run.headers })).json();
    const ran = await waitFinished(app, job.id, 60_000);
    expect(ran.status, JSON.stringify(ran.error)).toBe('done');
  }, 300_000);
});
