import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { HeldExecutor } from './held-executor.mjs';
import { InlineExecutor } from '../../src/server/jobs/executor.js';
import { placeholderTrainedModels } from '../helpers/placeholder-trained-models.js';
import { temporaryHome } from '../helpers/temporary-home.js';
import { sharedWeights } from '../helpers/torch-reference.js';
import { samplePngs, submit, waitFinished } from './helpers.js';

/** Jobs run inline, each held `held.holdMs` first where a test needs one still running (see held-executor.mjs). */
const held = new HeldExecutor(new InlineExecutor());

/** The routes the studio stands on: upload limits, the model store over HTTP, a batch's zip. */

const tmp = temporaryHome('atelier-studio-api-');
let app: AtelierServer;
let pngs: Awaited<ReturnType<typeof samplePngs>>;

beforeAll(async () => {
  pngs = await samplePngs(40, 30);
  app = await buildServer({ dataDir: tmp.file('data'), executor: held, concurrency: 1, studio: false, maxUploadBytes: 123_456, maxPixels: 654_321 });
});
afterAll(async () => {
  await app.close();
});

async function zipEntries(bytes: Buffer): Promise<{ name: string; size: number }[]> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(bytes, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const out: { name: string; size: number }[] = [];
      zip.on('entry', (e: yauzl.Entry) => {
        out.push({ name: e.fileName, size: e.uncompressedSize });
        zip.readEntry();
      });
      zip.on('end', () => resolve(out));
      zip.readEntry();
    });
  });
}

describe('studio routes', () => {
  it('GET /api/config gives the limits the server enforces', async () => {
    const r = await app.inject({ url: '/api/config' });
    expect(r.statusCode).toBe(200);
    expect(r.json().limits).toMatchObject({ maxFileBytes: 123_456, maxPixels: 654_321, maxStyles: 8 });
    expect(r.json().limits.imageTypes).toEqual(expect.arrayContaining(['image/png', 'image/jpeg', 'image/webp']));
    expect(r.json().limits.imageTypes).not.toContain('image/svg+xml');
  });

  it('GET /api/methods describes Advanced params and presets', async () => {
    const reinhard = (await app.inject({ url: '/api/methods/color.reinhard' })).json();
    expect(reinhard.advanced).toEqual(['scaleStd', 'smooth', 'smoothEps', 'seed', 'maxSize']);
    expect(reinhard.presets.map((p: { name: string }) => p.name)).toEqual(['Full transfer', 'Gentle tint', 'Lightness only']);
    const capvst = (await app.inject({ url: '/api/methods/neural.capvst' })).json();
    expect(capvst.weights.find((w: any) => w.model === 'capvstnet_art_video').when).toEqual({ mode: ['artistic'], variant: ['video'], weights: ['installed', 'capvstnet_art_video'] });
  });

  it('GET /api/methods lists models made here with what they fit: a StarGAN with its domains, a LoRA with its base', async () => {
    const made = await placeholderTrainedModels(tmp.file('made-here.safetensors'));
    await made('two-looks', 'stargan', { method: 'neural.stargan', param: 'model', params: { domain: 'look' }, choices: { domain: ['photo', 'look'] } });
    await made('candy-ink', 'lora', { method: 'neural.fast', param: 'lora', params: { model: 'fst-pytorch-candy' } });
    const stargan = (await app.inject({ url: '/api/methods/neural.stargan' })).json();
    expect(stargan.trainedModels.model).toMatchObject({ kind: 'stargan', trainer: 'stargan', words: [{ word: 'random', choices: { domain: ['a', 'b', 'c'] } }] });
    expect(stargan.weights).toContainEqual({ model: 'two-looks', description: 'stargan made here', when: { model: ['two-looks'] }, installed: true, trained: true, params: { domain: 'look' }, choices: { domain: ['photo', 'look'] } });
    const fast = (await app.inject({ url: '/api/methods/neural.fast' })).json();
    expect(fast.trainedModels.lora).toEqual({ kind: 'lora', trainer: 'lora', stack: true, weighted: true, trainerParams: { base: { param: 'model' } } });
    expect(fast.weights.filter((w: { trained?: boolean }) => w.trained)).toEqual([expect.objectContaining({ model: 'candy-ink', when: { lora: ['candy-ink'] }, params: { model: 'fst-pytorch-candy' } })]);
    expect(fast.weights.some((w: { model: string }) => w.model === 'two-looks')).toBe(false);
    // Every declaration names a param of its method (a stack is a list) and a recipe the trainer page offers.
    const recipes = new Set(((await app.inject({ url: '/api/trainers' })).json().trainers as { id: string }[]).map((t) => t.id));
    const methods = (await app.inject({ url: '/api/methods' })).json().methods as { id: string; params: { properties: Record<string, { type?: string }> }; trainedModels?: Record<string, { stack?: boolean; trainer?: string; trainerParams?: Record<string, unknown> }> }[];
    const declared = methods.filter((m) => m.trainedModels);
    expect(declared.map((m) => m.id).sort()).toEqual(['diffusion.img2img', 'neural.anime', 'neural.arbitrary', 'neural.cartoon', 'neural.cyclegan', 'neural.fast', 'neural.microast', 'neural.multistyle', 'neural.stargan']);
    for (const m of declared) {
      for (const [param, spec] of Object.entries(m.trainedModels!)) {
        expect(m.params.properties[param], `${m.id}.${param}`).toBeDefined();
        expect(m.params.properties[param]!.type === 'array', `${m.id}.${param}`).toBe(spec.stack === true);
        if (spec.trainer) expect(recipes.has(spec.trainer), `${m.id}.${param}: ${spec.trainer}`).toBe(true);
        for (const v of Object.values(spec.trainerParams ?? {})) if (typeof v === 'object') expect(m.params.properties[(v as { param: string }).param], `${m.id}.${param}`).toBeDefined();
      }
    }
  });

  it('GET /api/models lists licences, sizes and state without any server path', async () => {
    const r = await app.inject({ url: '/api/models' });
    expect(r.statusCode).toBe(200);
    const models = r.json().models as any[];
    const alex = models.find((m) => m.name === 'lpips_alex');
    expect(alex).toMatchObject({ installed: false, licence: expect.stringContaining('BSD'), size: 6009, downloadable: true, nonCommercial: false });
    expect(models.find((m) => m.name === 'capvstnet_photo_image').usedBy).toEqual(['neural.capvst']);
    // From upstream CAP-VSTNet has an address but no published size.
    expect(models.find((m) => m.name === 'capvstnet_photo_image')).toMatchObject({ downloadable: true, size: null });
    expect(models.find((m) => m.name === 'capvstnet_photo_image').unavailable).toBeUndefined();
    expect(r.body).not.toContain(tmp.dir);
    expect(r.body).not.toMatch(/"path"/);
  });

  it('refuses an unknown model, and a non-commercial model whose licence nobody accepted', async () => {
    const unknown = await app.inject({ method: 'POST', url: '/api/models/nope/install', payload: {} });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.code).toBe('E_PARAM');
    const nc = await app.inject({ method: 'POST', url: '/api/models/animeganv2-hayao/install', payload: {} });
    expect(nc.statusCode).toBe(403);
    expect(nc.json().error.code).toBe('E_LICENCE');
    expect((await app.inject({ url: '/api/models/animeganv2-hayao' })).json()).toMatchObject({ installed: false, nonCommercial: true, terms: 'non-commercial' });
  });

  async function installed(name: string): Promise<any> {
    let state: any;
    for (let i = 0; i < 400; i++) {
      state = (await app.inject({ url: `/api/models/${name}` })).json();
      // Installed, and the install itself over: a running install stays listed on an installed
      // model (a variant being added) until the store's pull has returned.
      if ((state.installed && state.install === undefined) || state.install?.state === 'failed') break;
      await new Promise((res) => setTimeout(res, 25));
    }
    return state;
  }

  it.skipIf(!sharedWeights)("installs from the server's mirror (ATELIER_MODEL_MIRROR), licence accepted, without showing the mirror's path", async () => {
    process.env.ATELIER_MODEL_MIRROR = sharedWeights!;
    try {
      expect((await app.inject({ url: '/api/models' })).body).not.toContain(sharedWeights!);
      const r = await app.inject({ method: 'POST', url: '/api/models/animeganv2-hayao/install', payload: { acceptLicence: true } });
      expect(r.statusCode).toBe(202);
      const state = await installed('animeganv2-hayao');
      expect(state.install).toBeUndefined();
      expect(state).toMatchObject({ installed: true, source: 'mirror' });
      expect(JSON.stringify(state)).not.toContain(sharedWeights!);
      // Installing what is installed is a no-op.
      expect((await app.inject({ method: 'POST', url: '/api/models/animeganv2-hayao/install', payload: { acceptLicence: true } })).statusCode).toBe(202);
      // A mirror folder finds files by checksum: CAP-VSTNet's publisher gives none, so the server
      // says it cannot install it (no "Install from mirror" that is sure to fail), and refuses to try.
      const capvst = (await app.inject({ url: '/api/models/capvstnet_photo_image' })).json();
      expect(capvst).toMatchObject({ downloadable: false, size: null, unavailable: expect.stringMatching(/no checksum/) });
      const refused = await app.inject({ method: 'POST', url: '/api/models/capvstnet_photo_image/install', payload: {} });
      expect(refused.statusCode).toBe(503);
      expect(refused.json().error).toMatchObject({ code: 'E_WEIGHTS_MISSING' });
      expect(refused.body).not.toContain(sharedWeights!);
    } finally {
      delete process.env.ATELIER_MODEL_MIRROR;
    }
  });

  it('describes a model\'s variants and refuses an unknown one or a malformed list', async () => {
    const cartoon = (await app.inject({ url: '/api/models/whitebox-cartoon' })).json();
    expect(cartoon.variants).toEqual({
      default: 'dr',
      installed: [],
      choices: [
        { name: 'dr', description: expect.stringContaining('512'), size: 2568838 },
        { name: 'int8', description: expect.stringContaining('int8'), size: 1808618 },
        { name: 'fp16', description: expect.stringContaining('224'), size: 3057558 },
      ],
    });
    const unknown = await app.inject({ method: 'POST', url: '/api/models/whitebox-cartoon/install', payload: { acceptLicence: true, variants: ['fp64'] } });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error).toMatchObject({ code: 'E_PARAM', subject: 'variant' });
    expect(unknown.json().error.message).toMatch(/no variant "fp64"/);
    const malformed = await app.inject({ method: 'POST', url: '/api/models/whitebox-cartoon/install', payload: { acceptLicence: true, variants: 'int8' } });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error).toMatchObject({ code: 'E_PARAM', subject: 'variants' });
    // The method says which param picks the variant, so the studio can tell whether the chosen one is there.
    const method = (await app.inject({ url: '/api/methods/neural.cartoon' })).json();
    expect(method.weights[0]).toMatchObject({ model: 'whitebox-cartoon', variantParam: 'variant', installed: false });
  });

  it.skipIf(!sharedWeights)('installs the chosen variant, then another beside it, licence accepted', async () => {
    process.env.ATELIER_MODEL_MIRROR = sharedWeights!;
    try {
      const refused = await app.inject({ method: 'POST', url: '/api/models/whitebox-cartoon/install', payload: { variants: ['int8'] } });
      expect(refused.json().error.code).toBe('E_LICENCE');
      expect((await app.inject({ method: 'POST', url: '/api/models/whitebox-cartoon/install', payload: { acceptLicence: true, variants: ['int8'] } })).statusCode).toBe(202);
      let state = await installed('whitebox-cartoon');
      expect(state).toMatchObject({ installed: true, size: 1808618 });
      expect(state.variants.installed).toEqual(['int8']);
      // Installed already, but not that variant: it is added, int8 stays.
      expect((await app.inject({ method: 'POST', url: '/api/models/whitebox-cartoon/install', payload: { acceptLicence: true, variants: ['fp16'] } })).statusCode).toBe(202);
      for (let i = 0; i < 400 && state.variants.installed.length < 2; i++) {
        await new Promise((res) => setTimeout(res, 25));
        state = (await app.inject({ url: '/api/models/whitebox-cartoon' })).json();
      }
      expect(state.variants.installed).toEqual(['int8', 'fp16']);
      expect(state.size).toBe(1808618 + 3057558);
    } finally {
      delete process.env.ATELIER_MODEL_MIRROR;
    }
  });

  it.skipIf(!sharedWeights)('installs from an upstream URL with progress, checked against the manifest', async () => {
    const bytes = readFileSync(path.join(sharedWeights!, 'lpips', 'v0.1', 'alex.pth'));
    const upstream: Server = createServer((_req, res) => res.writeHead(200, { 'content-length': bytes.length }).end(bytes));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    process.env.ATELIER_MODEL_URL_LPIPS_ALEX = `http://127.0.0.1:${(upstream.address() as { port: number }).port}/alex.pth`;
    try {
      expect((await app.inject({ method: 'POST', url: '/api/models/lpips_alex/install', payload: {} })).statusCode).toBe(202);
      const state = await installed('lpips_alex');
      expect(state).toMatchObject({ installed: true, checksumVerified: true, size: 6009, source: 'upstream' });
    } finally {
      delete process.env.ATELIER_MODEL_URL_LPIPS_ALEX;
      upstream.close();
    }
  });

  it('GET /api/zip bundles finished results in order and refuses unfinished or unknown jobs', async () => {
    const ids: string[] = [];
    for (const strength of ['1', '0.5']) {
      const r = await submit(app, [['method', 'color.reinhard'], ['content', { bytes: pngs.content }], ['style', { bytes: pngs.style }], ['strength', strength]]);
      ids.push(r.json().id);
    }
    for (const id of ids) await waitFinished(app, id);
    const r = await app.inject({ url: `/api/zip?jobs=${ids.join(',')}` });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/zip');
    const entries = await zipEntries(r.rawPayload);
    expect(entries.map((e) => e.name)).toEqual([`1-color.reinhard-${ids[0]!.slice(0, 8)}.png`, `2-color.reinhard-${ids[1]!.slice(0, 8)}.png`]);
    const result0 = (await app.inject({ url: `/api/jobs/${ids[0]}/result` })).rawPayload;
    expect(entries[0]!.size).toBe(result0.length);

    expect((await app.inject({ url: '/api/zip' })).json().error.code).toBe('E_PARAM');
    expect((await app.inject({ url: `/api/zip?jobs=${ids[0]},${ids[0]}` })).json().error.code).toBe('E_PARAM');
    expect((await app.inject({ url: '/api/zip?jobs=00000000-0000-0000-0000-000000000000' })).statusCode).toBe(404);
    held.holdMs = 2_000;
    try {
      const slow = (await submit(app, [['method', 'color.reinhard'], ['content', { bytes: pngs.content }], ['style', { bytes: pngs.style }]])).json().id as string;
      const busy = await app.inject({ url: `/api/zip?jobs=${ids[0]},${slow}` });
      expect(busy.statusCode).toBe(409);
      expect(busy.json().error.code).toBe('E_JOB');
      await app.inject({ method: 'DELETE', url: `/api/jobs/${slow}` });
    } finally {
      held.holdMs = 0;
    }
  });
});
