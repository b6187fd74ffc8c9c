import { describe, expect, it } from 'vitest';
import { luma } from '../../../src/core/color.js';
import { Image } from '../../../src/core/image.js';
import { runMethod } from '../../../src/core/stylize.js';
import { analogy } from '../../../src/methods/patch/analogy.js';
import { gradientImage, meanAbsDiff } from '../../helpers/fixtures.js';
import { Rng } from '../../../src/core/rng.js';

/** Smooth random colour blobs: structure at several scales, like a photograph. */
function blobs(width: number, height: number, seed: number): Image {
  const rng = new Rng(seed);
  const img = new Image(width, height, 3);
  const waves = Array.from({ length: 6 }, () => ({ fx: rng.uniform(0.05, 0.4), fy: rng.uniform(0.05, 0.4), ph: rng.uniform(0, 6), c: rng.int(3) }));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let v = 0.5;
        for (const w of waves) if (w.c === c) v += 0.15 * Math.sin(w.fx * x + w.fy * y + w.ph);
        img.data[c * width * height + y * width + x] = Math.min(1, Math.max(0, v));
      }
    }
  }
  return img;
}

function mapImage(img: Image, f: (v: number) => number): Image {
  const out = img.clone();
  for (let i = 0; i < out.data.length; i++) out.data[i] = f(out.data[i]);
  return out;
}

describe('image analogies', () => {
  it('learns an inversion from one example and applies it to a new image', async () => {
    // A and B: two parts of one random field (the same kind of picture, different pixels).
    const field = blobs(160, 80, 3);
    const a = field.crop(0, 0, 96, 80);
    const b = field.crop(96, 0, 64, 80);
    const invert = (v: number) => 1 - v;
    const r = await runMethod(analogy, { content: b, extra: { sourceA: a, sourceAStyled: mapImage(a, invert) } }, { colors: 'example' });
    const expected = mapImage(b, invert);
    const err = meanAbsDiff(r.image, expected);
    expect(err).toBeLessThan(0.06);
    expect(err).toBeLessThan(0.25 * meanAbsDiff(b, expected));
  });

  it('learns a tone curve in luminance, keeping the content\'s colours', async () => {
    const field = blobs(160, 80, 5);
    const a = field.crop(0, 0, 96, 80);
    const b = field.crop(96, 0, 64, 80);
    const curve = (v: number) => v * v;
    const r = await runMethod(analogy, { content: b, extra: { sourceA: a, sourceAStyled: mapImage(a, curve) } }, {});
    const got = luma(r.image).data;
    const want = luma(mapImage(b, curve)).data;
    const before = luma(b).data;
    let e = 0;
    let e0 = 0;
    for (let i = 0; i < got.length; i++) {
      e += Math.abs(got[i] - want[i]);
      e0 += Math.abs(before[i] - want[i]);
    }
    expect(e / got.length).toBeLessThan(0.2 * (e0 / got.length));
  });

  it('needs both example images', async () => {
    const err = await runMethod(analogy, { content: gradientImage(20, 20), extra: { sourceA: gradientImage(20, 20) } }, {}).catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe('E_INPUT_MISSING');
  });
});
