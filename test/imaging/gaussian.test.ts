import { describe, expect, it } from 'vitest';
import { gaussianBlur, gaussianBlurPlane, gaussianKernel, gaussianRadius } from '../../src/imaging/gaussian.js';

describe('the one Gaussian', () => {
  it('keeps three sigmas of taps each side, at least one', () => {
    expect(gaussianRadius(0.1)).toBe(1);
    expect(gaussianRadius(1)).toBe(3);
    expect(gaussianRadius(0.79)).toBe(3);
    expect(gaussianRadius(2.357)).toBe(8);
    for (const sigma of [0.3, 0.79, 1, 1.5, 2.357, 4]) {
      const k = gaussianKernel(sigma);
      expect(k.length).toBe(2 * gaussianRadius(sigma) + 1);
      expect(k.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      // The truncated tails hold less than 0.3 % of the mass of the continuous Gaussian.
      const r = gaussianRadius(sigma);
      expect(Math.exp((-r * r) / (2 * sigma * sigma))).toBeLessThan(0.012);
    }
  });

  it('blurs a point into the sampled kernel, and the fast blur stays near it at large sigma', () => {
    const w = 41;
    const impulse = new Float32Array(w * w);
    impulse[20 * w + 20] = 1;
    const sigma = 3;
    const exact = gaussianBlurPlane(impulse, w, w, sigma);
    const k = gaussianKernel(sigma);
    const r = gaussianRadius(sigma);
    for (let dx = -r; dx <= r; dx++) expect(exact[20 * w + 20 + dx]).toBeCloseTo(k[r]! * k[r + dx]!, 6);
    const fast = gaussianBlur(impulse, w, w, sigma);
    let diff = 0;
    for (let i = 0; i < exact.length; i++) diff += Math.abs(fast[i]! - exact[i]!);
    // Three box passes against the true Gaussian: the L1 difference of the two unit-mass responses.
    expect(diff).toBeLessThan(0.1);
    expect(diff).toBeGreaterThan(0); // the box passes are an approximation, not the kernel itself
  });
});
