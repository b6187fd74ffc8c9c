import { labToRgb, rgbToLab } from '../core/color.js';
import { Image } from '../core/image.js';
import { resizeImage } from '../core/resample.js';
import type { Rng } from '../core/rng.js';

/**
 * How an optional style image steers a filter's colours: either its Lab statistics (mean and
 * spread per channel, as in Reinhard et al. 2001) or a small palette of its dominant colours
 * (k-means in Lab). Both are computed from a subsample, so they cost the same for any image size.
 */

/** Statistics are estimated on at most this many pixels. */
const SAMPLE_SIDE = 256;

function thumbnail(img: Image): Image {
  const s = Math.min(1, SAMPLE_SIDE / Math.max(img.width, img.height));
  return s >= 1 ? img : resizeImage(img, Math.max(1, Math.round(img.width * s)), Math.max(1, Math.round(img.height * s)));
}

function labStats(img: Image): { mean: number[]; std: number[] } {
  const lab = rgbToLab(thumbnail(img));
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < 3; c++) {
    const p = lab.plane(c);
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < p.length; i++) {
      s += p[i]!;
      s2 += p[i]! * p[i]!;
    }
    const m = s / p.length;
    mean.push(m);
    std.push(Math.sqrt(Math.max(0, s2 / p.length - m * m)));
  }
  return { mean, std };
}

/** An affine change of Lab channels: v ↦ (v − mean)·gain + mean + offset (plain data, for workers). */
export interface ColorShift {
  mean: number[];
  gain: number[];
  offset: number[];
}

/** The shift that moves `content`'s Lab statistics to `style`'s; `amount` blends from 0 (none) to 1. */
export function colorStatsShift(content: Image, style: Image, amount = 1): ColorShift {
  const cs = labStats(content);
  const ss = labStats(style);
  return {
    mean: cs.mean,
    gain: cs.std.map((s, c) => 1 + ((s > 1e-4 ? ss.std[c]! / s : 1) - 1) * amount),
    offset: cs.mean.map((m, c) => (ss.mean[c]! - m) * amount),
  };
}

/** Apply a colour shift to an RGB tile in place. */
export function applyColorShift(tile: Image, shift: ColorShift): Image {
  const lab = rgbToLab(tile);
  for (let c = 0; c < 3; c++) {
    const p = lab.plane(c);
    const { gain, offset, mean } = shift;
    for (let i = 0; i < p.length; i++) p[i] = (p[i]! - mean[c]!) * gain[c]! + mean[c]! + offset[c]!;
  }
  tile.data.set(labToRgb(lab).data);
  return tile;
}

/** The `k` dominant colours of `img` (RGB triples, flattened), by seeded k-means in Lab. */
export function dominantColors(img: Image, k: number, rng: Rng): Float32Array {
  const small = thumbnail(img);
  const lab = rgbToLab(small);
  const n = small.pixels;
  const L = lab.plane(0);
  const A = lab.plane(1);
  const B = lab.plane(2);
  const cL = new Float64Array(k);
  const cA = new Float64Array(k);
  const cB = new Float64Array(k);
  // k-means++ seeding.
  const d2 = new Float64Array(n).fill(Infinity);
  let pick = rng.int(n);
  for (let c = 0; c < k; c++) {
    cL[c] = L[pick]!;
    cA[c] = A[pick]!;
    cB[c] = B[pick]!;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const d = (L[i]! - cL[c]!) ** 2 + (A[i]! - cA[c]!) ** 2 + (B[i]! - cB[c]!) ** 2;
      if (d < d2[i]!) d2[i] = d;
      total += d2[i]!;
    }
    let r = rng.next() * total;
    pick = 0;
    for (let i = 0; i < n; i++) {
      r -= d2[i]!;
      if (r <= 0) {
        pick = i;
        break;
      }
    }
  }
  const label = new Int32Array(n);
  for (let iter = 0; iter < 12; iter++) {
    const sL = new Float64Array(k);
    const sA = new Float64Array(k);
    const sB = new Float64Array(k);
    const cnt = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bd = Infinity;
      for (let c = 0; c < k; c++) {
        const d = (L[i]! - cL[c]!) ** 2 + (A[i]! - cA[c]!) ** 2 + (B[i]! - cB[c]!) ** 2;
        if (d < bd) {
          bd = d;
          best = c;
        }
      }
      label[i] = best;
      sL[best]! += L[i]!;
      sA[best]! += A[i]!;
      sB[best]! += B[i]!;
      cnt[best]!++;
    }
    for (let c = 0; c < k; c++) {
      if (cnt[c]! === 0) continue;
      cL[c] = sL[c]! / cnt[c]!;
      cA[c] = sA[c]! / cnt[c]!;
      cB[c] = sB[c]! / cnt[c]!;
    }
  }
  const centres = new Image(k, 1, 3);
  centres.plane(0).set(cL);
  centres.plane(1).set(cA);
  centres.plane(2).set(cB);
  const rgb = labToRgb(centres);
  const out = new Float32Array(k * 3);
  for (let c = 0; c < k; c++) for (let ch = 0; ch < 3; ch++) out[c * 3 + ch] = Math.min(1, Math.max(0, rgb.plane(ch)[c]!));
  return out;
}

/** Index of the palette colour nearest to (r, g, b), by squared RGB distance. */
export function nearestColor(palette: Float32Array, r: number, g: number, b: number): number {
  let best = 0;
  let bd = Infinity;
  for (let c = 0; c < palette.length / 3; c++) {
    const d = (palette[c * 3]! - r) ** 2 + (palette[c * 3 + 1]! - g) ** 2 + (palette[c * 3 + 2]! - b) ** 2;
    if (d < bd) {
      bd = d;
      best = c;
    }
  }
  return best;
}
