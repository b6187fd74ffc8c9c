import { describe, expect, it } from 'vitest';
import { Image } from '../../src/core/image.js';
import { multiScaleSsim, msSsimScales } from '../../src/metrics/ms-ssim.js';
import { structuralSimilarity } from '../../src/metrics/ssim.js';
import { ssimStatistics } from '../../src/metrics/ssim-statistics.js';
import { flatImage, gradientImage, noiseImage } from '../helpers/fixtures.js';

const C1 = 0.01 ** 2;
const C2 = 0.03 ** 2;

/** SSIM the slow, obvious way: full 11×11 Gaussian window at every valid pixel. */
function bruteForceSsim(a: Float32Array, b: Float32Array, w: number, h: number): number {
  const r = 5;
  const g: number[] = [];
  for (let j = -r; j <= r; j++) g.push(Math.exp(-(j * j) / (2 * 1.5 * 1.5)));
  const gs = g.reduce((s, v) => s + v, 0);
  let total = 0;
  let n = 0;
  for (let y = r; y < h - r; y++) {
    for (let x = r; x < w - r; x++) {
      let ux = 0, uy = 0, xx = 0, yy = 0, xy = 0;
      for (let j = -r; j <= r; j++) {
        for (let i = -r; i <= r; i++) {
          const wt = (g[i + r]! * g[j + r]!) / (gs * gs);
          const va = a[(y + j) * w + x + i]!;
          const vb = b[(y + j) * w + x + i]!;
          ux += wt * va; uy += wt * vb; xx += wt * va * va; yy += wt * vb * vb; xy += wt * va * vb;
        }
      }
      const vx = xx - ux * ux, vy = yy - uy * uy, vxy = xy - ux * uy;
      total += ((2 * ux * uy + C1) * (2 * vxy + C2)) / ((ux * ux + uy * uy + C1) * (vx + vy + C2));
      n++;
    }
  }
  return total / n;
}

function negate(img: Image): Image {
  const out = img.emptyLike();
  for (let i = 0; i < img.data.length; i++) out.data[i] = 1 - img.data[i]!;
  return out;
}

describe('ssim', () => {
  it('is exactly 1 for an image and itself', () => {
    const a = noiseImage(40, 30, 5);
    const r = structuralSimilarity(a, a);
    expect(r.value).toBeCloseTo(1, 12);
    expect(r.parts.luma).toBeCloseTo(1, 12);
  });

  it('has the known value for a flat image and its negation', () => {
    // Flat: no variance, so SSIM is the luminance term (2μ(1−μ) + C1) / (μ² + (1−μ)² + C1).
    const a = flatImage(24, 24, [0.3, 0.3, 0.3]);
    const expected = (2 * 0.3 * 0.7 + C1) / (0.09 + 0.49 + C1);
    expect(structuralSimilarity(a, negate(a)).value).toBeCloseTo(expected, 6); // 0.3 is stored as float32
  });

  it('of a textured image and its negation matches the closed form from local statistics', () => {
    const a = noiseImage(32, 28, 9);
    const r = structuralSimilarity(a, negate(a));
    expect(r.value).toBeLessThan(0);
    expect(r.parts.r).toBeCloseTo(bruteForceSsim(a.plane(0), negate(a).plane(0), 32, 28), 9);
  });

  it('matches a brute-force windowed computation on unrelated images', () => {
    const a = gradientImage(37, 29);
    const b = noiseImage(37, 29, 2);
    const s = ssimStatistics(a.plane(1), b.plane(1), 37, 29).ssim;
    expect(s).toBeCloseTo(bruteForceSsim(a.plane(1), b.plane(1), 37, 29), 9);
  });

  it('falls as noise grows', () => {
    const a = gradientImage(48, 48);
    const values = [0.02, 0.1, 0.3].map((amp) => {
      const noisy = a.clone();
      const n = noiseImage(48, 48, 3, [0, 0, 0], amp);
      for (let i = 0; i < noisy.data.length; i++) noisy.data[i]! += n.data[i]!;
      return structuralSimilarity(a, noisy).value;
    });
    expect(values[0]).toBeGreaterThan(values[1]!);
    expect(values[1]).toBeGreaterThan(values[2]!);
  });

  it('refuses images smaller than the window, and images of different shapes', () => {
    expect(() => structuralSimilarity(flatImage(8, 20, [0, 0, 0]), flatImage(8, 20, [0, 0, 0]))).toThrow(/too small/);
    expect(() => structuralSimilarity(flatImage(20, 20, [0, 0, 0]), flatImage(21, 20, [0, 0, 0]))).toThrow(/one shape/);
  });
});

describe('ms-ssim', () => {
  it('is 1 for identical images and below SSIM-level agreement for noisy ones', () => {
    const a = gradientImage(200, 180);
    expect(multiScaleSsim(a, a).value).toBeCloseTo(1, 10);
    const noisy = a.clone();
    const n = noiseImage(200, 180, 4, [0, 0, 0], 0.2);
    for (let i = 0; i < noisy.data.length; i++) noisy.data[i]! += n.data[i]!;
    const v = multiScaleSsim(a, noisy).value;
    expect(v).toBeGreaterThan(0);
    expect(v).toBeLessThan(1);
    // Noise is a fine-scale error: the coarse scales forgive it, so MS-SSIM is above single-scale SSIM.
    expect(v).toBeGreaterThan(structuralSimilarity(a, noisy).value);
  });

  it('uses as many scales as fit the 11-pixel window', () => {
    expect(msSsimScales(256, 256)).toBe(5);
    expect(msSsimScales(44, 100)).toBe(3);
    expect(msSsimScales(11, 11)).toBe(1);
    expect(multiScaleSsim(gradientImage(44, 50), gradientImage(44, 50)).parts.scales).toBe(3);
  });
});
