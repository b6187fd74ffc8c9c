import { z } from 'zod';
import { throwIfAborted } from '../../core/errors.js';
import type { Image } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import { colorSamples, paintSamples } from './palette.js';
import { regionPairs } from './regions.js';
import { smoothingParams, smoothResult } from './smoothing.js';
import { channelCovariance } from './statistics.js';
import { multiply, symmetricEigen, symmetricFunction, symmetrise } from './symmetric-matrix.js';
import { WORKING_SPACES, fromWorkingSpace, quantumOf, toWorkingSpace } from './working-space.js';

/**
 * Pitié & Kokaram 2007, "The linear Monge–Kantorovitch linear colour mapping for example-based
 * colour transfer": the affine map x ↦ T(x − μc) + μs with T symmetric positive definite and
 * T Σc T = Σs, the one that moves colours least (optimal transport between Gaussians):
 *   T = Σc^{-1/2} (Σc^{1/2} Σs Σc^{1/2})^{1/2} Σc^{-1/2}.
 * Unlike per-channel methods it matches the correlations between channels too.
 */
const params = z.object({
  space: z.enum(WORKING_SPACES).default('rgb').describe('Colour space of the mapping: RGB (as in the paper) or CIE Lab'),
  ...smoothingParams(2),
});

export const mkl = defineMethod({
  id: 'color.mkl',
  family: 'color',
  title: 'Monge–Kantorovich linear colour mapping',
  summary: "Affine colour map that gives the content the style's mean and full colour covariance, moving colours least",
  reference: 'Pitié & Kokaram, The Linear Monge-Kantorovitch Linear Colour Mapping for Example-Based Colour Transfer, CVMP 2007',
  inputs: { style: 'required' },
  params,
  // A global colour map: in a video its statistics are smoothed over time (no sudden grade changes).
  video: { temporal: 'flow', carry: 'grade' },
  advanced: ['smooth', 'smoothEps'],
  presets: { 'RGB': { space: 'rgb' }, 'Lab': { space: 'lab' }, 'Half strength': { strength: 0.5 } },
  regions: 'native',
  async run(ctx, { content, style, regions }, p) {
    const floor = quantumOf(p.space) ** 2 / 12;
    const out = content.emptyLike();
    const pairs = regionPairs(regions);
    for (let k = 0; k < pairs.length; k++) {
      throwIfAborted(ctx.signal);
      const pair = pairs[k]!;
      const cs = colorSamples(content, pair.content);
      const ss = colorSamples(style!, pair.style);
      const c = toWorkingSpace(cs.colors, p.space);
      const cc = channelCovariance(c, undefined, cs.weights);
      const sc = channelCovariance(toWorkingSpace(ss.colors, p.space), undefined, ss.weights);
      applyAffine(c, mongeKantorovichMatrix(cc.cov, sc.cov, floor), cc.mean, sc.mean);
      paintSamples(out, pair.content, cs, fromWorkingSpace(c, p.space));
      ctx.progress.step(k + 1, pairs.length + 1);
    }
    return smoothResult(ctx, content, out, p);
  },
});

/**
 * The symmetric T with T Σc T = Σs. Eigenvalues of Σc are floored (at `floor`, the variance of
 * quantisation noise, and at 1e-3 of the style's largest), so a flat or rank-deficient content
 * maps onto the style's mean along its flat directions instead of dividing by zero, and a nearly
 * flat one is not stretched without bound.
 */
export function mongeKantorovichMatrix(covContent: Float64Array, covStyle: Float64Array, floor: number): Float64Array {
  const n = Math.round(Math.sqrt(covContent.length));
  const styleMax = Math.max(0, ...symmetricEigen(covStyle, n).values);
  const lo = Math.max(floor, 1e-3 * styleMax, 1e-12);
  const half = symmetricFunction(covContent, n, (l) => Math.sqrt(Math.max(l, lo)));
  const invHalf = symmetricFunction(covContent, n, (l) => 1 / Math.sqrt(Math.max(l, lo)));
  const inner = symmetrise(multiply(multiply(half, covStyle, n), half, n), n);
  const innerHalf = symmetricFunction(inner, n, (l) => Math.sqrt(Math.max(l, 0)));
  return symmetrise(multiply(multiply(invHalf, innerHalf, n), invHalf, n), n);
}

/** In place: x ↦ T(x − from) + to. */
function applyAffine(img: Image, t: Float64Array, from: Float64Array, to: Float64Array): void {
  const nc = img.channels;
  const planes = Array.from({ length: nc }, (_, ch) => img.plane(ch));
  const x = new Float64Array(nc);
  for (let i = 0; i < img.pixels; i++) {
    for (let a = 0; a < nc; a++) x[a] = planes[a]![i]! - from[a]!;
    for (let a = 0; a < nc; a++) {
      let v = to[a]!;
      for (let b = 0; b < nc; b++) v += t[a * nc + b]! * x[b]!;
      planes[a]![i] = v;
    }
  }
}
