import { gaussianBlur } from './gaussian.js';
import type { OrientationField } from './structure-tensor.js';

/**
 * The anisotropic Kuwahara filter (Kyprianidis, Kang & Döllner 2009) with the polynomial sector
 * weights of Kyprianidis et al. 2010 ("Anisotropic Kuwahara filtering with polynomial weighting
 * functions"). Around each pixel an ellipse aligned with the local edge tangent is split into N
 * overlapping sectors; the output is the mean of the sectors weighted by how uniform they are, so
 * edges stay sharp while flat areas are smoothed. Without an orientation field every ellipse is a
 * disc: the generalised Kuwahara filter (Papari et al. 2007).
 *
 * Speed: the filter samples a fixed grid of taps in the unit disc (at most `GRID` per radius) and
 * maps it onto the ellipse of each pixel, so its cost does not grow with the radius. For radii
 * above the grid the source is pre-blurred by half a tap spacing so the sparse taps do not alias.
 * The sector weights depend only on the tap, so they are tabulated once.
 */

const GRID = 5;

export interface KuwaharaOptions {
  radius: number;
  /** Number of sectors (8 in the papers). */
  sectors: number;
  /** Sharpness q: how strongly the most uniform sector wins. */
  sharpness: number;
  /** Eccentricity tuning α: larger gives rounder ellipses. */
  eccentricity: number;
}

interface TapTable {
  count: number;
  ux: Float32Array;
  uy: Float32Array;
  /** Per tap, the sectors it touches and the weight in each (start/length into the arrays below). */
  start: Int32Array;
  length: Int32Array;
  sector: Int32Array;
  weight: Float32Array;
}

function buildTaps(grid: number, sectors: number): TapTable {
  const zeta = 1 / grid;
  const half = Math.PI / sectors;
  const eta = (zeta + Math.cos(half)) / (Math.sin(half) * Math.sin(half));
  const ux: number[] = [];
  const uy: number[] = [];
  const start: number[] = [];
  const length: number[] = [];
  const sector: number[] = [];
  const weight: number[] = [];
  for (let j = -grid; j <= grid; j++) {
    for (let i = -grid; i <= grid; i++) {
      const x = i / grid;
      const y = j / grid;
      const r2 = x * x + y * y;
      if (r2 > 1 + 1e-9) continue;
      const ws: number[] = [];
      let sum = 0;
      for (let k = 0; k < sectors; k++) {
        // Rotate so sector k points along +y, then the polynomial max(0, y + ζ − η x²)².
        const ang = (2 * Math.PI * k) / sectors;
        const c = Math.cos(ang);
        const s = Math.sin(ang);
        const rx = c * x + s * y;
        const ry = -s * x + c * y;
        const z = Math.max(0, ry + zeta - eta * rx * rx);
        ws.push(z * z);
        sum += z * z;
      }
      if (sum <= 0) continue;
      const g = Math.exp(-2 * r2);
      ux.push(x);
      uy.push(y);
      start.push(sector.length);
      let n = 0;
      for (let k = 0; k < sectors; k++) {
        if (ws[k]! <= 0) continue;
        sector.push(k);
        weight.push((ws[k]! / sum) * g);
        n++;
      }
      length.push(n);
    }
  }
  return {
    count: ux.length,
    ux: Float32Array.from(ux),
    uy: Float32Array.from(uy),
    start: Int32Array.from(start),
    length: Int32Array.from(length),
    sector: Int32Array.from(sector),
    weight: Float32Array.from(weight),
  };
}

const tapCache = new Map<string, TapTable>();

/**
 * Filter three planes (w × h) into three new planes. `field` gives orientation and anisotropy;
 * without it the filter is isotropic.
 */
export function kuwaharaFilter(
  planes: Float32Array[],
  w: number,
  h: number,
  field: OrientationField | undefined,
  o: KuwaharaOptions,
): Float32Array[] {
  const grid = Math.max(1, Math.min(GRID, Math.round(o.radius)));
  const key = `${grid}/${o.sectors}`;
  let taps = tapCache.get(key);
  if (!taps) tapCache.set(key, (taps = buildTaps(grid, o.sectors)));
  const spacing = o.radius / grid;
  const src = spacing > 1.2 ? planes.map((p) => gaussianBlur(p, w, h, 0.5 * spacing)) : planes;
  const [R, G, B] = src as [Float32Array, Float32Array, Float32Array];
  const out = [new Float32Array(w * h), new Float32Array(w * h), new Float32Array(w * h)];
  const [oR, oG, oB] = out as [Float32Array, Float32Array, Float32Array];
  const S = o.sectors;
  const acc = new Float64Array(S * 5);
  const sig = new Float64Array(S);
  const { ux, uy, start, length, sector, weight, count } = taps;
  const alpha = o.eccentricity;
  const q = o.sharpness;
  const r = o.radius;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      let ax = r;
      let ay = 0;
      let bx = 0;
      let by = r;
      if (field) {
        const A = field.anisotropy[i]!;
        const a = (r * (alpha + A)) / alpha;
        const b = (r * alpha) / (alpha + A);
        const tx = field.tx[i]!;
        const ty = field.ty[i]!;
        ax = a * tx;
        ay = a * ty;
        bx = -b * ty;
        by = b * tx;
      }
      acc.fill(0);
      for (let t = 0; t < count; t++) {
        const u = ux[t]!;
        const v = uy[t]!;
        let sx = Math.round(x + u * ax + v * bx);
        let sy = Math.round(y + u * ay + v * by);
        sx = sx < 0 ? 0 : sx >= w ? w - 1 : sx;
        sy = sy < 0 ? 0 : sy >= h ? h - 1 : sy;
        const j = sy * w + sx;
        const cr = R[j]!;
        const cg = G[j]!;
        const cb = B[j]!;
        const cq = cr * cr + cg * cg + cb * cb;
        const s0 = start[t]!;
        const s1 = s0 + length[t]!;
        for (let s = s0; s < s1; s++) {
          const wt = weight[s]!;
          const k = sector[s]! * 5;
          acc[k]! += wt;
          acc[k + 1]! += wt * cr;
          acc[k + 2]! += wt * cg;
          acc[k + 3]! += wt * cb;
          acc[k + 4]! += wt * cq;
        }
      }
      let smin = Infinity;
      for (let k = 0; k < S; k++) {
        const W = acc[k * 5]!;
        if (W <= 0) {
          sig[k] = Infinity;
          continue;
        }
        const mr = acc[k * 5 + 1]! / W;
        const mg = acc[k * 5 + 2]! / W;
        const mb = acc[k * 5 + 3]! / W;
        const v = acc[k * 5 + 4]! / W - (mr * mr + mg * mg + mb * mb);
        const sd = Math.sqrt(v > 0 ? v : 0);
        sig[k] = sd;
        if (sd < smin) smin = sd;
      }
      let tw = 0;
      let vr = 0;
      let vg = 0;
      let vb = 0;
      for (let k = 0; k < S; k++) {
        const W = acc[k * 5]!;
        if (W <= 0) continue;
        const ratio = (smin + 0.004) / (sig[k]! + 0.004);
        const aw = ratio ** q;
        tw += aw;
        vr += (aw * acc[k * 5 + 1]!) / W;
        vg += (aw * acc[k * 5 + 2]!) / W;
        vb += (aw * acc[k * 5 + 3]!) / W;
      }
      oR[i] = vr / tw;
      oG[i] = vg / tw;
      oB[i] = vb / tw;
    }
  }
  return out;
}
