import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImage } from '../../src/core/io.js';
import { pullModel } from '../../src/engine/store.js';
import { stylize } from '../../src/methods/index.js';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { meanAbsDiff } from '../helpers/fixtures.js';
import { SHARED_WEIGHTS, sharedWeightsPresent, SHARED_WEIGHTS_SKIP } from '../helpers/shared-data.js';
import { temporaryHome } from '../helpers/temporary-home.js';

/**
 * The studio's style gallery over HTTP (GET /api/methods/ID/styles/VALUE): a per-style fast network
 * is pictured by itself on the shipped harbour sample once installed (rendered on first request,
 * then kept under the data folder), the 26-style network's styles by the thumbnails its model
 * ships; a style that is not installed, or not in the gallery, is refused without naming a path.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const harbour = path.join(root, 'web', 'public', 'samples', 'content-harbour.jpg');
const tmp = temporaryHome('atelier-gallery-');
let app: AtelierServer;

beforeAll(async () => {
  app = await buildServer({ dataDir: tmp.file('data'), concurrency: 1, execution: 'inline', studio: false });
});
afterAll(async () => {
  await app?.close();
});

describe('style gallery routes', () => {
  it('describes neural.fast\'s networks as a gallery, each with its install state and source', async () => {
    const fast = (await app.inject({ url: '/api/methods/neural.fast' })).json();
    expect(fast.styleGallery.param).toBe('model');
    const names = fast.styleGallery.items.map((i: { value: string }) => i.value);
    expect(names).toEqual(expect.arrayContaining(['fst-engstrom-wave', 'fst-pytorch-candy', 'fst-small16-udnie', 'fst-small8-mosaic']));
    expect(names).toHaveLength(19);
    for (const item of fast.styleGallery.items) {
      expect(item.model).toBe(item.value);
      expect(item.installed).toBe(false);
      expect(item.source).toMatch(/\w/);
    }
  });

  it('refuses a style that is not installed, or not in the gallery, without a path', async () => {
    const missing = await app.inject({ url: '/api/methods/neural.fast/styles/fst-engstrom-wave' });
    expect(missing.statusCode).toBe(503);
    expect(missing.json().error.code).toBe('E_WEIGHTS_MISSING');
    expect(missing.json().error.message).toMatch(/atelier models pull fst-engstrom-wave/);
    const unknown = await app.inject({ url: '/api/methods/neural.fast/styles/..%2F..%2Fetc%2Fpasswd' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('E_FILE_NOT_FOUND');
    expect(JSON.stringify(unknown.json())).not.toContain(tmp.dir);
    const none = await app.inject({ url: '/api/methods/color.reinhard/styles/0' });
    expect(none.statusCode).toBe(404);
    const multistyle = await app.inject({ url: '/api/methods/neural.multistyle/styles/3' });
    expect(multistyle.json().error.code).toBe('E_WEIGHTS_MISSING');
  });

  describe.skipIf(!sharedWeightsPresent)(`with installed models${sharedWeightsPresent ? '' : ` (${SHARED_WEIGHTS_SKIP})`}`, () => {
    it('pictures an installed fast network by its own output on the harbour sample, once, then from the cache', async () => {
      await pullModel('fst-small16-candy', { from: SHARED_WEIGHTS, waitForLock: true });
      await pullModel('fst-small8-mosaic', { from: SHARED_WEIGHTS, waitForLock: true });
      const described = (await app.inject({ url: '/api/methods/neural.fast' })).json();
      expect(described.styleGallery.items.find((i: { value: string }) => i.value === 'fst-small16-candy').installed).toBe(true);

      const r = await app.inject({ url: '/api/methods/neural.fast/styles/fst-small16-candy' });
      expect(r.statusCode).toBe(200);
      expect(r.headers['content-type']).toBe('image/jpeg');
      const picture = await readImage(r.rawPayload);
      expect([picture.width, picture.height]).toEqual([320, 240]);
      // The reference: the same network run directly on the same sample at the same size.
      const reference = (await stylize('neural.fast', { content: harbour }, { model: 'fst-small16-candy', maxSize: 320 })).image;
      expect(meanAbsDiff(picture, reference)).toBeLessThan(0.02);
      // ...and a painting, not the photo: far from the sample shrunk alike.
      const photo = (await stylize('color.reinhard', { content: harbour, style: harbour }, { maxSize: 320 })).image;
      expect(meanAbsDiff(picture, photo)).toBeGreaterThan(0.08);
      // Another style is another picture.
      const mosaic = await readImage((await app.inject({ url: '/api/methods/neural.fast/styles/fst-small8-mosaic' })).rawPayload);
      expect(meanAbsDiff(picture, mosaic)).toBeGreaterThan(0.05);

      // Kept under the data folder, and served from there the second time (same bytes).
      expect(readdirSync(tmp.file('data/gallery')).filter((f) => f.endsWith('.jpg'))).toHaveLength(2);
      const again = await app.inject({ url: '/api/methods/neural.fast/styles/fst-small16-candy' });
      expect(Buffer.compare(again.rawPayload, r.rawPayload)).toBe(0);
    }, 120_000);

    it("serves the 26-style network's own thumbnails once it is installed", async () => {
      await pullModel('magenta-multistyle', { from: SHARED_WEIGHTS, waitForLock: true });
      const r = await app.inject({ url: '/api/methods/neural.multistyle/styles/7' });
      expect(r.statusCode).toBe(200);
      expect(Buffer.compare(r.rawPayload, readFileSync(path.join(SHARED_WEIGHTS, 'magenta-multistyle', 'thumbnails', 'style7.jpg')))).toBe(0);
    }, 60_000);
  });
});
