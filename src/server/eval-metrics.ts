import { luma } from '../core/color.js';
import type { Image } from '../core/image.js';

/**
 * The metrics `POST /api/eval` computes on a finished job, behind the smallest interface the route
 * needs: the full metrics suite lives in src/metrics (its own issue); until it is merged, PSNR
 * and SSIM against the content image are computed here.
 */
export interface EvalMetric {
  id: string;
  title: string;
  higherIsBetter: boolean;
  /** Which stored input the result is compared with. */
  reference: 'content' | 'style';
  compute(result: Image, reference: Image): { value: number; parts?: Record<string, number> };
}

/** Peak signal-to-noise ratio over RGB in [0, 1], in dB (Infinity for identical images). */
const psnr: EvalMetric = {
  id: 'psnr',
  title: 'PSNR against the content (dB)',
  higherIsBetter: true,
  reference: 'content',
  compute(a, b) {
    let se = 0;
    for (let i = 0; i < a.data.length; i++) se += (a.data[i]! - b.data[i]!) ** 2;
    const mse = se / a.data.length;
    return { value: mse === 0 ? Infinity : 10 * Math.log10(1 / mse) };
  },
};

/** Wang, Bovik, Sheikh & Simoncelli 2004: mean SSIM of luma, 11×11 Gaussian window (σ 1.5). */
const ssim: EvalMetric = {
  id: 'ssim',
  title: 'SSIM against the content (structure kept)',
  higherIsBetter: true,
  reference: 'content',
  compute(a, b) {
    const x = luma(a).data;
    const y = luma(b).data;
    const { width: w, height: h } = a;
    const blur = (src: Float32Array) => gaussianBlur(src, w, h);
    const mx = blur(x);
    const my = blur(y);
    const xx = blur(x.map((v) => v * v));
    const yy = blur(y.map((v) => v * v));
    const xy = blur(x.map((v, i) => v * y[i]!));
    const c1 = 0.01 ** 2;
    const c2 = 0.03 ** 2;
    let sum = 0;
    for (let i = 0; i < x.length; i++) {
      const vx = xx[i]! - mx[i]! ** 2;
      const vy = yy[i]! - my[i]! ** 2;
      const cxy = xy[i]! - mx[i]! * my[i]!;
      sum += ((2 * mx[i]! * my[i]! + c1) * (2 * cxy + c2)) / ((mx[i]! ** 2 + my[i]! ** 2 + c1) * (vx + vy + c2));
    }
    return { value: sum / x.length };
  },
};

function gaussianBlur(src: Float32Array, w: number, h: number): Float32Array {
  const radius = 5;
  const k = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * 1.5 ** 2)));
  const ks = k.reduce((s, v) => s + v, 0);
  const kernel = k.map((v) => v / ks);
  const tmp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  for (let yy = 0; yy < h; yy++) {
    for (let xx = 0; xx < w; xx++) {
      let s = 0;
      for (let t = -radius; t <= radius; t++) s += kernel[t + radius]! * src[yy * w + Math.min(w - 1, Math.max(0, xx + t))]!;
      tmp[yy * w + xx] = s;
    }
  }
  for (let yy = 0; yy < h; yy++) {
    for (let xx = 0; xx < w; xx++) {
      let s = 0;
      for (let t = -radius; t <= radius; t++) s += kernel[t + radius]! * tmp[Math.min(h - 1, Math.max(0, yy + t)) * w + xx]!;
      out[yy * w + xx] = s;
    }
  }
  return out;
}

export const evalMetrics: Record<string, EvalMetric> = { psnr, ssim };
