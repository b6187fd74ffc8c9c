import type { Image } from '../../core/image.js';

/**
 * Per-channel mean and standard deviation over all pixels, or over the given pixel indices;
 * `weights` (indexed like the pixels visited) count a sample as that many pixels.
 */
export interface ChannelStats {
  mean: Float64Array;
  std: Float64Array;
}

export function channelStats(img: Image, pixels?: Int32Array, weights?: Float64Array): ChannelStats {
  const mean = new Float64Array(img.channels);
  const std = new Float64Array(img.channels);
  for (let c = 0; c < img.channels; c++) {
    const p = img.plane(c);
    let s = 0;
    let s2 = 0;
    let n = 0;
    if (weights) {
      for (let k = 0; k < weights.length; k++) {
        const v = p[pixels ? pixels[k]! : k]!;
        const w = weights[k]!;
        s += w * v;
        s2 += w * v * v;
        n += w;
      }
    } else if (pixels) {
      for (let k = 0; k < pixels.length; k++) {
        const v = p[pixels[k]!]!;
        s += v;
        s2 += v * v;
      }
      n = pixels.length;
    } else {
      for (let i = 0; i < p.length; i++) {
        const v = p[i]!;
        s += v;
        s2 += v * v;
      }
      n = p.length;
    }
    const m = n > 0 ? s / n : 0;
    mean[c] = m;
    std[c] = n > 0 ? Math.sqrt(Math.max(0, s2 / n - m * m)) : 0;
  }
  return { mean, std };
}

/** Channel means and the full covariance matrix (row-major channels×channels, population; weighted like channelStats). */
export interface ChannelCovariance {
  mean: Float64Array;
  cov: Float64Array;
  count: number;
}

export function channelCovariance(img: Image, pixels?: Int32Array, weights?: Float64Array): ChannelCovariance {
  const nc = img.channels;
  const planes = Array.from({ length: nc }, (_, c) => img.plane(c));
  const samples = pixels ? pixels.length : img.pixels;
  let count = samples;
  if (weights) {
    count = 0;
    for (let k = 0; k < samples; k++) count += weights[k]!;
  }
  const mean = new Float64Array(nc);
  const cov = new Float64Array(nc * nc);
  if (count === 0) return { mean, cov, count };
  const w = (k: number) => (weights ? weights[k]! : 1);
  for (let c = 0; c < nc; c++) {
    const p = planes[c]!;
    let s = 0;
    for (let k = 0; k < samples; k++) s += w(k) * p[pixels ? pixels[k]! : k]!;
    mean[c] = s / count;
  }
  // Centred products (two passes): one pass of raw moments loses digits on bright, flat images.
  for (let a = 0; a < nc; a++) {
    for (let b = a; b < nc; b++) {
      const pa = planes[a]!;
      const pb = planes[b]!;
      const ma = mean[a]!;
      const mb = mean[b]!;
      let s = 0;
      for (let k = 0; k < samples; k++) {
        const i = pixels ? pixels[k]! : k;
        s += w(k) * (pa[i]! - ma) * (pb[i]! - mb);
      }
      cov[a * nc + b] = cov[b * nc + a] = s / count;
    }
  }
  return { mean, cov, count };
}
