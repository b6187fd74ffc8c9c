import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rgbToLab } from '../../src/core/color.js';
import type { Image } from '../../src/core/image.js';
import { encodeImage, readImage } from '../../src/core/io.js';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { HeldExecutor } from './held-executor.mjs';
import { InlineExecutor } from '../../src/server/jobs/executor.js';
import { studioDir } from '../../src/server/routes/studio.js';
import { gradientImage } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/fixtures.js';
import { multipart, parseSse, samplePngs, submit, waitFinished, waitRunning } from './helpers.js';

/** Jobs run inline, each held `held.holdMs` first where a test needs one still running (see held-executor.mjs). */
const held = new HeldExecutor(new InlineExecutor());

/** Every route and every bad input of the API, through fastify's inject (no socket). */

let pngs: Awaited<ReturnType<typeof samplePngs>>;
const tmp = tempDir('atelier-api-');
let app: AtelierServer;

beforeAll(async () => {
  pngs = await samplePngs();
  app = await buildServer({ dataDir: tmp.file('main'), executor: held, concurrency: 1, maxUploadBytes: 200_000, maxPixels: 1_000_000 });
});
afterAll(async () => {
  await app.close();
  tmp.cleanup();
});
afterEach(() => {
  held.holdMs = 0;
});

const reinhard = (extra: [string, any][] = []): [string, any][] => [
  ['method', 'color.reinhard'],
  ['content', { bytes: pngs.content }],
  ['style', { bytes: pngs.style }],
  ...extra,
];

function labMean(img: Image): number[] {
  const lab = rgbToLab(img);
  return [0, 1, 2].map((c) => lab.plane(c).reduce((s, v) => s + v, 0) / img.pixels);
}

describe('routes', () => {
  it('GET /healthz answers with the queue state', async () => {
    const r = await app.inject({ url: '/healthz' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ ok: true, queue: 'embedded', waiting: 0 });
  });

  it('GET /api/methods describes every method with its JSON Schema and weights status', async () => {
    const r = await app.inject({ url: '/api/methods' });
    expect(r.statusCode).toBe(200);
    const reinhardDesc = r.json().methods.find((m: any) => m.id === 'color.reinhard');
    expect(reinhardDesc.family).toBe('color');
    expect(reinhardDesc.inputs.style).toBe('required');
    expect(reinhardDesc.params.properties.strength).toMatchObject({ type: 'number', minimum: 0, maximum: 1, default: 1 });
    expect(reinhardDesc.params.properties.space.enum).toEqual(['lab', 'lalphabeta']);
    expect(Array.isArray(reinhardDesc.weights)).toBe(true);
    expect((await app.inject({ url: '/api/methods/color.reinhard' })).json().id).toBe('color.reinhard');
    const unknown = await app.inject({ url: '/api/methods/color.reinhart' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('E_METHOD_UNKNOWN');
    expect(unknown.json().error.message).toContain('color.reinhard');
  });

  it('POST /api/jobs runs the method; events, result and history follow', async () => {
    const r = await submit(app, reinhard([['params', JSON.stringify({ space: 'lab' })], ['strength', '1']]));
    expect(r.statusCode).toBe(201);
    const created = r.json();
    expect(r.headers.location).toBe(`/api/jobs/${created.id}`);
    expect(created).toMatchObject({ method: 'color.reinhard', status: 'queued', params: { space: 'lab', strength: 1 }, inputs: ['content', 'style-0'] });

    const events = parseSse((await app.inject({ url: `/api/jobs/${created.id}/events` })).body);
    expect(events[0]!.event).toBe('status');
    expect(events.at(-1)!.event).toBe('done');
    const fractions = events.filter((e) => e.event === 'progress').map((e) => e.data.fraction as number);
    for (let i = 1; i < fractions.length; i++) expect(fractions[i]!).toBeGreaterThanOrEqual(fractions[i - 1]!);
    const done = await waitFinished(app, created.id);
    expect(done).toMatchObject({ status: 'done', progress: 1, attempts: 1, resolvedParams: { space: 'lab', scaleStd: true, seed: 1 } });
    expect(done.links.result).toBe(`/api/jobs/${created.id}/result`);

    const result = await app.inject({ url: done.links.result });
    expect(result.statusCode).toBe(200);
    expect(result.headers['content-type']).toBe('image/png');
    const out = await readImage(result.rawPayload);
    expect([out.width, out.height]).toEqual([64, 48]);
    // Reinhard's known answer: the result takes the style's Lab means.
    const want = labMean(await readImage(pngs.style));
    labMean(out).forEach((m, c) => expect(m).toBeCloseTo(want[c]!, 0));
    const download = await app.inject({ url: `${done.links.result}?download=1` });
    expect(download.headers['content-disposition']).toMatch(/^attachment; filename="atelier-color\.reinhard-/);

    const input = await app.inject({ url: `/api/jobs/${created.id}/inputs/content` });
    expect(input.statusCode).toBe(200);
    expect(input.headers['content-type']).toBe('image/png');
    expect(Buffer.compare(input.rawPayload, pngs.content)).toBe(0);

    const history = (await app.inject({ url: '/api/jobs' })).json();
    expect(history.jobs.map((j: any) => j.id)).toContain(created.id);
  });

  it('GET /api/jobs pages newest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await submit(app, reinhard([['strength', String(0.2 + i * 0.1)]]))).json().id);
    for (const id of ids) await waitFinished(app, id);
    const page1 = (await app.inject({ url: '/api/jobs?page=1&pageSize=2' })).json();
    expect(page1.jobs.map((j: any) => j.id)).toEqual([ids[2], ids[1]]);
    expect(page1).toMatchObject({ page: 1, pageSize: 2 });
    expect(page1.pages).toBe(Math.ceil(page1.total / 2));
    const page2 = (await app.inject({ url: '/api/jobs?page=2&pageSize=2' })).json();
    expect(page2.jobs[0].id).toBe(ids[0]);
    for (const bad of ['page=0', 'page=x', 'pageSize=1000', 'pageSize=1.5']) {
      const r = await app.inject({ url: `/api/jobs?${bad}` });
      expect(r.statusCode, bad).toBe(400);
      expect(r.json().error.code).toBe('E_PARAM');
    }
  });

  it('POST /api/jobs/:id/rerun runs the stored inputs again with new params', async () => {
    const first = (await submit(app, reinhard())).json();
    await waitFinished(app, first.id);
    const r = await app.inject({ method: 'POST', url: `/api/jobs/${first.id}/rerun`, payload: { params: { strength: 0 } } });
    expect(r.statusCode).toBe(201);
    const again = await waitFinished(app, r.json().id);
    expect(again).toMatchObject({ status: 'done', rerunOf: first.id, params: { strength: 0 } });
    // Strength 0 gives the content back: PSNR is infinite (null in JSON), SSIM 1.
    const ev = await app.inject({ method: 'POST', url: '/api/eval', payload: { job: again.id } });
    expect(ev.statusCode).toBe(200);
    expect(ev.json().metrics.psnr.value).toBe(100); // identical images: the metric's cap
    expect(ev.json().metrics.ssim.value).toBeCloseTo(1, 3);
    const bad = await app.inject({ method: 'POST', url: `/api/jobs/${first.id}/rerun`, payload: { params: { strength: 5 } } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('E_PARAM');
  });

  it('POST /api/eval scores a finished job and refuses what it cannot', async () => {
    const job = (await submit(app, reinhard())).json();
    await waitFinished(app, job.id);
    const r = await app.inject({ method: 'POST', url: '/api/eval', payload: { job: job.id, metrics: ['psnr', 'ssim'] } });
    expect(r.statusCode).toBe(200);
    const m = r.json().metrics;
    expect(m.psnr.value).toBeGreaterThan(5);
    expect(m.psnr.value).toBeLessThan(40);
    expect(m.ssim.value).toBeGreaterThan(0);
    expect(m.ssim.value).toBeLessThan(1);
    // The default set: every image metric that runs without missing weights.
    const all = await app.inject({ method: 'POST', url: '/api/eval', payload: { job: job.id } });
    expect(all.statusCode).toBe(200);
    const listed = (await app.inject({ url: '/api/metrics' })).json().metrics as { id: string; needs: string[]; weights: { installed: boolean }[] }[];
    expect(listed.map((m) => m.id)).toEqual(expect.arrayContaining(['psnr', 'ssim']));
    expect(listed.some((m) => m.needs.includes('frames'))).toBe(false);
    const runnable = listed.filter((m) => m.weights.every((w) => w.installed)).map((m) => m.id);
    expect(Object.keys(all.json().metrics).sort()).toEqual(runnable.sort());
    const neural = listed.find((m) => m.weights.some((w) => !w.installed));
    if (neural) {
      const missing = await app.inject({ method: 'POST', url: '/api/eval', payload: { job: job.id, metrics: [neural.id] } });
      expect(missing.statusCode).toBe(503);
      expect(missing.json().error.code).toBe('E_WEIGHTS_MISSING');
    }
    const cases: [unknown, number, string][] = [
      [{}, 400, 'E_PARAM'],
      [{ job: job.id, metrics: ['temporal'] }, 400, 'E_PARAM'],
      [{ job: job.id, weights: 'some' }, 400, 'E_PARAM'],
      [{ job: job.id, metrics: ['lpips-nope'] }, 400, 'E_PARAM'],
      [{ job: job.id, metrics: 'ssim' }, 400, 'E_PARAM'],
      [{ job: '00000000-0000-4000-8000-000000000000' }, 404, 'E_JOB'],
    ];
    for (const [payload, status, code] of cases) {
      const res = await app.inject({ method: 'POST', url: '/api/eval', payload: payload as object });
      expect(res.statusCode, JSON.stringify(payload)).toBe(status);
      expect(res.json().error.code).toBe(code);
    }
  });

  it('GET / serves the built studio with a content security policy', async () => {
    if (!studioDir()) return expect.soft(studioDir(), 'dist/web missing: run npm run build').toBeDefined();
    const r = await app.inject({ url: '/' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toContain('text/html');
    expect(r.headers['content-security-policy']).toContain("default-src 'self'");
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(r.body)?.[1];
    expect(asset).toBeDefined();
    expect((await app.inject({ url: asset! })).statusCode).toBe(200);
    expect((await app.inject({ url: '/assets/../../package.json' })).statusCode).toBe(404);
  });
});

describe('bad input', () => {
  async function expectError(fields: [string, any][], status: number, code: string, message?: RegExp) {
    const r = await submit(app, fields);
    expect(r.statusCode, r.body).toBe(status);
    expect(r.json().error.code).toBe(code);
    if (message) expect(r.json().error.message).toMatch(message);
    return r.json().error;
  }

  it('missing files', async () => {
    await expectError([['method', 'color.reinhard'], ['style', { bytes: pngs.style }]], 400, 'E_INPUT_MISSING', /content/);
    await expectError([['method', 'color.reinhard'], ['content', { bytes: pngs.content }]], 400, 'E_INPUT_MISSING', /style/);
    await expectError([['content', { bytes: pngs.content }]], 400, 'E_PARAM', /method/);
  });

  it('corrupt, truncated and disguised images (sniffed, whatever the declared type)', async () => {
    const noise = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 256));
    await expectError(reinhard().map(([k, v]) => (k === 'content' ? [k, { bytes: noise, type: 'image/png' }] : [k, v])), 400, 'E_IMAGE_DECODE', /content image/);
    const big = await encodeImage(gradientImage(300, 200), 'png');
    const truncated = big.subarray(0, Math.floor(big.length / 2));
    await expectError(reinhard().map(([k, v]) => (k === 'style' ? [k, { bytes: truncated }] : [k, v])), 400, 'E_IMAGE_DECODE', /style image/);
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><image href="file:///etc/passwd"/></svg>');
    await expectError(reinhard().map(([k, v]) => (k === 'content' ? [k, { bytes: svg, type: 'image/png', filename: 'x.png' }] : [k, v])), 400, 'E_IMAGE_DECODE', /svg/);
    await expectError(reinhard().map(([k, v]) => (k === 'content' ? [k, { bytes: Buffer.alloc(0) }] : [k, v])), 400, 'E_IMAGE_DECODE');
  });

  it('oversized uploads and images are refused with 413', async () => {
    const huge = Buffer.alloc(300_000, 1);
    const e = await expectError(reinhard().map(([k, v]) => (k === 'content' ? [k, { bytes: huge }] : [k, v])), 413, 'E_TOO_LARGE');
    expect(e.message).toContain('200,000 bytes');
    // Small in bytes, large in pixels: a flat 1200×1000 PNG.
    const wide = await encodeImage(gradientImage(1200, 1000), 'jpeg', { quality: 10 });
    expect(wide.length).toBeLessThan(200_000);
    const e2 = await expectError(reinhard().map(([k, v]) => (k === 'content' ? [k, { bytes: wide }] : [k, v])), 413, 'E_TOO_LARGE');
    expect(e2.message).toContain('1200×1000');
  });

  it('unknown method, bad params, unknown fields', async () => {
    const e = await expectError(reinhard().map(([k, v]) => (k === 'method' ? [k, 'color.reinhart'] : [k, v])), 404, 'E_METHOD_UNKNOWN', /did you mean color\.reinhard/i);
    expect(e.code).toBe('E_METHOD_UNKNOWN');
    const range = await expectError(reinhard([['strength', '2']]), 400, 'E_PARAM', /strength/);
    expect(range.subject).toBe('strength');
    await expectError(reinhard([['strength', 'abc']]), 400, 'E_PARAM', /strength/);
    await expectError(reinhard([['space', 'hsv']]), 400, 'E_PARAM', /space/);
    await expectError(reinhard([['strenght', '0.5']]), 400, 'E_PARAM', /did you mean strength/i);
    await expectError(reinhard([['params', '{not json']]), 400, 'E_PARAM', /JSON/);
    await expectError(reinhard([['params', '[1,2]']]), 400, 'E_PARAM', /object/);
    await expectError(reinhard([['photo', { bytes: pngs.content }]]), 400, 'E_PARAM', /photo/);
    await expectError(reinhard([['styleWeights', '0.5,0.5']]), 400, 'E_PARAM', /style weights/i);
  });

  it('a request that is not a multipart form', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/jobs', payload: { method: 'color.reinhard' } });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.code).toBe('E_INPUT_MISSING');
  });

  it('unknown and malformed job ids', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', '..%2F..%2Fetc%2Fpasswd', 'x']) {
      for (const [method, url] of [
        ['GET', `/api/jobs/${id}`],
        ['GET', `/api/jobs/${id}/result`],
        ['GET', `/api/jobs/${id}/events`],
        ['GET', `/api/jobs/${id}/inputs/content`],
        ['DELETE', `/api/jobs/${id}`],
        ['POST', `/api/jobs/${id}/rerun`],
      ] as const) {
        const r = await app.inject({ method, url });
        expect(r.statusCode, `${method} ${url}`).toBe(404);
        expect(r.json().error.code).toBe('E_JOB');
      }
    }
    const job = (await submit(app, reinhard())).json();
    await waitFinished(app, job.id);
    const slot = await app.inject({ url: `/api/jobs/${job.id}/inputs/..%2Fatelier.db` });
    expect(slot.statusCode).toBe(404);
  });
});

describe('cancellation', () => {
  it('cancels a queued job at once and a running one through its AbortSignal; a finished one is refused', async () => {
    held.holdMs = 5_000;
    const running = (await submit(app, reinhard())).json();
    const queued = (await submit(app, reinhard())).json();
    await waitRunning(app, running.id);
    const early = await app.inject({ url: `/api/jobs/${running.id}/result` });
    expect(early.statusCode).toBe(409);

    const q = await app.inject({ method: 'DELETE', url: `/api/jobs/${queued.id}` });
    expect(q.statusCode).toBe(200);
    expect(q.json().status).toBe('cancelled');

    const started = Date.now();
    const eventsPromise = app.inject({ url: `/api/jobs/${running.id}/events` });
    const r = await app.inject({ method: 'DELETE', url: `/api/jobs/${running.id}` });
    expect(r.statusCode).toBe(202);
    const final = await waitFinished(app, running.id);
    expect(final.status).toBe('cancelled');
    expect(final.error.code).toBe('E_ABORTED');
    expect(Date.now() - started).toBeLessThan(2500); // the signal cut the 5 s run short
    const last = parseSse((await eventsPromise).body).at(-1)!;
    expect(last).toMatchObject({ event: 'error', data: { code: 'E_ABORTED', status: 'cancelled' } });

    // A second DELETE of a finished (here cancelled) job removes it.
    for (const id of [running.id, queued.id]) {
      const again = await app.inject({ method: 'DELETE', url: `/api/jobs/${id}` });
      expect(again.statusCode).toBe(200);
      expect(again.json()).toMatchObject({ deleted: id });
      expect((await app.inject({ url: `/api/jobs/${id}` })).statusCode).toBe(404);
    }
    const done = (await submit(app, reinhard())).json();
    held.holdMs = 0;
    await waitFinished(app, done.id, 10_000);
    expect((await app.inject({ method: 'DELETE', url: `/api/jobs/${done.id}` })).json()).toMatchObject({ deleted: done.id });
  });
});

describe('safety options', () => {
  it('a bearer token guards /api but not /healthz; CORS is off unless origins are given', async () => {
    const guarded = await buildServer({ dataDir: tmp.file('token'), execution: 'inline', token: 's3cret', corsOrigins: ['http://studio.test'], studio: false });
    try {
      const none = await guarded.inject({ url: '/api/methods' });
      expect(none.statusCode).toBe(401);
      expect(none.json().error.code).toBe('E_UNAUTHORIZED');
      expect((await guarded.inject({ url: '/api/methods', headers: { authorization: 'Bearer wrong!' } })).statusCode).toBe(401);
      expect((await guarded.inject({ url: '/api/methods', headers: { authorization: 'Bearer s3cret' } })).statusCode).toBe(200);
      expect((await guarded.inject({ url: '/healthz' })).statusCode).toBe(200);
      // Other spellings of an /api path never reach a route without the token.
      for (const url of ['/%61pi/methods', '/api//methods', '/API/methods', '/api/methods?x=/healthz']) {
        expect((await guarded.inject({ url })).statusCode, url).not.toBe(200);
      }
      const body = await multipart(reinhard());
      expect((await guarded.inject({ method: 'POST', url: '/api/jobs', payload: body.payload, headers: body.headers })).statusCode).toBe(401);
      const cors = await guarded.inject({ url: '/healthz', headers: { origin: 'http://studio.test' } });
      expect(cors.headers['access-control-allow-origin']).toBe('http://studio.test');
      const other = await guarded.inject({ url: '/healthz', headers: { origin: 'http://evil.test' } });
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await guarded.close();
    }
    const open = await app.inject({ url: '/api/methods', headers: { origin: 'http://evil.test' } });
    expect(open.headers['access-control-allow-origin']).toBeUndefined();
    expect(open.headers['x-content-type-options']).toBe('nosniff');
  });
});
