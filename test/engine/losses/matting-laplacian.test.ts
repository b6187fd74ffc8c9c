import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/core/rng.js';
import { laplacianTimes, mattingLaplacian, mattingLoss } from '../../../src/engine/losses/matting-laplacian.js';

/** Levin et al.'s eq. 12 evaluated entry by entry: a dense n × n matrix. */
function denseLaplacian(rgb: Float32Array, w: number, h: number, eps: number, r: number): Float64Array {
  const n = w * h;
  const L = new Float64Array(n * n);
  const size = (2 * r + 1) ** 2;
  const colour = (p: number) => [rgb[p]!, rgb[n + p]!, rgb[2 * n + p]!];
  for (let ky = r; ky < h - r; ky++) {
    for (let kx = r; kx < w - r; kx++) {
      const win: number[] = [];
      for (let y = ky - r; y <= ky + r; y++) for (let x = kx - r; x <= kx + r; x++) win.push(y * w + x);
      const mu = [0, 0, 0];
      for (const p of win) colour(p).forEach((v, c) => (mu[c] += v / size));
      const S = [0, 0, 0, 0, 0, 0, 0, 0, 0];
      for (const p of win) {
        const d = colour(p).map((v, c) => v - mu[c]!);
        for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) S[a * 3 + b] += (d[a]! * d[b]!) / size;
      }
      for (let a = 0; a < 3; a++) S[a * 4] += eps / size;
      const inv = invert3(S);
      for (const i of win) {
        for (const j of win) {
          const di = colour(i).map((v, c) => v - mu[c]!);
          const dj = colour(j).map((v, c) => v - mu[c]!);
          let q = 0;
          for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) q += di[a]! * inv[a * 3 + b]! * dj[b]!;
          L[i * n + j] += (i === j ? 1 : 0) - (1 + q) / size;
        }
      }
    }
  }
  return L;
}

function invert3(m: number[]): number[] {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [e * i - f * h, c * h - b * i, b * f - c * e, f * g - d * i, a * i - c * g, c * d - a * f, d * h - e * g, b * g - a * h, a * e - b * d].map((v) => v / det);
}

function randomImage(w: number, h: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: 3 * w * h }, () => rng.next());
}

describe('Matting Laplacian', () => {
  const [w, h] = [7, 5];
  const img = randomImage(w, h, 3);
  const n = w * h;

  for (const [eps, r] of [[1e-7, 1], [1e-2, 1], [1e-5, 2]] as const) {
    it(`matches the dense formula entry by entry (eps ${eps}, radius ${r})`, () => {
      const dense = denseLaplacian(img, w, h, eps, r);
      const L = mattingLaplacian(img, w, h, { eps, radius: r });
      let maxErr = 0;
      let maxAbs = 0;
      for (let j = 0; j < n; j++) {
        const e = new Float64Array(n);
        e[j] = 1;
        const col = laplacianTimes(L, e); // column j = row j (symmetric)
        for (let i = 0; i < n; i++) {
          maxErr = Math.max(maxErr, Math.abs(col[i]! - dense[i * n + j]!));
          maxAbs = Math.max(maxAbs, Math.abs(dense[i * n + j]!));
        }
      }
      expect(maxAbs).toBeGreaterThan(0.5);
      expect(maxErr / maxAbs).toBeLessThan(1e-9);
    });
  }

  it('has zero row sums and is positive semi-definite', () => {
    const L = mattingLaplacian(img, w, h);
    const ones = new Float64Array(n).fill(1);
    expect(Math.max(...laplacianTimes(L, ones).map(Math.abs))).toBeLessThan(1e-9);
    const rng = new Rng(9);
    for (let t = 0; t < 5; t++) {
      const v = Float64Array.from({ length: n }, () => rng.normal());
      const lv = laplacianTimes(L, v);
      expect(v.reduce((s, x, i) => s + x * lv[i]!, 0)).toBeGreaterThanOrEqual(-1e-9);
    }
  });

  it('gives the loss and its gradient (finite differences)', () => {
    const L = mattingLaplacian(img, w, h);
    const v = randomImage(w, h, 4);
    const { loss, grad } = mattingLoss(L, v, 3);
    expect(loss).toBeGreaterThan(0);
    // The content image itself is (nearly) in L's null space: a locally linear function of itself.
    expect(mattingLoss(L, img, 3).loss).toBeLessThan(1e-4 * loss);
    for (const k of [0, 17, 40, 3 * n - 1]) {
      const step = 1e-3;
      const plus = v.slice();
      plus[k] += step;
      const minus = v.slice();
      minus[k] -= step;
      const fd = (mattingLoss(L, plus, 3).loss - mattingLoss(L, minus, 3).loss) / (2 * step);
      expect(grad[k]).toBeCloseTo(fd, 4);
    }
  });
});
