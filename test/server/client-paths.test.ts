import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeMethod } from '../../src/core/describe.js';
import { getMethod } from '../../src/methods/index.js';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { redactPaths } from '../../src/server/redact-paths.js';
import { looksLikePath } from '../../src/server/refuse-paths.js';
import { tempDir } from '../helpers/fixtures.js';
import { samplePngs, submit, waitFinished } from './helpers.js';

/**
 * The API never opens a file a client names. CAP-VSTNet's `weights` accepts a checkpoint path from
 * the CLI; over HTTP a path-shaped value (any parameter) is E_PARAM, and the answer is the same
 * whether the path exists or not and never repeats it, so the API cannot probe the server's disk.
 */

const tmp = tempDir('atelier-paths-');
let app: AtelierServer;
let pngs: Awaited<ReturnType<typeof samplePngs>>;

beforeAll(async () => {
  pngs = await samplePngs(32, 24);
  app = await buildServer({ dataDir: tmp.file('data'), execution: 'inline', concurrency: 1, studio: false });
});
afterAll(async () => {
  await app.close();
  tmp.cleanup();
});

const capvst = (extra: [string, any][]) => submit(app, [['method', 'neural.capvst'], ['content', { bytes: pngs.content }], ['style', { bytes: pngs.style }], ...extra]);

// An existing file (this test's own server database directory), a missing one, and other spellings.
const PATHS = [tmp.file('data'), '/etc/passwd', '/no/such/dir/capvst.pt', '../../models/x.pth', '~/w.safetensors', 'C:\\w\\x.pt', 'photo_image.pt', './capvst'];
// Bare names are folders relative to the server's working directory: as weights, only model names pass.
const BARE = ['models', 'node_modules', 'src'];

describe('path-shaped parameters over the API', () => {
  it('refuses a path as CAP-VSTNet weights with E_PARAM, the same answer for existing and missing files', async () => {
    const bodies: string[] = [];
    for (const p of [...PATHS, ...BARE]) {
      for (const r of [await capvst([['weights', p]]), await capvst([['params', JSON.stringify({ weights: p })]])]) {
        expect(r.statusCode, p).toBe(400);
        const error = r.json().error;
        expect(error.code, p).toBe('E_PARAM');
        expect(error.subject).toBe('weights');
        // Nothing about the file system: not the value, no directory, no "exists"/"not found".
        if (!BARE.includes(p)) expect(r.body).not.toContain(p.replace(/\\/g, '\\\\'));
        expect(r.body).not.toMatch(/ENOENT|EACCES|not found|no such|exists|\/etc|\/tmp|\/home|\/root/i);
        bodies.push(r.body);
      }
    }
    expect(new Set(bodies).size).toBe(1);
    // Nothing was stored.
    expect((await app.inject({ url: '/api/jobs' })).json().total).toBe(0);
  });

  it('refuses bare words that are no model as model, lora, added and adapter: they would be files in the server folder', async () => {
    const cases: [string, string, Record<string, unknown>][] = [
      ['neural.fast', 'model', { model: 'node_modules' }],
      ['neural.fast', 'lora', { lora: ['src:0.5'] }],
      ['neural.cyclegan', 'model', { model: 'models' }],
      ['neural.multistyle', 'added', { added: ['src'] }],
      ['diffusion.img2img', 'adapter', { adapter: 'node_modules', weights: 'random' }],
    ];
    for (const [method, subject, params] of cases) {
      const r = await submit(app, [['method', method], ['content', { bytes: pngs.content }], ['style', { bytes: pngs.style }], ['params', JSON.stringify(params)]]);
      expect(r.statusCode, method).toBe(400);
      expect(r.json().error.code).toBe('E_PARAM');
      expect(r.json().error.subject).toBe(subject);
      expect(r.body).not.toMatch(/ENOENT|not found|no such|exists/i);
    }
    // A published model name passes the check (the job then runs or fails on its own terms).
    const ok = await submit(app, [['method', 'neural.fast'], ['content', { bytes: pngs.content }], ['style', { bytes: pngs.style }], ['params', JSON.stringify({ model: 'fst-small8-candy', weights: 'random' })]]);
    expect(ok.statusCode).toBe(201);
    await app.inject({ method: 'DELETE', url: `/api/jobs/${ok.json().id}` });
    await waitFinished(app, ok.json().id, 60_000);
  });

  it('refuses a path on rerun too', async () => {
    const r = await submit(app, [['method', 'color.reinhard'], ['content', { bytes: pngs.content }], ['style', { bytes: pngs.style }]]);
    const id = r.json().id as string;
    await waitFinished(app, id);
    const rerun = await app.inject({ method: 'POST', url: `/api/jobs/${id}/rerun`, payload: { method: 'neural.capvst', params: { weights: '/etc/hostname' } } });
    expect(rerun.statusCode).toBe(400);
    expect(rerun.json().error.code).toBe('E_PARAM');
    expect(rerun.body).not.toContain('/etc/hostname');
  });

  it('accepts weights chosen by name: random, installed, a model-store name', async () => {
    for (const weights of ['random', 'installed', 'capvstnet_art_image']) {
      const r = await capvst([['weights', weights], ['maxSize', '16']]);
      expect(r.statusCode, weights).toBe(201);
      await app.inject({ method: 'DELETE', url: `/api/jobs/${r.json().id}` });
      await waitFinished(app, r.json().id, 60_000);
    }
  });

  it("a failed job's message names no server path, even when the store's hint would", async () => {
    const mirror = tmp.file('mirror');
    mkdirSync(mirror, { recursive: true });
    process.env.ATELIER_MODEL_MIRROR = mirror;
    try {
      const r = await capvst([['weights', 'installed'], ['maxSize', '16']]);
      const job = await waitFinished(app, r.json().id, 60_000);
      expect(job.status).toBe('failed');
      expect(job.error.code).toBe('E_WEIGHTS_MISSING');
      const events = (await app.inject({ url: `/api/jobs/${job.id}/events` })).body;
      for (const text of [JSON.stringify(job), events]) {
        expect(text).toContain('capvstnet_photo_image');
        expect(text).not.toContain(mirror);
        expect(text).not.toContain(tmp.dir);
      }
    } finally {
      delete process.env.ATELIER_MODEL_MIRROR;
    }
    expect(redactPaths('pull x --from /srv/models/mirror or see https://example.org/a/b.pt; C:\\w\\x.pt; 3/4')).toBe('pull x --from <server path> or see https://example.org/a/b.pt; <server path>; 3/4');
  });

  it("the API's help texts offer no file: model, weights and LoRA params are chosen by name there (the CLI keeps its files)", async () => {
    const methods = (await app.inject({ url: '/api/methods' })).json().methods as { id: string; params: { properties: Record<string, { description?: string }> } }[];
    const FILE_WORDING = /\.safetensors|\.ckpt|\.tflite|\.pb\b|folder|\bFILE\b|file path|its file|a file|On the command line/i;
    const stale = methods.flatMap((m) => Object.entries(m.params.properties).filter(([, p]) => FILE_WORDING.test(p.description ?? '')).map(([k, p]) => `${m.id}.${k}: ${p.description}`));
    // The trainer page's forms too (their image folders are drop zones, not params).
    const trainers = (await app.inject({ url: '/api/trainers' })).json().trainers as { id: string; params: { properties: Record<string, { description?: string }> } }[];
    stale.push(...trainers.flatMap((t) => Object.entries(t.params.properties).filter(([, p]) => FILE_WORDING.test(p.description ?? '')).map(([k, p]) => `train ${t.id}.${k}: ${p.description}`)));
    expect(stale).toEqual([]);
    // The wording that was stale in the studio, and the CLI's own, which still names the file.
    const fast = methods.find((m) => m.id === 'neural.fast')!.params.properties;
    expect(fast.model!.description).toMatch(/^The per-style network, by name: .*trained here/);
    expect(fast.lora!.description).toContain('NAME:WEIGHT');
    expect(describeMethod(getMethod('neural.fast')).params.properties.model!.description).toContain('On the command line also a .safetensors file');
  });

  it('tells paths from names', () => {
    for (const p of PATHS) expect(looksLikePath(p), p).toBe(true);
    for (const n of ['installed', 'random', 'capvstnet_photo_video', 'lab', 'vgg19', 'magenta-multistyle', 'style 3', '0.5', '1e-3']) expect(looksLikePath(n), n).toBe(false);
  });
});
