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
  // φ from the content's gradient magnitude (all channels), scaled by the level's pixel size.
  const phi = new Float32Array(n);
  for (let y = 0; y < hgt; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      let g2 = 0;
      for (let c = 0; c < nc; c++) {
        const p = I.plane(c);
        const gx = (p[y * w + Math.min(w - 1, x + 1)]! - p[y * w + Math.max(0, x - 1)]!) / 2;
        const gy = (p[Math.min(hgt - 1, y + 1) * w + x]! - p[Math.max(0, y - 1) * w + x]!) / 2;
        g2 += gx * gx + gy * gy;
      }
      phi[i] = ((30 / (1 + (10 * Math.sqrt(g2)) / Math.max(smoothness, 1e-6))) * h);
    }
  }
  for (let c = 0; c < nc; c++) {
    const Jc = J.plane(c);
    const Ic = I.plane(c);
    const Tc = T.plane(c);
    for (let s = 0; s < sweeps; s++) {
      for (let y = 0; y < hgt; y++) {
        for (let x = 0; x < w; x++) {
          const i = y * w + x;
          const ip = Ic[i]!;
          const pp = phi[i]!;
          let num = Tc[i]!;
          let den = 1;
          if (x > 0) {
            const f = (pp + phi[i - 1]!) / 2;
            num += f * (Jc[i - 1]! + ip - Ic[i - 1]!);
            den += f;
          }
          if (x < w - 1) {
            const f = (pp + phi[i + 1]!) / 2;
            num += f * (Jc[i + 1]! + ip - Ic[i + 1]!);
            den += f;
          }
          if (y > 0) {
            const f = (pp + phi[i - w]!) / 2;
            num += f * (Jc[i - w]! + ip - Ic[i - w]!);
            den += f;
          }
          if (y < hgt - 1) {
            const f = (pp + phi[i + w]!) / 2;
            num += f * (Jc[i + w]! + ip - Ic[i + w]!);
            den += f;
          }
          Jc[i] = num / den;
        }
      }
    }
  }
}
