import { rgbToLab } from '../core/color.js';
import type { Image } from '../core/image.js';
import { toRgb } from '../core/image.js';
import { defineMetric, type MetricResult } from './metric.js';

/**
 * Colour-histogram distance between the output and the style in CIE Lab (D65), two ways:
 * - EMD (the headline): the earth mover's distance between the 1-D distributions of L, a and b,
 *   each computed exactly from cumulative histograms (256 bins) as ∫|CDF₁ − CDF₂|, in Lab units,
 *   averaged over the three. "The output's colours sit on average this far from the style's."
 * - χ²: ½ Σ (p − q)² / (p + q) over a joint 8×8×8 Lab histogram (0 same, 1 disjoint).
 * Sizes may differ: histograms are normalised to sum 1.
 */

const RANGES: [number, number][] = [
  [0, 100],
  [-110, 110],
  [-110, 110],
];
const FINE_BINS = 256;
const JOINT_BINS = 8;

function binOf(v: number, lo: number, hi: number, bins: number): number {
  const t = Math.floor(((v - lo) / (hi - lo)) * bins);
  return t < 0 ? 0 : t >= bins ? bins - 1 : t;
}

function histograms(img: Image): { marginal: Float64Array[]; joint: Float64Array } {
  const lab = rgbToLab(toRgb(img));
  const n = lab.pixels;
  const marginal = RANGES.map(() => new Float64Array(FINE_BINS));
  const joint = new Float64Array(JOINT_BINS ** 3);
  const planes = [lab.plane(0), lab.plane(1), lab.plane(2)];
  for (let i = 0; i < n; i++) {
    let key = 0;
    for (let c = 0; c < 3; c++) {
      const v = planes[c]![i]!;
      const [lo, hi] = RANGES[c]!;
      marginal[c]![binOf(v, lo, hi, FINE_BINS)]! += 1 / n;
      key = key * JOINT_BINS + binOf(v, lo, hi, JOINT_BINS);
    }
    joint[key]! += 1 / n;
  }
  return { marginal, joint };
}

export function histogramDistance(a: Image, b: Image): MetricResult {
  const ha = histograms(a);
  const hb = histograms(b);
  const emd = RANGES.map(([lo, hi], c) => {
    const binWidth = (hi - lo) / FINE_BINS;
    let ca = 0;
    let cb = 0;
    let d = 0;
    for (let k = 0; k < FINE_BINS; k++) {
      ca += ha.marginal[c]![k]!;
      cb += hb.marginal[c]![k]!;
      d += Math.abs(ca - cb) * binWidth;
    }
    return d;
  });
  let chi2 = 0;
  for (let k = 0; k < ha.joint.length; k++) {
    const p = ha.joint[k]!;
    const q = hb.joint[k]!;
    if (p + q > 0) chi2 += ((p - q) * (p - q)) / (p + q);
  }
  const [emdL, emdA, emdB] = emd as [number, number, number];
  return { value: (emdL + emdA + emdB) / 3, parts: { chi2: chi2 / 2, emdL, emdA, emdB } };
}

export const histogram = defineMetric({
  id: 'histogram',
  title: 'Colour-histogram distance (Lab)',
  summary: 'How far the output’s colours are from the style’s: mean 1-D earth mover’s distance of L, a, b (Lab units), plus χ²',
  reference: 'Rubner, Tomasi, Guibas 2000 (EMD); χ² histogram distance as in Pele & Werman 2010',
  higherIsBetter: false,
  aspect: 'style',
  needs: ['style'],
  compute: ({ output, style }) => histogramDistance(output, style!),
});
