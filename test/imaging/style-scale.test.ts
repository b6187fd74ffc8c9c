import { describe, expect, it } from 'vitest';
import { Image } from '../../src/core/image.js';
import { paramsJsonSchema } from '../../src/core/params.js';
import { runMethod } from '../../src/core/stylize.js';
import { kuwahara } from '../../src/methods/filter/kuwahara.js';
import { valueNoise } from '../../src/imaging/noise.js';
import { oil } from '../../src/methods/filter/oil.js';
import { structureScale, styleScale, TYPICAL_SCALE } from '../../src/imaging/style-scale.js';
import { strokes } from '../../src/methods/paint/strokes.js';

/** Blobs of value noise with `cells` cells across the image, in relative coordinates (any size looks alike). */
function blobs(size: number, cells: number, seed = 5): Image {
  const img = new Image(size, size, 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = valueNoise(((x + 0.5) / size) * cells, ((y + 0.5) / size) * cells, seed);
      for (let c = 0; c < 3; c++) img.plane(c)[y * size + x] = 0.15 + 0.7 * v;
    }
  }
  return img;
}

/** Vertical stripes whose period is `periodPercent` % of the width. */
function stripes(size: number, periodPercent: number): Image {
  const img = new Image(size, size, 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = 0.5 + 0.4 * Math.sin((2 * Math.PI * x) / ((periodPercent / 100) * size));
      for (let c = 0; c < 3; c++) img.plane(c)[y * size + x] = v;
    }
  }
  return img;
}

function flatGrey(size: number): Image {
  const img = new Image(size, size, 3);
  img.data.fill(0.5);
  return img;
}

describe('style scale', () => {
  it('measures coarse structure larger than fine texture', () => {
    const coarseBlobs = structureScale(blobs(256, 4))!;
    const fineBlobs = structureScale(blobs(256, 64))!;
    const coarseStripes = structureScale(stripes(256, 20))!;
    const fineStripes = structureScale(stripes(256, 2))!;
    expect(coarseBlobs).toBeGreaterThan(3 * fineBlobs);
    expect(coarseStripes).toBeGreaterThan(5 * fineStripes);
    // Stripes: the scale grows in proportion to the period (≈ 0.2 × period over 5 %–20 %).
    expect(structureScale(stripes(256, 10))! / structureScale(stripes(256, 5))!).toBeCloseTo(2, 0);
    expect(coarseStripes).toBeGreaterThan(TYPICAL_SCALE);
    expect(fineStripes).toBeLessThan(TYPICAL_SCALE);
  });

  it('is a fraction of the style image: the same style at 256 and 1024 px measures alike', () => {
    for (const make of [(n: number) => blobs(n, 8), (n: number) => stripes(n, 5)]) {
      const small = structureScale(make(256))!;
      const large = structureScale(make(1024))!;
      expect(Math.abs(large / small - 1)).toBeLessThan(0.05);
    }
  });

  it('has no scale on a flat image, and then leaves the defaults alone', () => {
    expect(structureScale(flatGrey(64))).toBeUndefined();
    expect(styleScale(flatGrey(64))).toBeUndefined();
    expect(styleScale(undefined)).toBeUndefined();
  });

  it('turns a coarse style into a larger Kuwahara radius than a fine one', async () => {
    // 512 px, so that even the fine style's radius stays above the filter's 2 px floor.
    const content = blobs(512, 24, 9);
    const run = async (style?: Image, radius?: number) =>
      (await runMethod(kuwahara, { content, ...(style && { style }) }, { ...(radius !== undefined && { radius }), styleAmount: 0 })).meta as unknown as {
        radiusPx: number;
        styleScale?: { factor: number };
      };
    const plain = await run();
    const coarse = await run(blobs(128, 3));
    const fine = await run(blobs(128, 48));
    expect(plain.radiusPx).toBeCloseTo(0.006 * 512, 5);
    expect(fine.radiusPx).toBeGreaterThan(2);
    expect(coarse.styleScale!.factor).toBeGreaterThan(1);
    expect(fine.styleScale!.factor).toBeLessThan(1);
    expect(coarse.radiusPx).toBeGreaterThan(1.5 * fine.radiusPx);
    expect(coarse.radiusPx).toBeCloseTo(plain.radiusPx * coarse.styleScale!.factor, 5);
    // An explicit radius wins over the style.
    expect((await run(blobs(128, 3), 2)).radiusPx).toBeCloseTo(0.02 * 512, 5);
    expect((await run(blobs(128, 48), 2)).radiusPx).toBeCloseTo(0.02 * 512, 5);
  });

  it('shows the size defaults in the schema but leaves them out of the parsed params', () => {
    expect(paramsJsonSchema(kuwahara.params).properties.radius!.default).toBe(0.6);
    expect(paramsJsonSchema(oil.params).properties.brushLength!.default).toBe(1.2);
    expect(kuwahara.params.parse({}).radius).toBeUndefined();
    expect(kuwahara.params.parse({ radius: 0.6 }).radius).toBe(0.6);
  });

  it('scales the oil brush and the painting brushes, except those given', async () => {
    const content = blobs(256, 8, 2);
    const coarse = blobs(128, 3);
    const fine = blobs(128, 48);
    const oilMeta = async (style: Image, params: Record<string, unknown> = {}) =>
      (await runMethod(oil, { content, style }, { relief: 0, styleAmount: 0, ...params })).meta as unknown as { radiusPx: number; brushLengthPx: number };
    const oc = await oilMeta(coarse);
    const of = await oilMeta(fine);
    expect(oc.radiusPx).toBeGreaterThan(of.radiusPx);
    expect(oc.brushLengthPx).toBeGreaterThan(of.brushLengthPx);
    const given = await oilMeta(coarse, { brushLength: 3 });
    expect(given.brushLengthPx).toBeCloseTo(0.03 * 256, 5);
    expect(given.radiusPx).toBeCloseTo(oc.radiusPx, 5);

    const small = blobs(128, 8, 2);
    const radii = async (style: Image, params: Record<string, unknown> = {}) =>
      ((await runMethod(strokes, { content: small, style }, { layers: 1, ...params })).meta as unknown as { radii: number[] }).radii;
    const rc = await radii(coarse);
    const rf = await radii(fine);
    expect(rc[0]!).toBeGreaterThan(1.5 * rf[0]!);
    expect((await radii(fine, { largestBrush: 5 }))[0]).toBeCloseTo(0.05 * 128, 5);
  });
});
