import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { Image } from '../../src/core/image.js';
import { resizeImage } from '../../src/core/resample.js';
import { runMethod } from '../../src/core/stylize.js';
import { gaussianBlur } from '../../src/imaging/gaussian.js';
import { listMethods } from '../../src/index.js';
import { discImage, flatImage, gradientImage, meanAbsDiff, noiseImage } from '../helpers/fixtures.js';

/**
 * Awkward inputs for every non-photorealistic method (filter.* and paint.*): tiny and flat images,
 * transparency, and sizes relative to the image (the same picture at two sizes looks alike).
 */
/** Spread of the output on a flat input that a method's own texture accounts for. */
const TEXTURE_STD: Record<string, number> = { 'filter.oil': 0.15, 'filter.pencil': 0.25, 'filter.watercolor': 0.05, 'paint.haeberli': 0.03 };

const npr = listMethods().filter((m) => m.family === 'filter' || m.family === 'paint');

describe.each(npr.map((m) => [m.id, m] as const))('%s on awkward inputs', (_id, def) => {
  it('runs on an 8×8 image', async () => {
    const r = await runMethod(def, { content: noiseImage(8, 8, 4) });
    expect([r.image.width, r.image.height, r.image.channels]).toEqual([8, 8, 3]);
    for (const v of r.image.data) expect(Number.isFinite(v)).toBe(true);
  });

  it('runs on a flat image (no gradient anywhere) and adds no more than its texture', async () => {
    const content = flatImage(48, 40, [0.55, 0.4, 0.3]);
    const r = await runMethod(def, { content });
    for (const v of r.image.data) expect(Number.isFinite(v)).toBe(true);
    // Nothing is invented from a flat input but the method's own texture: brush relief (oil),
    // graphite shading of a mid tone (pencil), paper and pigment grain (watercolour, marks).
    const lum = r.image.plane(1);
    let s = 0;
    let s2 = 0;
    for (const v of lum) {
      s += v;
      s2 += v * v;
    }
    const std = Math.sqrt(Math.max(0, s2 / lum.length - (s / lum.length) ** 2));
    expect(std).toBeLessThan(TEXTURE_STD[def.id] ?? 0.01);
  });

  it('keeps the alpha channel of a transparent PNG', async () => {
    const w = 40;
    const h = 32;
    const rgba = Buffer.alloc(w * h * 4);
    for (let i = 0; i < w * h; i++) {
      const x = i % w;
      rgba[i * 4] = (x * 6) & 255;
      rgba[i * 4 + 1] = 120;
      rgba[i * 4 + 2] = 200;
      rgba[i * 4 + 3] = x < w / 2 ? 0 : 255;
    }
    const png = await sharp(rgba, { raw: { width: w, height: h, channels: 4 } }).png().toBuffer();
    const r = await runMethod(def, { content: new Uint8Array(png) });
    expect(r.image.alpha).toBeDefined();
    expect(r.image.alpha![0]).toBe(0);
    expect(r.image.alpha![w - 1]).toBe(1);
  });
});

describe('NPR sizes are relative to the image', () => {
  // The same picture at 96 and 192 px: the large result, shrunk, is close to the small one.
  const picture = (size: number) => {
    const disc = discImage(size, size, size * 0.3, [0.9, 0.7, 0.2], [0.1, 0.2, 0.5]);
    const grad = gradientImage(size, size);
    const grain = noiseImage(size, size, 5, [0.5, 0.5, 0.5], 0.5);
    const img = new Image(size, size, 3);
    for (let i = 0; i < img.data.length; i++) img.data[i] = 0.65 * disc.data[i]! + 0.25 * grad.data[i]! + 0.1 * grain.data[i]!;
    return img;
  };
  // Kuwahara's default radius is under a pixel at 96 px: use one that does something at both sizes.
  const params: Record<string, Record<string, unknown>> = { 'filter.kuwahara': { radius: 3 } };
  for (const id of ['filter.kuwahara', 'filter.toon', 'filter.xdog', 'filter.watercolor', 'filter.oil', 'filter.pencil']) {
    it(`${id}: 96 px and 192 px results agree`, async () => {
      const def = npr.find((m) => m.id === id)!;
      const small = await runMethod(def, { content: picture(96) }, params[id]);
      const large = await runMethod(def, { content: picture(192) }, params[id]);
      // Grain (paper, bristles, pencil) cannot match pixel for pixel across sizes; structure and
      // tone must: compare at a scale of a few pixels.
      const soft = (img: Image) => Image.fromPlanes(96, 96, [0, 1, 2].map((c) => gaussianBlur(img.plane(c), 96, 96, 1.5)));
      const shrunk = soft(resizeImage(large.image, 96, 96));
      const effect = meanAbsDiff(soft(small.image), soft(picture(96)));
      const between = meanAbsDiff(shrunk, soft(small.image));
      expect(between).toBeLessThan(0.06);
      expect(between).toBeLessThan(Math.max(0.02, effect * 0.8));
    });
  }
});
