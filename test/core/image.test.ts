import { describe, expect, it } from 'vitest';
import { AtelierError } from '../../src/core/errors.js';
import { Image, blendImages, clampFinite, clampImage, toRgb } from '../../src/core/image.js';
import { fitWithin, limitSize, resizeImage } from '../../src/core/resample.js';
import { flatImage, gradientImage, stripesImage } from '../helpers/fixtures.js';

describe('Image', () => {
  it('refuses empty shapes with E_IMAGE_EMPTY', () => {
    expect(() => new Image(0, 5, 3)).toThrow(AtelierError);
    try {
      new Image(7, 0, 3);
    } catch (e) {
      expect((e as AtelierError).code).toBe('E_IMAGE_EMPTY');
      expect((e as Error).message).toContain('7×0');
    }
  });

  it('round-trips interleaved 8-bit samples exactly', () => {
    const samples = Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => (i * 37) % 256);
    const img = Image.fromInterleaved(4, 3, 3, samples, 255);
    expect(img.plane(1)[0]).toBeCloseTo(samples[1]! / 255, 6);
    expect(Array.from(img.toInterleaved(255))).toEqual(Array.from(samples));
  });

  it('appends alpha when writing interleaved samples and clamps NaN to 0', () => {
    const img = flatImage(2, 1, [1, 0.5, Number.NaN]);
    img.alpha = new Float32Array([1, 0]);
    expect(Array.from(img.toInterleaved(255))).toEqual([255, 128, 0, 255, 255, 128, 0, 0]);
  });

  it('crops, blends, clamps and expands grey to RGB', () => {
    const img = gradientImage(10, 8);
    const c = img.crop(2, 3, 4, 2);
    expect(c.width).toBe(4);
    expect(c.plane(0)[0]).toBe(img.plane(0)[3 * 10 + 2]);
    const a = flatImage(2, 2, [0, 0, 0]);
    const b = flatImage(2, 2, [1, 1, 1]);
    expect(blendImages(a, b, 0.25).data[0]).toBeCloseTo(0.25);
    expect(blendImages(a, b, new Float32Array([0, 1, 0.5, 0])).plane(0)[2]).toBeCloseTo(0.5);
    const wild = flatImage(1, 1, [2, -1, 0.5]);
    expect(Array.from(clampImage(wild).data)).toEqual([1, 0, 0.5]);
    const inf = flatImage(1, 1, [Infinity, 0.25, 3]);
    expect(clampFinite(inf)).toBe(false);
    expect(Array.from(inf.data)).toEqual([1, 0.25, 1]);
    expect(clampFinite(flatImage(1, 1, [-2, 0.5, 9]))).toBe(true);
    const grey = new Image(2, 1, 1, new Float32Array([0.2, 0.8]));
    expect(Array.from(toRgb(grey).plane(2))).toEqual(Array.from(grey.data));
  });
});

describe('resizeImage', () => {
  it('keeps a flat image flat at any size', () => {
    const img = flatImage(17, 11, [0.3, 0.6, 0.9]);
    for (const [w, h] of [[5, 3], [40, 31], [1, 1]] as const) {
      const r = resizeImage(img, w, h);
      for (let c = 0; c < 3; c++) for (const v of r.plane(c)) expect(v).toBeCloseTo([0.3, 0.6, 0.9][c]!, 5);
    }
  });

  it('averages when shrinking: 2-pixel stripes halve to their mean (no aliasing)', () => {
    const img = stripesImage(64, 8, 2, [1, 1, 1], [0, 0, 0]);
    const r = resizeImage(img, 16, 2);
    // Interior pixels: the kernel's full support lies inside the image (borders renormalise).
    for (let x = 1; x < 15; x++) expect(r.plane(0)[x]).toBeCloseTo(0.5, 5);
  });

  it('interpolates linearly when enlarging a ramp', () => {
    const img = new Image(2, 1, 1, new Float32Array([0, 1]));
    const r = resizeImage(img, 4, 1);
    // Pixel centres at 0.25-px steps of the source: clamped ends, linear middle.
    expect(Array.from(r.data).map((v) => +v.toFixed(3))).toEqual([0, 0.25, 0.75, 1]);
  });

  it('fits the long edge within a max size, keeping the aspect ratio', () => {
    expect(fitWithin(4000, 1000, 1000)).toEqual({ width: 1000, height: 250 });
    expect(fitWithin(300, 200, 1000)).toEqual({ width: 300, height: 200 });
    expect(fitWithin(1, 4000, 512)).toEqual({ width: 1, height: 512 });
    expect(limitSize(gradientImage(100, 50), 20).width).toBe(20);
  });
});
