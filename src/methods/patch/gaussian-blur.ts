/**
 * Separable Gaussian blur of one plane, borders clamped. Used for patch descriptors of large
 * patches (taps on a blurred image stand for the pixels between them) and for the content's
 * structure map.
 */
export function gaussianBlurPlane(src: Float32Array, width: number, height: number, sigma: number): Float32Array {
  if (sigma <= 0) return src.slice();
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += kernel[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < kernel.length; i++) kernel[i] /= sum;
  const tmp = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      let acc = 0;
      if (x >= radius && x + radius < width) {
        // Interior: no clamping.
        const base = row + x - radius;
        for (let k = 0; k < kernel.length; k++) acc += src[base + k] * kernel[k];
      } else {
        for (let k = -radius; k <= radius; k++) {
          const xx = x + k < 0 ? 0 : x + k >= width ? width - 1 : x + k;
          acc += src[row + xx] * kernel[k + radius];
        }
      }
      tmp[row + x] = acc;
    }
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let k = -radius; k <= radius; k++) {
      const yy = y + k < 0 ? 0 : y + k >= height ? height - 1 : y + k;
      const w = kernel[k + radius];
      const irow = yy * width;
      const orow = y * width;
      for (let x = 0; x < width; x++) out[orow + x] += tmp[irow + x] * w;
    }
  }
  return out;
}
