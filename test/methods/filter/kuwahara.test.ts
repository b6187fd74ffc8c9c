import { describe, expect, it } from 'vitest';
import { Image } from '../../../src/core/image.js';
import { runMethod } from '../../../src/core/stylize.js';
import { kuwaharaFilter } from '../../../src/methods/filter/anisotropic-kuwahara.js';
import { kuwaharaWorkspace } from '../../../src/methods/filter/kuwahara-kernel.js';
import { mapStripsParallel } from '../../../src/imaging/strip-pool.js';
import { orientationField } from '../../../src/imaging/structure-tensor.js';
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

  for (const mode of ['anisotropic', 'generalised'] as const) {
    it(`${mode}: filters a 192 × 128 thumbnail at the default radius (0.6 % of it is 1.15 px, below the 2 px floor)`, async () => {
      // At 1.15 px the tap grid had one ring and the output was the input, pixel for pixel.
      const input = noisyStep(192, 128, 0.08, 5);
      const r = await runMethod(kuwahara, { content: input }, { mode });
      expect(r.meta.radiusPx).toBe(2);
      const before = rowStats(input, 8, 80);
      const after = rowStats(r.image, 8, 80);
      // 2 px sectors hold a few pixels each, so the noise drops by about a fifth (0.78×); unfiltered it stays at 1×.
      expect(after.std).toBeLessThan(0.85 * before.std);
      expect(after.mean).toBeCloseTo(0.25, 1);
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

/**
 * A direct, slow reading of the generalised Kuwahara filter with polynomial sector weights
 * (Kyprianidis et al. 2010), written independently of the filter's tables and kernel: taps on the
 * grid points of the disc of radius r, edge-clamped, sector weights max(0, y + ζ − η x²)² in each
 * sector's frame shared out over the sectors, a Gaussian falloff, and the output weighted by
 * (σmin/σk)^q with σ floored at 0.004.
 */
function referenceKuwahara(img: Image, r: number, grid: number, sectors: number, q: number): Float32Array[] {
  const { width: w, height: h } = img;
  const zeta = 1 / grid;
  const half = Math.PI / sectors;
  const eta = (zeta + Math.cos(half)) / Math.sin(half) ** 2;
  const out = [0, 1, 2].map(() => new Float32Array(w * h));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sums = Array.from({ length: sectors }, () => [0, 0, 0, 0, 0]);
      for (let j = -grid; j <= grid; j++) {
        for (let i = -grid; i <= grid; i++) {
          const u = i / grid;
          const v = j / grid;
          if (u * u + v * v > 1 + 1e-9) continue;
          const ws = Array.from({ length: sectors }, (_, k) => {
            const a = (2 * Math.PI * k) / sectors;
            const rx = Math.cos(a) * u + Math.sin(a) * v;
            const ry = -Math.sin(a) * u + Math.cos(a) * v;
            return Math.max(0, ry + zeta - eta * rx * rx) ** 2;
          });
          const total = ws.reduce((a, b) => a + b, 0);
          if (total === 0) continue;
          const sx = Math.min(w - 1, Math.max(0, Math.floor(x + 0.5 + u * r)));
          const sy = Math.min(h - 1, Math.max(0, Math.floor(y + 0.5 + v * r)));
          const px = [0, 1, 2].map((c) => img.plane(c)[sy * w + sx]!);
          const sq = px[0]! ** 2 + px[1]! ** 2 + px[2]! ** 2;
          for (let k = 0; k < sectors; k++) {
            const wt = (ws[k]! / total) * Math.exp(-2 * (u * u + v * v));
            const s = sums[k]!;
            s[0] += wt;
            s[1] += wt * px[0]!;
            s[2] += wt * px[1]!;
            s[3] += wt * px[2]!;
            s[4] += wt * sq;
          }
        }
      }
      const means = sums.map((s) => [s[1]! / s[0]!, s[2]! / s[0]!, s[3]! / s[0]!, s[4]! / s[0]!]);
      const sd = means.map(([mr, mg, mb, mq]) => Math.sqrt(Math.max(0, mq! - mr! ** 2 - mg! ** 2 - mb! ** 2)) + 0.004);
      const smin = Math.min(...sd);
      const aw = sd.map((s) => (smin / s) ** q);
      const tw = aw.reduce((a, b) => a + b, 0);
      for (let c = 0; c < 3; c++) out[c]![y * w + x] = means.reduce((a, m, k) => a + aw[k]! * m[c]!, 0) / tw;
    }
  }
  return out;
}

describe('the Kuwahara kernel', () => {
  for (const [q, sectors] of [
    [8, 8],
    [7.5, 8],
    [3.3, 6],
  ] as const) {
    it(`matches a direct reading of the generalised filter (q = ${q}, ${sectors} sectors)`, () => {
      const img = noisyStep(40, 24, 0.15, 11);
      const got = kuwaharaFilter([img.plane(0), img.plane(1), img.plane(2)], 40, 24, undefined, { radius: 4, sectors, sharpness: q, eccentricity: 1 });
      const want = referenceKuwahara(img, 4, 4, sectors, q);
      let worst = 0;
      for (let c = 0; c < 3; c++) for (let i = 0; i < 40 * 24; i++) worst = Math.max(worst, Math.abs(got[c]![i]! - want[c]![i]!));
      // float32 arithmetic and q to 1/256 give ≤ 3e-5 here; q off by 0.5 gives ≥ 5e-3.
      expect(worst).toBeLessThan(2e-4);
    });
  }

  it('refuses a strip too large for its 32-bit addressing with E_TOO_LARGE, before allocating', () => {
    const taps = { group: Int32Array.from([0, 1, 2]), weight: Float32Array.from([1, 1]) };
    expect(() => kuwaharaWorkspace(taps, 8, 2 ** 27, 100, 128)).toThrow(expect.objectContaining({ code: 'E_TOO_LARGE' }));
    expect(kuwaharaWorkspace(taps, 8, 64, 4, 8).canvas.length).toBe(256);
  });
});
