import type { Image } from '../../core/image.js';

/** Per-channel mean and standard deviation over all pixels, or over the given pixel indices. */
export interface ChannelStats {
  mean: Float64Array;
  std: Float64Array;
}

export function channelStats(img: Image, pixels?: Int32Array): ChannelStats {
  const mean = new Float64Array(img.channels);
  const std = new Float64Array(img.channels);
  for (let c = 0; c < img.channels; c++) {
    const p = img.plane(c);
    let s = 0;
    let s2 = 0;
    let n = 0;
    if (pixels) {
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
