import { describe, expect, it } from 'vitest';
import { Image } from '../../src/core/image.js';
import { Rng } from '../../src/core/rng.js';
import { BoxFilter, guidedFilter } from '../../src/imaging/guided-filter.js';
import { flatImage } from '../helpers/fixtures.js';

/** Left half `lo`, right half `hi`, every channel, plus optional seeded noise. */
function stepImage(width: number, height: number, lo: number, hi: number, noise = 0, seed = 1): Image {
  const rng = new Rng(seed);
  const img = new Image(width, height, 3);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) img.plane(c)[y * width + x] = (x < width / 2 ? lo : hi) + noise * rng.normal();
  }
  return img;
}

describe('box filter', () => {
  it('equals the brute-force mean over the clipped window', () => {
    const rng = new Rng(2);
    const [w, h, r] = [13, 9, 3];
    const src = Float32Array.from({ length: w * h }, () => rng.next());
    const out = new BoxFilter(w, h, r).mean(src);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        let n = 0;
        for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) {
          for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) {
            s += src[yy * w + xx]!;
            n++;
          }
        }
        expect(out[y * w + x]).toBeCloseTo(s / n, 5);
      }
    }
  });
});

describe('guided filter', () => {
  it('keeps a flat input flat, whatever the guide', () => {
    const guide = stepImage(32, 24, 0.1, 0.9, 0.05);
    for (const g of [guide, new Image(32, 24, 1, guide.plane(0).slice())]) {
      const out = guidedFilter(g, flatImage(32, 24, [0.3, 0.6, 0.2]), { radius: 4, eps: 1e-3 });
      for (let c = 0; c < 3; c++) for (const v of out.plane(c)) expect(v).toBeCloseTo([0.3, 0.6, 0.2][c]!, 5);
    }
  });

  it("preserves a step edge of the guide while removing the input's noise", () => {
    const guide = stepImage(64, 32, 0.2, 0.8);
    const input = stepImage(64, 32, 0.2, 0.8, 0.05, 7);
    for (const subsample of [1, 2]) {
      const out = guidedFilter(guide, input, { radius: 6, eps: 1e-3, subsample });
      const p = out.plane(0);
      let noiseIn = 0;
      let noiseOut = 0;
      for (let y = 0; y < 32; y++) {
        // Right at the edge the output keeps the full step (no blur across it).
        expect(p[y * 64 + 31]!).toBeLessThan(0.27);
        expect(p[y * 64 + 32]!).toBeGreaterThan(0.73);
        for (let x = 0; x < 64; x++) {
          const clean = x < 32 ? 0.2 : 0.8;
          noiseIn += (input.plane(0)[y * 64 + x]! - clean) ** 2;
          noiseOut += (p[y * 64 + x]! - clean) ** 2;
        }
      }
      expect(noiseOut).toBeLessThan(noiseIn / 10);
    }
  });

  it('reproduces an input that is an affine function of the guide', () => {
    const guide = stepImage(40, 30, 0.2, 0.7, 0.1, 3);
    const input = guide.emptyLike();
    for (let i = 0; i < guide.data.length; i++) input.data[i] = 0.5 * guide.data[i]! + 0.1;
    const out = guidedFilter(guide, input, { radius: 3, eps: 1e-6 });
    for (let i = 0; i < out.data.length; i++) expect(out.data[i]).toBeCloseTo(input.data[i]!, 3);
  });
});
