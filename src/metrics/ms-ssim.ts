import type { Image } from '../core/image.js';
import { assertSameShape, channelPart, defineMetric, type MetricResult } from './metric.js';
import { ssimStatistics, windowRadius } from './ssim-statistics.js';

/**
 * Multi-scale SSIM (Wang, Simoncelli, Bovik 2003): contrast-structure at five scales and luminance
 * at the coarsest, combined with the paper's exponents. Each scale halves the image by 2×2 means.
 * When the image is too small for five scales (the 11-pixel window must fit at the coarsest), the
 * scales that fit are used and their exponents renormalised to sum 1. Negative per-scale means are
 * clamped to 0 before the fractional powers (as pytorch-msssim does). Per channel, then averaged.
 */

export const MS_SSIM_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

function halve(p: Float32Array, w: number, h: number): { data: Float32Array; width: number; height: number } {
  const ow = w >> 1;
  const oh = h >> 1;
  const out = new Float32Array(ow * oh);
  for (let y = 0; y < oh; y++) {
    const r0 = 2 * y * w;
    const r1 = r0 + w;
    for (let x = 0; x < ow; x++) out[y * ow + x] = 0.25 * (p[r0 + 2 * x]! + p[r0 + 2 * x + 1]! + p[r1 + 2 * x]! + p[r1 + 2 * x + 1]!);
  }
  return { data: out, width: ow, height: oh };
}

/** Number of scales whose window fits the image. */
export function msSsimScales(width: number, height: number): number {
  const side = 2 * windowRadius() + 1;
  let n = 0;
  let w = width;
  let h = height;
  while (n < MS_SSIM_WEIGHTS.length && w >= side && h >= side) {
    n++;
    w >>= 1;
    h >>= 1;
  }
  return n;
}

function msSsimPlane(a: Float32Array, b: Float32Array, width: number, height: number, scales: number): number {
  const weights = MS_SSIM_WEIGHTS.slice(0, scales);
  const wsum = weights.reduce((s, v) => s + v, 0);
  let pa = { data: a, width, height };
  let pb = { data: b, width, height };
  let value = 1;
  for (let s = 0; s < scales; s++) {
    const st = ssimStatistics(pa.data, pb.data, pa.width, pa.height);
    const term = s === scales - 1 ? st.ssim : st.cs;
    value *= Math.pow(Math.max(0, term), weights[s]! / wsum);
    if (s < scales - 1) {
      pa = halve(pa.data, pa.width, pa.height);
      pb = halve(pb.data, pb.width, pb.height);
    }
  }
  return value;
}

export function multiScaleSsim(a: Image, b: Image): MetricResult {
  assertSameShape(a, b, 'MS-SSIM');
  const scales = msSsimScales(a.width, a.height);
  const parts: Record<string, number> = { scales };
  let sum = 0;
  for (let c = 0; c < a.channels; c++) {
    const v = msSsimPlane(a.plane(c), b.plane(c), a.width, a.height, Math.max(1, scales)); // 0 scales: the window check throws
    parts[channelPart(c, a.channels)] = v;
    sum += v;
  }
  return { value: sum / a.channels, parts };
}

export const msSsim = defineMetric({
  id: 'ms-ssim',
  title: 'Multi-scale SSIM',
  summary: 'Structure kept across five scales (coarse layout to fine detail), mean of R, G, B; 1 is identical',
  reference: 'Wang, Simoncelli, Bovik 2003, Asilomar Conference on Signals, Systems and Computers',
  higherIsBetter: true,
  aspect: 'content',
  needs: ['content'],
  compute: ({ output, content }) => multiScaleSsim(output, content!),
});
