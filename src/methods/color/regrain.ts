import { Image } from '../../core/image.js';
import { resizeImage } from '../../core/resample.js';

/**
 * Pitié, Kokaram & Dahyot 2007, "Automated colour grading using colour distribution transfer",
 * §5 (re-graining): a colour mapping t that stretches the content's distribution also stretches
 * its noise and compression artefacts (grain). Re-graining looks for the image J that keeps the
 * mapped colours and the content's gradients,
 *   min_J  Σ_p ψ ‖J_p − t(I)_p‖²  +  Σ_{p~q} φ_pq ‖(J_p − J_q) − (I_p − I_q)‖²,
 * with φ large where the content is flat (copy its quiet gradients there: no grain) and small on
 * its edges (the mapping may change their contrast). Solved coarse to fine with Gauss–Seidel
 * sweeps, few at full resolution where the coarse levels already carry the low frequencies.
 */
export interface RegrainOptions {
  /** Weight of the content's gradients in flat areas (the paper's smoothness). */
  smoothness: number;
  /** Called after each pyramid level, finest last. */
  onLevel?: (level: number, levels: number) => void;
}

/** Sweeps per level, finest first. */
const SWEEPS = [4, 16, 32, 64, 64, 64];
const MIN_SIDE = 20;

export function regrain(content: Image, mapped: Image, options: RegrainOptions): Image {
  const levels: { I: Image; T: Image }[] = [{ I: content, T: mapped }];
  while (levels.length < SWEEPS.length) {
    const { I, T } = levels[levels.length - 1]!;
    const w = Math.ceil(I.width / 2);
    const h = Math.ceil(I.height / 2);
    if (w <= MIN_SIDE || h <= MIN_SIDE) break;
    levels.push({ I: resizeImage(I, w, h), T: resizeImage(T, w, h) });
  }
  let J = levels[levels.length - 1]!.T.clone();
  for (let l = levels.length - 1; l >= 0; l--) {
    const { I, T } = levels[l]!;
    if (!J.sameSize(I)) J = resizeImage(J, I.width, I.height);
    solveLevel(J, I, T, SWEEPS[l]!, options.smoothness, 2 ** -l);
    options.onLevel?.(levels.length - l, levels.length);
  }
  return new Image(J.width, J.height, J.channels, J.data, mapped.alpha);
}

/** In place on J: `sweeps` Gauss–Seidel sweeps of the level's normal equations. */
function solveLevel(J: Image, I: Image, T: Image, sweeps: number, smoothness: number, h: number): void {
  const { width: w, height: hgt } = I;
  const n = I.pixels;
  const nc = I.channels;
  const planes = Array.from({ length: nc }, (_, c) => I.plane(c));
  // φ from the content's gradient magnitude (all channels), scaled by the level's pixel size.
  const phi = new Float32Array(n);
  for (let y = 0; y < hgt; y++) {
    const up = Math.max(0, y - 1) * w;
    const down = Math.min(hgt - 1, y + 1) * w;
    for (let x = 0; x < w; x++) {
      const left = Math.max(0, x - 1);
      const right = Math.min(w - 1, x + 1);
      let g2 = 0;
      for (let c = 0; c < nc; c++) {
        const p = planes[c]!;
        const gx = (p[y * w + right]! - p[y * w + left]!) / 2;
        const gy = (p[down + x]! - p[up + x]!) / 2;
        g2 += gx * gx + gy * gy;
      }
      phi[y * w + x] = (30 / (1 + (10 * Math.sqrt(g2)) / Math.max(smoothness, 1e-6))) * h;
    }
  }
  // Edge weights to the right and below (0 past the border), and each pixel's normaliser (ψ = 1).
  const wx = new Float32Array(n);
  const wy = new Float32Array(n);
  const den = new Float32Array(n).fill(1);
  for (let y = 0; y < hgt; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (x < w - 1) {
        const f = (phi[i]! + phi[i + 1]!) / 2;
        wx[i] = f;
        den[i]! += f;
        den[i + 1]! += f;
      }
      if (y < hgt - 1) {
        const f = (phi[i]! + phi[i + w]!) / 2;
        wy[i] = f;
        den[i]! += f;
        den[i + w]! += f;
      }
    }
  }
  const rhs = new Float32Array(n);
  for (let c = 0; c < nc; c++) {
    const Jc = J.plane(c);
    const Ic = planes[c]!;
    const Tc = T.plane(c);
    // The content-gradient part of each equation does not change between sweeps.
    for (let i = 0; i < n; i++) rhs[i] = Tc[i]!;
    for (let i = 0; i < n; i++) {
      if (wx[i]! > 0) {
        const d = wx[i]! * (Ic[i]! - Ic[i + 1]!);
        rhs[i]! += d;
        rhs[i + 1]! -= d;
      }
      if (wy[i]! > 0) {
        const d = wy[i]! * (Ic[i]! - Ic[i + w]!);
        rhs[i]! += d;
        rhs[i + w]! -= d;
      }
    }
    for (let s = 0; s < sweeps; s++) {
      for (let y = 0; y < hgt; y++) {
        const row = y * w;
        for (let x = 0; x < w; x++) {
          const i = row + x;
          let num = rhs[i]!;
          if (x > 0) num += wx[i - 1]! * Jc[i - 1]!;
          if (x < w - 1) num += wx[i]! * Jc[i + 1]!;
          if (y > 0) num += wy[i - w]! * Jc[i - w]!;
          if (y < hgt - 1) num += wy[i]! * Jc[i + w]!;
          Jc[i] = num / den[i]!;
        }
      }
    }
  }
}
