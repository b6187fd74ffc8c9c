import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/core/rng.js';
import { robustCholesky, symmetricEigen } from '../../../src/engine/features/cholesky.js';
import { MomentAccumulator, applyAffine, applyAffineWith, cwct, cwctRegions, cwctTransform, featureMoments, type FeatureMap } from '../../../src/engine/features/cwct.js';
import { adainTransform } from '../../../src/engine/features/adain.js';
import { Float64Products } from '../../../src/engine/features/float64-products.js';

/** Correlated random features: x = M·g + mean, g standard normal. */
function features(channels: number, pixels: number, seed: number, meanShift = 0): FeatureMap {
  const rng = new Rng(seed);
  const mix = Array.from({ length: channels * channels }, () => rng.normal() * 0.5);
  const g = new Float64Array(channels);
  const data = new Float32Array(channels * pixels);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < channels; c++) g[c] = rng.normal();
    for (let c = 0; c < channels; c++) {
      let v = meanShift + c * 0.1;
      for (let k = 0; k < channels; k++) v += mix[c * channels + k]! * g[k]!;
      data[c * pixels + p] = v;
    }
  }
  return { channels, pixels, data };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function lowerTimesTranspose(L: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) out[i * n + j] += L[i * n + k]! * L[j * n + k]!;
  return out;
}

describe('feature moments', () => {
  it('are accurate for features with a large offset', () => {
    const f = features(5, 3000, 5, 1000); // odd: exercises the unblocked tail of the Gram kernel
    const m = featureMoments(f);
    // Two-pass reference.
    for (let i = 0; i < 5; i++) {
      let mean = 0;
      for (let p = 0; p < f.pixels; p++) mean += f.data[i * f.pixels + p]!;
      mean /= f.pixels;
      expect(m.mean[i]).toBeCloseTo(mean, 8);
      let v = 0;
      for (let p = 0; p < f.pixels; p++) v += (f.data[i * f.pixels + p]! - mean) ** 2;
      expect(m.cov[i * 5 + i]! / (v / (f.pixels - 1))).toBeCloseTo(1, 9);
    }
  });
});

describe('cWCT', () => {
  const content = features(8, 2000, 1);
  const style = features(8, 1500, 2, 0.7);

  it('gives the content the style mean and covariance (alpha 1)', () => {
    const { features: out, transform } = cwct(content, [{ features: style, weight: 1 }]);
    expect(transform.factors).toEqual(['cholesky', 'cholesky']);
    const mo = featureMoments(out);
    const ms = featureMoments(style);
    expect(maxDiff(mo.mean, ms.mean)).toBeLessThan(1e-3);
    expect(maxDiff(mo.cov, ms.cov)).toBeLessThan(1e-3);
  });

  it('returns the content at alpha 0 and blends means at alpha 0.5', () => {
    expect(maxDiff(cwct(content, [{ features: style, weight: 1 }], 0).features.data, content.data)).toBeLessThan(1e-5);
    const half = featureMoments(cwct(content, [{ features: style, weight: 1 }], 0.5).features);
    const mc = featureMoments(content);
    const ms = featureMoments(style);
    expect(maxDiff(half.mean, mc.mean.map((v, i) => (v + ms.mean[i]!) / 2))).toBeLessThan(1e-4);
  });

  it('mixes several styles with their weights', () => {
    const style2 = features(8, 1000, 3, -0.4);
    const out = featureMoments(cwct(content, [{ features: style, weight: 1 }, { features: style2, weight: 3 }]).features);
    const [m1, m2] = [featureMoments(style), featureMoments(style2)];
    expect(maxDiff(out.mean, m1.mean.map((v, i) => 0.25 * v + 0.75 * m2.mean[i]!))).toBeLessThan(1e-4);
    // Covariance of the mixed factor: (Σ wᵢ Lᵢ)(Σ wᵢ Lᵢ)ᵀ.
    const [l1, l2] = [robustCholesky(m1.cov, 8).L, robustCholesky(m2.cov, 8).L];
    const mix = l1.map((v, i) => 0.25 * v + 0.75 * l2[i]!);
    expect(maxDiff(out.cov, lowerTimesTranspose(mix, 8))).toBeLessThan(1e-3);
  });

  it('terminates on rank-deficient features and keeps the style statistics', () => {
    const dependent = (f: FeatureMap) => {
      const d = { ...f, data: f.data.slice() };
      const n = f.pixels;
      for (let p = 0; p < n; p++) d.data[2 * n + p] = d.data[p]! + d.data[n + p]!; // channel 2 = 0 + 1
      for (let p = 0; p < n; p++) d.data[5 * n + p] = 0.25; // constant channel
      return d;
    };
    const c = dependent(content);
    const s = dependent(style);
    const { features: out, transform } = cwct(c, [{ features: s, weight: 1 }]);
    expect(transform.factors).toEqual(['regularised', 'regularised']);
    expect(out.data.every(Number.isFinite)).toBe(true);
    const mo = featureMoments(out);
    const ms = featureMoments(s);
    expect(maxDiff(mo.mean, ms.mean)).toBeLessThan(1e-4);
    // Whitening cannot create variance in the content's missing directions, so the output's
    // covariance is at most the style's, and close to it along the directions the content has.
    expect(maxDiff(mo.cov, ms.cov)).toBeLessThan(2);
    expect(mo.cov[0]! / ms.cov[0]!).toBeCloseTo(1, 3);
  });

  it('maps constant content to the style mean, and colours with a constant style', () => {
    const flat: FeatureMap = { channels: 8, pixels: 100, data: new Float32Array(800).fill(0.3) };
    const out = cwct(flat, [{ features: style, weight: 1 }]).features;
    const ms = featureMoments(style);
    for (let c = 0; c < 8; c++) for (let p = 0; p < 100; p++) expect(out.data[c * 100 + p]).toBeCloseTo(ms.mean[c]!, 5);
    const flatStyle: FeatureMap = { channels: 8, pixels: 50, data: new Float32Array(400).fill(-2) };
    const out2 = cwct(content, [{ features: flatStyle, weight: 1 }]).features;
    expect(maxDiff(out2.data, new Float32Array(out2.data.length).fill(-2))).toBeLessThan(1e-3);
  });

  it('factors indefinite matrices through the eigen fallback and rejects NaN', () => {
    const m = Float64Array.from([1, 3, 3, 1]); // eigenvalues 4 and −2
    const r = robustCholesky(m, 2);
    expect(r.method).toBe('eigen');
    expect(r.L.every(Number.isFinite)).toBe(true);
    const { values } = symmetricEigen(m, 2);
    expect([...values].sort((a, b) => a - b)).toEqual([expect.closeTo(-2, 10), expect.closeTo(4, 10)]);
    expect(() => robustCholesky(Float64Array.from([1, NaN, NaN, 1]), 2)).toThrow(expect.objectContaining({ code: 'E_NUMERIC' }));
  });
});

describe('cWCT with regions', () => {
  it('matches each region to its style region and leaves the rest to global statistics', () => {
    const n = 4;
    const c = features(n, 600, 9);
    const s = features(n, 600, 10);
    // Style region 1 gets a distinctly shifted mean.
    for (let ch = 0; ch < n; ch++) for (let p = 300; p < 600; p++) s.data[ch * 600 + p] += 5;
    const cl = new Int32Array(600);
    const sl = new Int32Array(600);
    for (let p = 0; p < 600; p++) {
      cl[p] = p < 200 ? 0 : p < 400 ? 1 : -1;
      sl[p] = p < 300 ? 0 : 1;
    }
    const { features: out, matched } = cwctRegions(c, [{ features: s, weight: 1 }], { content: cl, style: sl, count: 2 });
    expect(matched).toBe(2);
    const idx = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, k) => a + k);
    for (const [ci, si] of [[idx(0, 200), idx(0, 300)], [idx(200, 400), idx(300, 600)]] as const) {
      const mo = featureMoments(out, ci);
      const ms = featureMoments(s, si);
      expect(maxDiff(mo.mean, ms.mean)).toBeLessThan(1e-3);
      expect(maxDiff(mo.cov, ms.cov)).toBeLessThan(1e-3);
    }
    // Unmatched pixels take the global transform.
    const global = cwct(c, [{ features: s, weight: 1 }]).features;
    for (let ch = 0; ch < n; ch++) for (let p = 400; p < 600; p++) expect(out.data[ch * 600 + p]).toBeCloseTo(global.data[ch * 600 + p]!, 4);
  });
});

describe('moments and transforms on ORT\'s float64 DGEMM', () => {
  // 200 channels: blocks of 10 485 pixels, so 25 000 pixels make two full blocks and a partial one.
  const n = 200;
  const pixels = 25000;
  const offset = (() => {
    const rng = new Rng(41);
    const data = new Float32Array(n * pixels);
    // Offset, unequal channels with a shared component (correlations); offsets test the shift.
    for (let p = 0; p < pixels; p++) {
      const common = rng.normal();
      for (let c = 0; c < n; c++) data[c * pixels + p] = 50 + c + (0.2 + (c % 7) * 0.3) * rng.normal() + 0.5 * common;
    }
    return { channels: n, pixels, data } satisfies FeatureMap;
  })();
  // Distinct pixels (an index never repeats one), not all of them.
  const subset = Int32Array.from({ length: 12000 }, (_, k) => 2 * k + (k % 2));

  it('covariances equal the JavaScript accumulation and a direct two-pass sum, with and without an index', async () => {
    const products = await Float64Products.get(2);
    for (const index of [undefined, subset]) {
      const js = new MomentAccumulator(n);
      js.add(offset, index);
      const ort = new MomentAccumulator(n);
      await ort.addWith(products, offset, index);
      const a = js.moments();
      const b = ort.moments();
      expect(b.count).toBe(a.count);
      expect(maxDiff(b.mean, a.mean)).toBeLessThan(1e-9);
      let scale = 0;
      for (let c = 0; c < n; c++) scale = Math.max(scale, a.cov[c * n + c]!);
      expect(maxDiff(b.cov, a.cov) / scale).toBeLessThan(1e-10);
      // A few entries against the textbook two-pass formula.
      const ids = index ?? Int32Array.from({ length: pixels }, (_, k) => k);
      for (const [i, j] of [[0, 0], [3, 1], [199, 2], [120, 119]] as const) {
        let mi = 0;
        let mj = 0;
        for (const p of ids) {
          mi += offset.data[i * pixels + p]!;
          mj += offset.data[j * pixels + p]!;
        }
        mi /= ids.length;
        mj /= ids.length;
        let cov = 0;
        for (const p of ids) cov += (offset.data[i * pixels + p]! - mi) * (offset.data[j * pixels + p]! - mj);
        cov /= ids.length - 1;
        expect(Math.abs(b.cov[i * n + j]! - cov) / scale).toBeLessThan(1e-9);
      }
    }
  }, 180_000);

  it('variance-only moments are the full moments\' diagonal', () => {
    const full = featureMoments(offset, subset);
    const diagonal = featureMoments(offset, subset, false);
    for (let c = 0; c < n; c++) expect(diagonal.cov[c * n + c]).toBeCloseTo(full.cov[c * n + c]!, 9);
    expect(diagonal.cov[1]).toBe(0);
    expect(maxDiff(diagonal.mean, full.mean)).toBeLessThan(1e-12);
  });

  it('the cWCT applied with DGEMM equals the JavaScript apply, whole and by index; AdaIN (diagonal) too', async () => {
    const products = await Float64Products.get(2);
    const moments = featureMoments(offset);
    const style = featureMoments({ channels: n, pixels, data: offset.data.map((v, i) => 0.5 * v + (i % 13)) });
    for (const t of [cwctTransform(moments, [{ moments: style, weight: 1 }], 0.8), adainTransform(moments, [{ moments: style, weight: 1 }], 1)]) {
      for (const index of [undefined, subset]) {
        const js = offset.data.slice();
        applyAffine(offset, t, js, index);
        const ort = offset.data.slice();
        await applyAffineWith(products, offset, t, ort, index);
        let range = 0;
        for (const v of js) range = Math.max(range, Math.abs(v));
        expect(maxDiff(ort, js) / range).toBeLessThan(1e-6);
        // In place, as the transfer loop does.
        const inPlace = { ...offset, data: offset.data.slice() };
        await applyAffineWith(products, inPlace, t, inPlace.data, index);
        expect(maxDiff(inPlace.data, js) / range).toBeLessThan(1e-6);
      }
    }
  }, 180_000);
});
