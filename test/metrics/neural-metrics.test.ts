import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Image } from '../../src/core/image.js';
import { randomVgg19Weights } from '../../src/engine/nets/vgg19.js';
import { getMetric } from '../../src/metrics/index.js';
import { computeMetric } from '../../src/metrics/metric.js';
import { RANDOM_WEIGHTS_SEED } from '../../src/metrics/vgg-features.js';
import { gradientImage, noiseImage, tempDir } from '../helpers/fixtures.js';
import { restoreHomeAfterAll } from '../helpers/temporary-home.js';

/**
 * gram and content-loss on seeded random VGG-19 weights (no weights can be downloaded here). The
 * Gram normalisation is pinned by recomputing the relu1_1 term by hand from the same weights.
 */

const home = tempDir('atelier-home-');
restoreHomeAfterAll();
beforeAll(() => {
  process.env.ATELIER_HOME = home.dir; // an empty model store
});
afterAll(() => home.cleanup());

const random = { weights: 'random' as const, threads: 1 };

/** relu1_1 of the normalised VGG by hand: 1×1 conv, reflection pad 1, 3×3 conv, ReLU; then G = F·Fᵀ/(C·H·W). */
function relu1Gram(img: Image): Float64Array {
  const w = randomVgg19Weights('normalised', RANDOM_WEIGHTS_SEED, 'relu1_1');
  const w0 = w.get('0.weight')!.data;
  const b0 = w.get('0.bias')!.data;
  const w1 = w.get('2.weight')!.data;
  const b1 = w.get('2.bias')!.data;
  const { width: W, height: H } = img;
  const x = [0, 1, 2].map((o) => Float64Array.from({ length: W * H }, (_, i) => b0[o]! + [0, 1, 2].reduce((s, c) => s + w0[o * 3 + c]! * img.data[c * W * H + i]!, 0)));
  const refl = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * n - 2 - i : i);
  const C = 64;
  const F = Array.from({ length: C }, (_, o) => {
    const f = new Float64Array(W * H);
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < W; xx++) {
        let s = b1[o]!;
        for (let c = 0; c < 3; c++) for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
          s += w1[((o * 3 + c) * 3 + ky) * 3 + kx]! * x[c]![refl(y + ky - 1, H) * W + refl(xx + kx - 1, W)]!;
        }
        f[y * W + xx] = Math.max(0, s);
      }
    }
    return f;
  });
  const G = new Float64Array(C * C);
  for (let i = 0; i < C; i++) for (let j = 0; j < C; j++) {
    let s = 0;
    for (let k = 0; k < W * H; k++) s += F[i]![k]! * F[j]![k]!;
    G[i * C + j] = s / (C * W * H);
  }
  return G;
}

describe('neural metrics (random VGG-19 weights)', () => {
  it('refuse to run without installed weights unless random weights are asked for', async () => {
    const img = gradientImage(24, 24);
    await expect(computeMetric(getMetric('gram'), { output: img, style: img })).rejects.toMatchObject({
      code: 'E_WEIGHTS_MISSING',
      message: expect.stringContaining('atelier models pull vgg_normalised'),
    });
  });

  it('gram: 0 for the style itself, labelled as random, and the relu1_1 term equals MSE of F·Fᵀ/(C·H·W)', async () => {
    const a = gradientImage(24, 20);
    const b = noiseImage(22, 18, 4);
    const self = await computeMetric(getMetric('gram'), { output: a, style: a }, random);
    expect(self.value).toBe(0);
    expect(self.notes?.[0]).toMatch(/random VGG-19 weights/);
    const r = await computeMetric(getMetric('gram'), { output: a, style: b }, random);
    expect(Object.keys(r.parts)).toEqual(['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1']);
    const ga = relu1Gram(a);
    const gb = relu1Gram(b);
    let mse = 0;
    for (let i = 0; i < ga.length; i++) mse += (ga[i]! - gb[i]!) ** 2;
    mse /= ga.length;
    expect(r.parts.relu1_1! / mse).toBeCloseTo(1, 3);
    expect(r.value).toBeCloseTo(Object.values(r.parts).reduce((s, v) => s + v, 0), 12);
  });

  it('content-loss: 0 for the content itself and growing with noise', async () => {
    const c = gradientImage(32, 32);
    const noisy = (amp: number) => {
      const out = c.clone();
      const n = noiseImage(32, 32, 9, [0, 0, 0], amp);
      for (let i = 0; i < out.data.length; i++) out.data[i]! += n.data[i]!;
      return out;
    };
    expect((await computeMetric(getMetric('content-loss'), { output: c, content: c }, random)).value).toBe(0);
    const small = (await computeMetric(getMetric('content-loss'), { output: noisy(0.05), content: c }, random)).value;
    const large = (await computeMetric(getMetric('content-loss'), { output: noisy(0.3), content: c }, random)).value;
    expect(small).toBeGreaterThan(0);
    expect(large).toBeGreaterThan(small);
  });
});
