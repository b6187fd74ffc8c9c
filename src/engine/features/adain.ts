import { AtelierError } from '../../core/errors.js';
import type { AffineTransform, Moments, StyleMoments } from './cwct.js';

/**
 * AdaIN (Huang & Belongie, ICCV 2017, "Arbitrary Style Transfer in Real-time with Adaptive Instance
 * Normalization") as a per-pixel affine map on features, in the same form as the cWCT:
 *   AdaIN(x) = σ_s · (x − μ_c) / σ_c + μ_s  per channel,
 * with σ² the unbiased variance plus ε = 1e-5 (the authors' `calc_mean_std`). Style interpolation
 * (the paper's §7, "style interpolation") is the convex mix Σ w_i·AdaIN_i(x), and α blends with
 * the content: α·Σ w_i·AdaIN_i(x) + (1 − α)·x. Both stay affine and diagonal:
 *   y = diag(α·Σ w_i σ_i/σ_c + 1 − α)·(x − μ_c) + α·Σ w_i μ_i + (1 − α)·μ_c,
 * so large images can be processed in tiles with the whole image's statistics.
 */
export const ADAIN_EPS = 1e-5;

export function adainTransform(content: Moments, styles: StyleMoments[], alpha = 1): AffineTransform {
  const n = content.channels;
  if (styles.length === 0) throw new AtelierError('E_INTERNAL', 'AdaIN needs at least one style');
  if (!(alpha >= 0 && alpha <= 1)) throw new AtelierError('E_PARAM', 'AdaIN alpha must lie in [0, 1]', { received: String(alpha) });
  const total = styles.reduce((a, s) => a + s.weight, 0);
  if (!(total > 0)) throw new AtelierError('E_PARAM', 'AdaIN style weights must sum to a positive number');
  const gain = new Float64Array(n).fill(1 - alpha);
  const target = new Float64Array(n);
  for (let c = 0; c < n; c++) target[c] = (1 - alpha) * content.mean[c]!;
  const sigmaC = Array.from({ length: n }, (_, c) => Math.sqrt(Math.max(0, content.cov[c * n + c]!) + ADAIN_EPS));
  for (const s of styles) {
    if (s.moments.channels !== n) throw new AtelierError('E_INTERNAL', `AdaIN: style has ${s.moments.channels} channels, content ${n}`);
    const w = (alpha * s.weight) / total;
    for (let c = 0; c < n; c++) {
      const sigmaS = Math.sqrt(Math.max(0, s.moments.cov[c * n + c]!) + ADAIN_EPS);
      gain[c] += (w * sigmaS) / sigmaC[c]!;
      target[c] += w * s.moments.mean[c]!;
    }
  }
  const matrix = new Float64Array(n * n);
  for (let c = 0; c < n; c++) matrix[c * n + c] = gain[c]!;
  return { channels: n, matrix, centre: Float64Array.from(content.mean), target, factors: [] };
}
