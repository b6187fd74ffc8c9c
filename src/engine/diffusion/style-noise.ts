import { AtelierError } from '../../core/errors.js';

/**
 * "Diffusion in Style" (Everaert et al., ICCV 2023): the style of what Stable Diffusion makes is
 * tied to its initial latent, so the initial noise is drawn from a style-specific Gaussian instead
 * of white noise: z_T = μ_c + σ_c · ε, ε ~ N(0, I), with μ_c and σ_c the mean and standard
 * deviation of channel c of the style image's latent (its VAE encoding × the latent scale) over
 * all positions. The same noise replaces ε in image-to-image's forward noising
 * z_t = √ᾱ_t z_0 + √(1 − ᾱ_t) ε.
 *
 * The paper also fine-tunes the UNet under that noise; Atelier does only the inference half, on
 * the published weights: the latent's per-channel mean carries the reference's overall colour into
 * the low frequencies SD leaves almost untouched at its last timestep (ᾱ_T ≈ 0.0047 is not zero).
 */

export interface LatentStatistics {
  mean: Float32Array;
  std: Float32Array;
}

/** Per-channel mean and (biased) standard deviation of a latent [C, h, w]. */
export function latentStatistics(latent: Float32Array, channels: number): LatentStatistics {
  const plane = latent.length / channels;
  if (!Number.isInteger(plane) || plane < 1) {
    throw new AtelierError('E_PARAM', 'The style latent does not split into its channels', { expected: `a multiple of ${channels} values`, received: `${latent.length}` });
  }
  const mean = new Float32Array(channels);
  const std = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    for (let i = 0; i < plane; i++) sum += latent[c * plane + i]!;
    const m = sum / plane;
    let squares = 0;
    for (let i = 0; i < plane; i++) squares += (latent[c * plane + i]! - m) ** 2;
    mean[c] = m;
    std[c] = Math.sqrt(squares / plane);
  }
  return { mean, std };
}

/** White noise [C, h, w] made style-specific: μ_c + σ_c · ε per channel. */
export function styleNoise(white: Float32Array, stats: LatentStatistics): Float32Array {
  const channels = stats.mean.length;
  const plane = white.length / channels;
  const out = new Float32Array(white.length);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < plane; i++) out[c * plane + i] = stats.mean[c]! + stats.std[c]! * white[c * plane + i]!;
  }
  return out;
}
