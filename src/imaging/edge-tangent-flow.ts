import { gaussianBlur } from './gaussian.js';
import type { OrientationField } from './structure-tensor.js';

/**
 * Filtering along an edge-tangent flow field (Kang, Lee & Chui 2007 "Coherent line drawing";
 * Winnemöller et al. 2012 §3): a 1-D profile across the edge (along the gradient) and a line
 * integral along it (along the tangent). Sample spacing grows with the filter size, so the cost
 * per pixel stays constant as images grow; the source is pre-blurred by half a spacing first.
 */

/** Bilinear sample at (x, y), clamped to the plane; integer arithmetic for the indices. */
function bilinear(p: Float32Array, w: number, h: number, x: number, y: number): number {
  x = x < 0 ? 0 : x > w - 1 ? w - 1 : x;
  y = y < 0 ? 0 : y > h - 1 ? h - 1 : y;
  const x0 = x | 0;
  const y0 = y | 0;
  const dx = x0 + 1 < w ? 1 : 0;
  const dy = y0 + 1 < h ? w : 0;
  const fx = x - x0;
  const fy = y - y0;
  const i = y0 * w + x0;
  const a = p[i]!;
  const b = p[i + dx]!;
  const c = p[i + dy]!;
  const d = p[i + dy + dx]!;
  const top = a + (b - a) * fx;
  return top + (c + (d - c) * fx - top) * fy;
}

/** Bilinear sample at (x, y) with 0 ≤ x < w − 1 and 0 ≤ y < h − 1: no clamping needed. */
function bilinearInside(p: Float32Array, w: number, x: number, y: number): number {
  const x0 = x | 0;
  const y0 = y | 0;
  const fx = x - x0;
  const fy = y - y0;
  const i = y0 * w + x0;
  const a = p[i]!;
  const top = a + (p[i + 1]! - a) * fx;
  const c = p[i + w]!;
  return top + (c + (p[i + w + 1]! - c) * fx - top) * fy;
}

/** Spacing of samples for a Gaussian of `sigma`: one pixel, or a third of sigma when larger. */
function spacingFor(sigma: number): number {
  return Math.max(1, sigma / 3);
}

/**
 * The two Gaussian blurs across the edge, Gσ and Gkσ, of plane `lum` sampled along the gradient
 * direction (perpendicular to the tangent). Returns [narrow, wide].
 */
export function gradientProfileBlur(
  lum: Float32Array,
  field: OrientationField,
  sigma: number,
  k: number,
): [Float32Array, Float32Array] {
  const { width: w, height: h, tx, ty } = field;
  const step = spacingFor(sigma);
  const src = step > 1 ? gaussianBlur(lum, w, h, step / 2) : lum;
  const reach = Math.ceil((3 * k * sigma) / step);
  const wn = new Float32Array(2 * reach + 1);
  const ww = new Float32Array(2 * reach + 1);
  let sn = 0;
  let sw = 0;
  for (let j = -reach; j <= reach; j++) {
    const d = j * step;
    wn[j + reach] = Math.exp((-d * d) / (2 * sigma * sigma));
    ww[j + reach] = Math.exp((-d * d) / (2 * k * k * sigma * sigma));
    sn += wn[j + reach]!;
    sw += ww[j + reach]!;
  }
  for (let j = 0; j < wn.length; j++) {
    wn[j]! /= sn;
    ww[j]! /= sw;
  }
  const narrow = new Float32Array(w * h);
  const wide = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const nx = -ty[i]! * step;
      const ny = tx[i]! * step;
      let a = 0;
      let b = 0;
      // Most profiles lie wholly inside the plane and need no clamping.
      const ex = reach * Math.abs(nx);
      const ey = reach * Math.abs(ny);
      const inside = x - ex >= 0 && x + ex < w - 1 && y - ey >= 0 && y + ey < h - 1;
      for (let j = -reach; j <= reach; j++) {
        const v = inside ? bilinearInside(src, w, x + j * nx, y + j * ny) : bilinear(src, w, h, x + j * nx, y + j * ny);
        a += v * wn[j + reach]!;
        b += v * ww[j + reach]!;
      }
      narrow[i] = a;
      wide[i] = b;
    }
  }
  return [narrow, wide];
}

/**
 * Line integral convolution of `src` along the tangent field: a Gaussian-weighted average over the
 * streamline through each pixel, traced both ways (turning back when the field flips sign).
 */
export function lineIntegral(src: Float32Array, field: OrientationField, sigma: number): Float32Array {
  const { width: w, height: h, tx, ty } = field;
  // Along the flow the signal is smooth already: half-sigma steps suffice.
  const step = Math.max(1, sigma / 2);
  const steps = Math.ceil((2 * sigma) / step);
  const wt = new Float32Array(steps + 1);
  for (let s = 0; s <= steps; s++) wt[s] = Math.exp(-((s * step) ** 2) / (2 * sigma * sigma));
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      let acc = src[i]! * wt[0]!;
      let norm = wt[0]!;
      for (let dir = -1; dir <= 1; dir += 2) {
        let px = x;
        let py = y;
        let vx = tx[i]! * dir;
        let vy = ty[i]! * dir;
        for (let s = 1; s <= steps; s++) {
          px += vx * step;
          py += vy * step;
          if (px < 0 || py < 0 || px > w - 1 || py > h - 1) break;
          const j = ((py + 0.5) | 0) * w + ((px + 0.5) | 0);
          let nx = tx[j]!;
          let ny = ty[j]!;
          if (nx * vx + ny * vy < 0) {
            nx = -nx;
            ny = -ny;
          }
          vx = nx;
          vy = ny;
          acc += bilinear(src, w, h, px, py) * wt[s]!;
          norm += wt[s]!;
        }
      }
      out[i] = acc / norm;
    }
  }
  return out;
}
