import { gaussianBlur } from './gaussian.js';

/**
 * The smoothed structure tensor of a colour image (Brox et al. 2006; as Kyprianidis et al. 2009
 * use it for the anisotropic Kuwahara filter and Kang et al. 2007 for flow-based DoG): per pixel
 * the 2×2 matrix [E F; F G] of summed outer products of the channels' Sobel gradients, smoothed by
 * a Gaussian. Its minor eigenvector is the local edge tangent, its eigenvalue spread the anisotropy.
 */
export interface OrientationField {
  width: number;
  height: number;
  /** Unit tangent (direction of least change, along edges). */
  tx: Float32Array;
  ty: Float32Array;
  /** Anisotropy (λ1 − λ2)/(λ1 + λ2) in [0, 1]: 0 where flat or isotropic. */
  anisotropy: Float32Array;
}

/** The raw (unsmoothed) tensor components of planes `channels` (each w × h) by Sobel. */
export function tensorComponents(channels: Float32Array[], w: number, h: number): [Float32Array, Float32Array, Float32Array] {
  const n = w * h;
  const e = new Float32Array(n);
  const f = new Float32Array(n);
  const g = new Float32Array(n);
  for (const p of channels) {
    for (let y = 0; y < h; y++) {
      const ym = (y > 0 ? y - 1 : 0) * w;
      const y0 = y * w;
      const yp = (y < h - 1 ? y + 1 : h - 1) * w;
      for (let x = 0; x < w; x++) {
        const xm = x > 0 ? x - 1 : 0;
        const xp = x < w - 1 ? x + 1 : w - 1;
        const gx =
          (p[ym + xp]! + 2 * p[y0 + xp]! + p[yp + xp]! - p[ym + xm]! - 2 * p[y0 + xm]! - p[yp + xm]!) * 0.125;
        const gy =
          (p[yp + xm]! + 2 * p[yp + x]! + p[yp + xp]! - p[ym + xm]! - 2 * p[ym + x]! - p[ym + xp]!) * 0.125;
        const i = y0 + x;
        e[i]! += gx * gx;
        f[i]! += gx * gy;
        g[i]! += gy * gy;
      }
    }
  }
  return [e, f, g];
}

/** Tangent field and anisotropy from planes smoothed over `sigma` pixels. */
export function orientationField(channels: Float32Array[], w: number, h: number, sigma: number): OrientationField {
  const [e0, f0, g0] = tensorComponents(channels, w, h);
  const e = gaussianBlur(e0, w, h, sigma);
  const f = gaussianBlur(f0, w, h, sigma);
  const g = gaussianBlur(g0, w, h, sigma);
  // Reuse the raw planes' memory for the outputs.
  const tx = e0;
  const ty = f0;
  const anisotropy = g0;
  for (let i = 0; i < w * h; i++) {
    const E = e[i]!;
    const F = f[i]!;
    const G = g[i]!;
    const root = Math.sqrt((E - G) * (E - G) + 4 * F * F);
    const l1 = 0.5 * (E + G + root);
    const l2 = 0.5 * (E + G - root);
    // Eigenvector of λ1 is (F, λ1 − E) (gradient direction); the tangent is its perpendicular.
    let vx = l1 - E;
    let vy = -F;
    let len = Math.sqrt(vx * vx + vy * vy);
    if (len < 1e-12) {
      // Axis-aligned or flat: gradient along x when E ≥ G, so the tangent is vertical.
      vx = E >= G ? 0 : 1;
      vy = E >= G ? 1 : 0;
      len = 1;
    }
    tx[i] = vx / len;
    ty[i] = vy / len;
    const sum = l1 + l2;
    anisotropy[i] = sum > 1e-9 ? (l1 - l2) / sum : 0;
  }
  return { width: w, height: h, tx, ty, anisotropy };
}
