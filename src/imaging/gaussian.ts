/**
 * Gaussian blur of float planes, borders clamped (edge samples repeat). The one Gaussian of the
 * project: every blur, metric and pyramid takes its kernel from `gaussianKernel`.
 *
 * - `gaussianBlur` is the fast one for filters: small sigmas use the sampled kernel, large ones
 *   three running-box passes (Wells 1986) whose cost does not grow with sigma, so filters whose
 *   sizes scale with the image cost the same per pixel at 512 px and at 4K.
 * - `gaussianBlurPlane` always uses the sampled kernel: metrics (edge maps, patch pyramids) and
 *   optical flow need a true Gaussian, not a box approximation.
 */

/** Above this sigma three box passes replace the direct kernel (within a few % of the true Gaussian). */
const BOX_SIGMA = 1.5;

/**
 * Taps each side of the centre: ⌈3σ⌉, at least 1. Three sigmas keep ≥ 99.7 % of the mass whatever
 * σ is; the older rule here, round(3σ), cut some sigmas at 2.5σ (σ = 0.79: 2 taps instead of 3).
 * The two rules agree at every whole and half sigma, which is what the metrics and flow use.
 */
export function gaussianRadius(sigma: number): number {
  return Math.max(1, Math.ceil(3 * sigma));
}

/** The sampled, normalised Gaussian of `sigma`, 2·radius + 1 taps. */
export function gaussianKernel(sigma: number, radius = gaussianRadius(sigma)): Float32Array {
  const r = radius;
  const k = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) {
    const v = Math.exp((-i * i) / (2 * sigma * sigma));
    k[i + r] = v;
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  return k;
}

/** Blur `src` (w × h) into `out` (a new plane when omitted); `src` and `out` may not alias. */
export function gaussianBlur(src: Float32Array, w: number, h: number, sigma: number, out?: Float32Array): Float32Array {
  const dst = out ?? new Float32Array(w * h);
  if (!(sigma > 0.2)) {
    dst.set(src);
    return dst;
  }
  if (sigma > BOX_SIGMA) {
    boxGaussian(src, w, h, sigma, dst);
    return dst;
  }
  const k = gaussianKernel(sigma);
  const tmp = new Float32Array(w * h);
  convolveRows(src, w, h, k, tmp);
  convolveColumns(tmp, w, h, k, dst);
  return dst;
}

/**
 * 1-D convolution along rows with clamp-to-edge borders, by a symmetric kernel (odd length).
 * Each row is copied into a buffer padded with its end values, so the loop has no border tests,
 * and mirrored taps share one multiplication.
 */
export function convolveRows(src: Float32Array, w: number, h: number, k: Float32Array, dst: Float32Array): void {
  const r = (k.length - 1) >> 1;
  const k0 = k[r]!;
  const buf = new Float32Array(w + 2 * r);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    buf.fill(src[row]!, 0, r);
    buf.set(src.subarray(row, row + w), r);
    buf.fill(src[row + w - 1]!, w + r);
    for (let x = 0; x < w; x++) {
      const c = x + r;
      let acc = k0 * buf[c]!;
      for (let j = 1; j <= r; j++) acc += k[r + j]! * (buf[c - j]! + buf[c + j]!);
      dst[row + x] = acc;
    }
  }
}

/** 1-D convolution along columns by a symmetric kernel, row by row so memory is read in order. */
export function convolveColumns(src: Float32Array, w: number, h: number, k: Float32Array, dst: Float32Array): void {
  const r = (k.length - 1) >> 1;
  const k0 = k[r]!;
  for (let y = 0; y < h; y++) {
    const orow = y * w;
    for (let x = 0; x < w; x++) dst[orow + x] = k0 * src[orow + x]!;
    for (let j = 1; j <= r; j++) {
      const above = (y - j < 0 ? 0 : y - j) * w;
      const below = (y + j >= h ? h - 1 : y + j) * w;
      const kv = k[r + j]!;
      for (let x = 0; x < w; x++) dst[orow + x]! += kv * (src[above + x]! + src[below + x]!);
    }
  }
}

/** Box radii for three passes approximating a Gaussian of `sigma`. */
function boxRadii(sigma: number): number[] {
  const n = 3;
  const ideal = Math.sqrt((12 * sigma * sigma) / n + 1);
  let wl = Math.floor(ideal);
  if (wl % 2 === 0) wl--;
  const wu = wl + 2;
  const m = Math.round((12 * sigma * sigma - n * wl * wl - 4 * n * wl - 3 * n) / (-4 * wl - 4));
  return Array.from({ length: n }, (_, i) => ((i < m ? wl : wu) - 1) / 2);
}

function boxGaussian(src: Float32Array, w: number, h: number, sigma: number, dst: Float32Array): void {
  const a = new Float32Array(w * h);
  const radii = boxRadii(sigma);
  // src → dst → a → dst ... keeping src untouched.
  let from: Float32Array = src;
  for (let i = 0; i < radii.length; i++) {
    boxRows(from, w, h, radii[i]!, a);
    boxColumns(a, w, h, radii[i]!, dst);
    from = dst;
  }
}

function boxRows(src: Float32Array, w: number, h: number, r: number, dst: Float32Array): void {
  const norm = 1 / (2 * r + 1);
  // Each row padded with r + 1 copies of its end values, so the running sum needs no border tests.
  const buf = new Float32Array(w + 2 * r + 2);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    buf.fill(src[row]!, 0, r + 1);
    buf.set(src.subarray(row, row + w), r + 1);
    buf.fill(src[row + w - 1]!, w + r + 1);
    let acc = 0;
    for (let j = 1; j <= 2 * r + 1; j++) acc += buf[j]!;
    const span = 2 * r + 1;
    for (let x = 0; x < w; x++) {
      dst[row + x] = acc * norm;
      acc += buf[x + span + 1]! - buf[x + 1]!;
    }
  }
}

function boxColumns(src: Float32Array, w: number, h: number, r: number, dst: Float32Array): void {
  const norm = 1 / (2 * r + 1);
  const acc = new Float64Array(w);
  for (let j = -r; j <= r; j++) {
    const irow = (j < 0 ? 0 : j >= h ? h - 1 : j) * w;
    for (let x = 0; x < w; x++) acc[x]! += src[irow + x]!;
  }
  for (let y = 0; y < h; y++) {
    const orow = y * w;
    for (let x = 0; x < w; x++) dst[orow + x] = acc[x]! * norm;
    const add = (y + r + 1 < h ? y + r + 1 : h - 1) * w;
    const sub = (y - r > 0 ? y - r : 0) * w;
    for (let x = 0; x < w; x++) acc[x]! += src[add + x]! - src[sub + x]!;
  }
}

/** Correlate rows then columns of `src` (width × height) with the odd-length kernels kx and ky. */
export function separableFilter(src: Float32Array, width: number, height: number, kx: Float32Array, ky: Float32Array): Float32Array {
  const rx = (kx.length - 1) >> 1;
  const ry = (ky.length - 1) >> 1;
  const tmp = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      let s = 0;
      if (x >= rx && x < width - rx) {
        for (let j = -rx; j <= rx; j++) s += kx[j + rx]! * src[row + x + j]!;
      } else {
        for (let j = -rx; j <= rx; j++) {
          const xx = x + j < 0 ? 0 : x + j >= width ? width - 1 : x + j;
          s += kx[j + rx]! * src[row + xx]!;
        }
      }
      tmp[row + x] = s;
    }
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let j = -ry; j <= ry; j++) {
      const yy = y + j < 0 ? 0 : y + j >= height ? height - 1 : y + j;
      const w = ky[j + ry]!;
      const srow = yy * width;
      for (let x = 0; x < width; x++) out[row + x]! += w * tmp[srow + x]!;
    }
  }
  return out;
}

/** Blur with the sampled kernel at any sigma (no box approximation); sigma ≤ 0 copies. */
export function gaussianBlurPlane(src: Float32Array, width: number, height: number, sigma: number): Float32Array {
  if (sigma <= 0) return src.slice();
  const k = gaussianKernel(sigma);
  return separableFilter(src, width, height, k, k);
}
