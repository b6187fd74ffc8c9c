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

const GRID = 4;
/** Width of the column blocks the image is swept in. */
const BLOCK = 128;

export interface KuwaharaOptions {
  radius: number;
  /** Number of sectors (8 in the papers). */
  sectors: number;
  /** Sharpness q: how strongly the most uniform sector wins. */
  sharpness: number;
  /** Eccentricity tuning α: larger gives rounder ellipses. */
  eccentricity: number;
  /** Taps per radius of the sampling grid (default 4); fewer is faster and softer. */
  grid?: number;
}

/**
 * Taps that fall in one sector only (most of them) come first, grouped by sector
 * (`group[k]` to `group[k + 1]`), so their sums stay in registers; the taps shared by several
 * sectors follow, from `group[sectors]` to `count`.
 */
interface TapTable {
  count: number;
  group: Int32Array;
  ux: Float32Array;
  uy: Float32Array;
  /** Per tap, the sectors it touches (as offsets k·5 into the sums) and the weight in each. */
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
  const addTap = (x: number, y: number) => {
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
    const g = Math.exp(-2 * (x * x + y * y));
    ux.push(x);
    uy.push(y);
    start.push(sector.length);
    let n = 0;
    for (let k = 0; k < sectors && sum > 0; k++) {
      if (ws[k]! <= 0) continue;
      sector.push(k * 5);
      weight.push((ws[k]! / sum) * g);
      n++;
    }
    length.push(n);
  };
  for (let j = -grid; j <= grid; j++) {
    for (let i = -grid; i <= grid; i++) {
      const x = i / grid;
      const y = j / grid;
      if (x * x + y * y <= 1 + 1e-9) addTap(x, y);
    }
  }
  // Reorder: single-sector taps grouped by sector, then the shared ones.
  const order: number[] = [];
  const group: number[] = [];
  for (let k = 0; k < sectors; k++) {
    group.push(order.length);
    for (let t = 0; t < ux.length; t++) if (length[t] === 1 && sector[start[t]!] === k * 5) order.push(t);
  }
  group.push(order.length);
  for (let t = 0; t < ux.length; t++) if (length[t] !== 1) order.push(t);
  const nStart: number[] = [];
  const nSector: number[] = [];
  const nWeight: number[] = [];
  for (const t of order) {
    nStart.push(nSector.length);
    for (let e = start[t]!; e < start[t]! + length[t]!; e++) {
      nSector.push(sector[e]!);
      nWeight.push(weight[e]!);
    }
  }
  return {
    count: order.length,
    group: Int32Array.from(group),
    ux: Float32Array.from(order.map((t) => ux[t]!)),
    uy: Float32Array.from(order.map((t) => uy[t]!)),
    start: Int32Array.from(nStart),
    length: Int32Array.from(order.map((t) => length[t]!)),
    sector: Int32Array.from(nSector),
    weight: Float32Array.from(nWeight),
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
  const grid = Math.max(1, Math.min(o.grid ?? GRID, Math.round(o.radius)));
  const key = `${grid}/${o.sectors}`;
  let taps = tapCache.get(key);
  if (!taps) tapCache.set(key, (taps = buildTaps(grid, o.sectors)));
  const spacing = o.radius / grid;
  const src = spacing > 1.2 ? planes.map((p) => gaussianBlur(p, w, h, 0.5 * spacing)) : planes;
  // Interleaved r, g, b, r²+g²+b² per pixel (one cache line per tap instead of four planes), on
  // a canvas padded by the longest reach of an ellipse with edge-clamped values, so taps need no
  // bounds checks.
  const n = w * h;
  const pad = Math.ceil(2 * o.radius * Math.max(1, (o.eccentricity + 1) / o.eccentricity)) + 1;
  const pw = w + 2 * pad;
  const ph = h + 2 * pad;
  const px4 = new Float32Array(pw * ph * 4);
  {
    const [R, G, B] = src as [Float32Array, Float32Array, Float32Array];
    for (let yy = 0; yy < ph; yy++) {
      const sy = yy - pad < 0 ? 0 : yy - pad >= h ? h - 1 : yy - pad;
      for (let xx = 0; xx < pw; xx++) {
        const sx = xx - pad < 0 ? 0 : xx - pad >= w ? w - 1 : xx - pad;
        const i = sy * w + sx;
        const j = (yy * pw + xx) * 4;
        const r = R[i]!;
        const g = G[i]!;
        const b = B[i]!;
        px4[j] = r;
        px4[j + 1] = g;
        px4[j + 2] = b;
        px4[j + 3] = r * r + g * g + b * b;
      }
    }
  }
  const out = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
  const [oR, oG, oB] = out as [Float32Array, Float32Array, Float32Array];
  const S = o.sectors;
  const acc = new Float64Array(S * 5);
  const sig = new Float64Array(S);
  const { ux, uy, start, length, sector, weight, count, group } = taps;
  const alpha = o.eccentricity;
  const q = o.sharpness;
  const intQ = Number.isInteger(q) ? q : 0;
  const r = o.radius;
  // Column blocks keep the rows an ellipse spans in cache on wide images.
  for (let bx0 = 0; bx0 < w; bx0 += BLOCK) {
    const bx1 = Math.min(w, bx0 + BLOCK);
    for (let y = 0; y < h; y++) {
      for (let x = bx0; x < bx1; x++) {
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
        // Padded coordinates are positive: +0.5 then truncation rounds.
        const cx = x + pad + 0.5;
        const cy = y + pad + 0.5;
        for (let k = 0; k < S; k++) {
          let sw = 0;
          let sr = 0;
          let sg = 0;
          let sb = 0;
          let sq = 0;
          const t1 = group[k + 1]!;
          for (let t = group[k]!; t < t1; t++) {
            const u = ux[t]!;
            const v = uy[t]!;
            const j = ((((cy + u * ay + v * by) | 0) * pw + ((cx + u * ax + v * bx) | 0)) * 4);
            const wt = weight[start[t]!]!;
            sw += wt;
            sr += wt * px4[j]!;
            sg += wt * px4[j + 1]!;
            sb += wt * px4[j + 2]!;
            sq += wt * px4[j + 3]!;
          }
          const k5 = k * 5;
          acc[k5] = sw;
          acc[k5 + 1] = sr;
          acc[k5 + 2] = sg;
          acc[k5 + 3] = sb;
          acc[k5 + 4] = sq;
        }
        for (let t = group[S]!; t < count; t++) {
          const u = ux[t]!;
          const v = uy[t]!;
          const sx = (cx + u * ax + v * bx) | 0;
          const sy = (cy + u * ay + v * by) | 0;
          const j = (sy * pw + sx) * 4;
          const cr = px4[j]!;
          const cg = px4[j + 1]!;
          const cb = px4[j + 2]!;
          const cq = px4[j + 3]!;
          const s0 = start[t]!;
          const s1 = s0 + length[t]!;
          for (let s = s0; s < s1; s++) {
            const wt = weight[s]!;
            const k = sector[s]!;
            acc[k]! += wt;
            acc[k + 1]! += wt * cr;
            acc[k + 2]! += wt * cg;
            acc[k + 3]! += wt * cb;
            acc[k + 4]! += wt * cq;
          }
        }
        // Sector means (kept in acc) and spreads (+ε, so flat sectors tie instead of dividing by 0).
        let smin = Infinity;
        for (let k = 0; k < S; k++) {
          const k5 = k * 5;
          const W = acc[k5]!;
          if (W <= 0) {
            sig[k] = Infinity;
            continue;
          }
          const iw = 1 / W;
          const mr = acc[k5 + 1]! * iw;
          const mg = acc[k5 + 2]! * iw;
          const mb = acc[k5 + 3]! * iw;
          acc[k5 + 1] = mr;
          acc[k5 + 2] = mg;
          acc[k5 + 3] = mb;
          const v = acc[k5 + 4]! * iw - (mr * mr + mg * mg + mb * mb);
          const sd = Math.sqrt(v > 0 ? v : 0) + 0.004;
          sig[k] = sd;
          if (sd < smin) smin = sd;
        }
        let tw = 0;
        let vr = 0;
        let vg = 0;
        let vb = 0;
        for (let k = 0; k < S; k++) {
          const sd = sig[k]!;
          if (sd === Infinity) continue;
          // (smin/σk)^q: by squaring for integer q (the default 8 is three multiplications).
          const ratio = smin / sd;
          let aw = 1;
          if (intQ > 0) {
            let base = ratio;
            for (let e = intQ; e > 0; e >>= 1) {
              if (e & 1) aw *= base;
              base *= base;
            }
          } else aw = ratio ** q;
          const k5 = k * 5;
          tw += aw;
          vr += aw * acc[k5 + 1]!;
          vg += aw * acc[k5 + 2]!;
          vb += aw * acc[k5 + 3]!;
        }
        oR[i] = vr / tw;
        oG[i] = vg / tw;
        oB[i] = vb / tw;
      }
    }
  }
  return out;
}
