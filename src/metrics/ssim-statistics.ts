import { AtelierError } from '../core/errors.js';

/**
 * The windowed statistics behind SSIM (Wang et al. 2004, "Image quality assessment: from error
 * visibility to structural similarity"), shared by `ssim`, `ms-ssim` and `edge-ssim`.
 *
 * Conventions follow scikit-image's `structural_similarity(gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False, data_range=1)`: a Gaussian window truncated at 3.5 σ (11 taps for
 * σ = 1.5), population (co)variances, and the mean taken over pixels whose whole window lies inside
 * the image — so no border rule is involved. Rows stream through a ring buffer of 2r+1 filtered
 * rows: memory stays a few rows wide whatever the image size, and each sample is read once.
 */

export interface SsimWindow {
  /** Gaussian σ in pixels (default 1.5). */
  sigma?: number;
  /** Window radius in σ (default 3.5, as scikit-image with Gaussian weights). */
  truncate?: number;
  /** Range of the sample values (default 1). */
  dataRange?: number;
  k1?: number;
  k2?: number;
}

export interface SsimStatistics {
  /** Mean SSIM over the valid region. */
  ssim: number;
  /** Mean contrast-structure term (2σxy + C2)/(σx² + σy² + C2), the per-scale factor of MS-SSIM. */
  cs: number;
}

/** Radius of the Gaussian window, as scipy.ndimage computes it. */
export function windowRadius(sigma = 1.5, truncate = 3.5): number {
  return Math.floor(truncate * sigma + 0.5);
}

// Float64 on purpose (imaging/gaussian's kernel is float32): a float32 window sums to 1 only within ~1e-7,
// which biases the means of flat regions and breaks agreement with scikit-image beyond 1e-6.
function gaussianTaps(sigma: number, radius: number): Float64Array {
  const k = new Float64Array(radius + 1);
  let sum = 0;
  for (let j = 0; j <= radius; j++) {
    k[j] = Math.exp((-0.5 * j * j) / (sigma * sigma));
    sum += j === 0 ? k[j]! : 2 * k[j]!;
  }
  for (let j = 0; j <= radius; j++) k[j]! /= sum;
  return k;
}

/**
 * SSIM and its contrast-structure term between two planes of one size, computed over rows
 * [rowFrom, rowTo) of the valid region only (for splitting work); sums are returned un-normalised.
 */
export function ssimSums(
  a: Float32Array,
  b: Float32Array,
  width: number,
  height: number,
  window: SsimWindow = {},
  rowFrom = 0,
  rowTo = Number.POSITIVE_INFINITY,
): { ssimSum: number; csSum: number; count: number } {
  const sigma = window.sigma ?? 1.5;
  const r = windowRadius(sigma, window.truncate ?? 3.5);
  const range = window.dataRange ?? 1;
  const c1 = ((window.k1 ?? 0.01) * range) ** 2;
  const c2 = ((window.k2 ?? 0.03) * range) ** 2;
  const k = gaussianTaps(sigma, r);
  const taps = 2 * r + 1;
  const vw = width - 2 * r; // valid width
  const firstOut = Math.max(r, r + rowFrom);
  const lastOut = Math.min(height - r, r + rowTo); // exclusive
  if (lastOut <= firstOut) return { ssimSum: 0, csSum: 0, count: 0 };

  // Ring of horizontally filtered rows: 5 quantities × taps rows × vw.
  const ring = new Float64Array(5 * taps * vw);
  const aa = new Float64Array(width);
  const bb = new Float64Array(width);
  const ab = new Float64Array(width);
  const ar = new Float64Array(width);
  const br = new Float64Array(width);
  const acc = new Float64Array(5 * vw);
  const k0 = k[0]!;

  let ssimSum = 0;
  let csSum = 0;
  for (let y = firstOut - r; y < lastOut + r; y++) {
    // Horizontal pass of row y into its ring slot.
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const va = a[row + x]!;
      const vb = b[row + x]!;
      ar[x] = va;
      br[x] = vb;
      aa[x] = va * va;
      bb[x] = vb * vb;
      ab[x] = va * vb;
    }
    const slot = y % taps;
    const srcs = [ar, br, aa, bb, ab];
    for (let q = 0; q < 5; q++) {
      const src = srcs[q]!;
      const base = (q * taps + slot) * vw;
      for (let x = 0; x < vw; x++) {
        const c = x + r;
        let s = k0 * src[c]!;
        for (let j = 1; j <= r; j++) s += k[j]! * (src[c - j]! + src[c + j]!);
        ring[base + x] = s;
      }
    }
    const yo = y - r; // the output row whose window is now complete
    if (yo < firstOut) continue;
    // Vertical pass: symmetric taps around the centre slot.
    for (let q = 0; q < 5; q++) {
      const out = q * vw;
      const centre = (q * taps + (yo % taps)) * vw;
      for (let x = 0; x < vw; x++) acc[out + x] = k0 * ring[centre + x]!;
      for (let j = 1; j <= r; j++) {
        const up = (q * taps + ((yo - j) % taps)) * vw;
        const down = (q * taps + ((yo + j) % taps)) * vw;
        const kj = k[j]!;
        for (let x = 0; x < vw; x++) acc[out + x]! += kj * (ring[up + x]! + ring[down + x]!);
      }
    }
    for (let x = 0; x < vw; x++) {
      const ux = acc[x]!;
      const uy = acc[vw + x]!;
      const vx = acc[2 * vw + x]! - ux * ux;
      const vy = acc[3 * vw + x]! - uy * uy;
      const vxy = acc[4 * vw + x]! - ux * uy;
      const cs = (2 * vxy + c2) / (vx + vy + c2);
      csSum += cs;
      ssimSum += (cs * (2 * ux * uy + c1)) / (ux * ux + uy * uy + c1);
    }
  }
  return { ssimSum, csSum, count: (lastOut - firstOut) * vw };
}

/** Mean SSIM and contrast-structure term of two planes. */
export function ssimStatistics(a: Float32Array, b: Float32Array, width: number, height: number, window: SsimWindow = {}): SsimStatistics {
  assertWindowFits(width, height, window);
  const s = ssimSums(a, b, width, height, window);
  return { ssim: s.ssimSum / s.count, cs: s.csSum / s.count };
}

export function assertWindowFits(width: number, height: number, window: SsimWindow = {}): void {
  const side = 2 * windowRadius(window.sigma, window.truncate) + 1;
  if (width < side || height < side) {
    throw new AtelierError('E_IMAGE_EMPTY', 'The images are too small for SSIM', {
      expected: `at least ${side}×${side} pixels (the Gaussian window)`,
      received: `${width}×${height}`,
    });
  }
}
