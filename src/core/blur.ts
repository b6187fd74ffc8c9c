/**
 * Separable Gaussian blur of one float plane, borders clamped (edge samples repeat). Radius is
 * ⌊3σ + 0.5⌋ taps each side. Used by metrics (edge maps) and video (optical-flow pyramids).
 */
export function gaussianKernel(sigma: number, radius = Math.floor(3 * sigma + 0.5)): Float32Array {
  const k = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let j = -radius; j <= radius; j++) {
    const v = Math.exp((-0.5 * j * j) / (sigma * sigma));
    k[j + radius] = v;
    sum += v;
  }
  for (let j = 0; j < k.length; j++) k[j]! /= sum;
  return k;
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

export function gaussianBlurPlane(src: Float32Array, width: number, height: number, sigma: number): Float32Array {
  if (sigma <= 0) return src.slice();
  const k = gaussianKernel(sigma);
  return separableFilter(src, width, height, k, k);
}
