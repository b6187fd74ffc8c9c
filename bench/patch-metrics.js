// Quality measures of the patch benchmark (bench-local; src/metrics may grow shared versions):
// - structureSsim: SSIM between the Gaussian-blurred (σ = 2) luminances of output and content —
//   does the content's structure survive, ignoring the fine texture the style adds?
// - patchSwd: sliced Wasserstein distance between the distributions of 7 × 7 Lab patches of the
//   output and of the style — does the output look made of the style's material?
import { rgbToLab, luma } from '../dist/core/color.js';
import { Rng } from '../dist/core/rng.js';

function blur(src, w, h, sigma) {
  const r = Math.ceil(3 * sigma);
  const k = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const s = k.reduce((a, b) => a + b, 0);
  for (let i = 0; i < k.length; i++) k[i] /= s;
  const tmp = new Float64Array(w * h);
  const out = new Float64Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let a = 0;
      for (let j = -r; j <= r; j++) a += src[y * w + Math.min(w - 1, Math.max(0, x + j))] * k[j + r];
      tmp[y * w + x] = a;
    }
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let a = 0;
      for (let j = -r; j <= r; j++) a += tmp[Math.min(h - 1, Math.max(0, y + j)) * w + x] * k[j + r];
      out[y * w + x] = a;
    }
  return out;
}

/** SSIM (Wang et al. 2004: Gaussian window σ 1.5, K1 0.01, K2 0.03) of σ=2-blurred luma, in [−1, 1]. */
export function structureSsim(output, content) {
  const { width: w, height: h } = content;
  const a = blur(luma(output).data, w, h, 2);
  const b = blur(luma(content).data, w, h, 2);
  const n = w * h;
  const prod = (p, q) => Float64Array.from({ length: n }, (_, i) => p[i] * q[i]);
  const ma = blur(a, w, h, 1.5);
  const mb = blur(b, w, h, 1.5);
  const saa = blur(prod(a, a), w, h, 1.5);
  const sbb = blur(prod(b, b), w, h, 1.5);
  const sab = blur(prod(a, b), w, h, 1.5);
  const c1 = 0.01 ** 2;
  const c2 = 0.03 ** 2;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const va = saa[i] - ma[i] ** 2;
    const vb = sbb[i] - mb[i] ** 2;
    const cov = sab[i] - ma[i] * mb[i];
    sum += ((2 * ma[i] * mb[i] + c1) * (2 * cov + c2)) / ((ma[i] ** 2 + mb[i] ** 2 + c1) * (va + vb + c2));
  }
  return sum / n;
}

function samplePatches(img, count, rng, size) {
  const lab = rgbToLab(img);
  const { width: w, height: h } = img;
  const dims = size * size * 3;
  const out = new Float64Array(count * dims);
  for (let k = 0; k < count; k++) {
    const x0 = rng.int(w - size + 1);
    const y0 = rng.int(h - size + 1);
    let o = k * dims;
    for (let c = 0; c < 3; c++) {
      const p = lab.plane(c);
      for (let dy = 0; dy < size; dy++) for (let dx = 0; dx < size; dx++) out[o++] = p[(y0 + dy) * w + x0 + dx] / 100;
    }
  }
  return out;
}

/**
 * Sliced Wasserstein-2 distance between 7 × 7 Lab patch distributions (Lab / 100), estimated from
 * `count` random patches of each image over `directions` random unit directions (fixed seed).
 */
export function patchSwd(output, style, { count = 4096, directions = 64, size = 7, seed = 7 } = {}) {
  const rng = new Rng(seed);
  const a = samplePatches(output, count, rng, size);
  const b = samplePatches(style, count, rng, size);
  const dims = size * size * 3;
  const pa = new Float64Array(count);
  const pb = new Float64Array(count);
  let total = 0;
  for (let d = 0; d < directions; d++) {
    const dir = Float64Array.from({ length: dims }, () => rng.normal());
    const norm = Math.hypot(...dir);
    for (let i = 0; i < dims; i++) dir[i] /= norm;
    for (let k = 0; k < count; k++) {
      let sa = 0;
      let sb = 0;
      for (let i = 0; i < dims; i++) {
        sa += a[k * dims + i] * dir[i];
        sb += b[k * dims + i] * dir[i];
      }
      pa[k] = sa;
      pb[k] = sb;
    }
    pa.sort();
    pb.sort();
    let s = 0;
    for (let k = 0; k < count; k++) s += (pa[k] - pb[k]) ** 2;
    total += s / count;
  }
  return Math.sqrt(total / directions);
}
