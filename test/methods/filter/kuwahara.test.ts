import { describe, expect, it } from 'vitest';
import { Image } from '../../../src/core/image.js';
import { runMethod } from '../../../src/core/stylize.js';
import { kuwaharaFilter } from '../../../src/methods/filter/anisotropic-kuwahara.js';
import { mapStripsParallel } from '../../../src/methods/filter/strip-pool.js';
import { orientationField } from '../../../src/methods/filter/structure-tensor.js';
import { kuwahara } from '../../../src/methods/filter/kuwahara.js';
import { Rng } from '../../../src/core/rng.js';

/** Left half dark, right half light (edge between x = w/2 − 1 and w/2), plus seeded noise of ±amp. */
function noisyStep(w: number, h: number, amp: number, seed = 3): Image {
  const img = new Image(w, h, 3);
  const rng = new Rng(seed);
  for (let c = 0; c < 3; c++) {
    const p = img.plane(c);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) p[y * w + x] = (x < w / 2 ? 0.25 : 0.75) + amp * (rng.next() * 2 - 1);
  }
  return img;
}

function rowStats(img: Image, x0: number, x1: number): { mean: number; std: number } {
  const p = img.plane(0);
  let s = 0;
  let s2 = 0;
  let n = 0;
  for (let y = 8; y < img.height - 8; y++) {
    for (let x = x0; x < x1; x++) {
      const v = p[y * img.width + x]!;
      s += v;
      s2 += v * v;
      n++;
    }
  }
  const mean = s / n;
  return { mean, std: Math.sqrt(Math.max(0, s2 / n - mean * mean)) };
}

describe('filter.kuwahara', () => {
  for (const mode of ['anisotropic', 'generalised'] as const) {
    it(`${mode}: keeps a step edge sharp and flattens the noise on both sides`, async () => {
      const input = noisyStep(128, 96, 0.08);
      // radius 5 % of 128 px = 6.4 px.
      const r = await runMethod(kuwahara, { content: input }, { mode, radius: 5 });
      const before = rowStats(input, 8, 48);
      const left = rowStats(r.image, 8, 48);
      const right = rowStats(r.image, 80, 120);
      expect(left.std).toBeLessThan(before.std / 5);
      expect(right.std).toBeLessThan(before.std / 5);
      expect(left.mean).toBeCloseTo(0.25, 1);
      expect(right.mean).toBeCloseTo(0.75, 1);
      // Sharp: one pixel either side of the edge is already within 0.1 of its region's level.
      const edgeLeft = rowStats(r.image, 62, 63).mean;
      const edgeRight = rowStats(r.image, 65, 66).mean;
      expect(edgeLeft).toBeLessThan(0.35);
      expect(edgeRight).toBeGreaterThan(0.65);
    });
  }

  it('gives the same pixels in strips as in one piece', async () => {
    const img = noisyStep(48, 96, 0.1);
    const opts = { radius: 3, sectors: 8, sharpness: 8, eccentricity: 1 };
    const run = (tile: Image, _top: number, _o: unknown) => {
      const planes = [tile.plane(0), tile.plane(1), tile.plane(2)];
      const field = orientationField(planes, tile.width, tile.height, 1);
      return Image.fromPlanes(tile.width, tile.height, kuwaharaFilter(planes, tile.width, tile.height, field, opts));
    };
    const whole = run(img, 0, undefined);
    const job = { module: '', fn: '', options: undefined };
    const strips = await mapStripsParallel(img, 2 * 3 + 3 + 2 + 4, 3, job, run, { threads: 1, maxStripPixels: 48 * 20 });
    let maxDiff = 0;
    for (let i = 0; i < whole.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(whole.data[i]! - strips.data[i]!));
    expect(maxDiff).toBeLessThan(1e-5);
  });
});

describe('filter.kuwahara with a style image', () => {
  it("moves the colours towards the style's statistics", async () => {
    const content = noisyStep(48, 40, 0.05);
    const style = new Image(24, 24, 3);
    style.plane(0).fill(0.9);
    style.plane(1).fill(0.2);
    style.plane(2).fill(0.1);
    const plain = await runMethod(kuwahara, { content });
    const styled = await runMethod(kuwahara, { content, style });
    const mean = (img: Image, c: number) => img.plane(c).reduce((a, b) => a + b, 0) / img.pixels;
    expect(mean(styled.image, 0) - mean(styled.image, 2)).toBeGreaterThan(mean(plain.image, 0) - mean(plain.image, 2) + 0.3);
  });
});
