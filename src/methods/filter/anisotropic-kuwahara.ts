import { gaussianBlur } from '../../imaging/gaussian.js';
import { kuwaharaKernel, kuwaharaWorkspace } from './kuwahara-kernel.js';
import type { OrientationField } from '../../imaging/structure-tensor.js';

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
 * The sector weights depend only on the tap, so they are tabulated once, each divided by its
 * sector's total (every tap always lands on the padded canvas, so the totals never change). The
 * ellipses are binned by orientation and anisotropy, each bin with its taps' canvas offsets, and
 * the per-pixel arithmetic runs as a WebAssembly SIMD kernel (`kuwahara-kernel.ts`).
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
 * The taps are the grid points (i, j)/grid of the unit disc (`ux`, `uy`). The sector sums read
 * them through entries grouped by sector (`group[k]` to `group[k + 1]`): each names a tap (`tap`)
 * and its weight in that sector (`weight`), already divided by the sector's total weight, so the
 * sums are the sector means. A tap shared by several sectors has one entry in each.
 */
interface TapTable {
  ux: Float32Array;
  uy: Float32Array;
  group: Int32Array;
  tap: Int32Array;
  weight: Float32Array;
}

function buildTaps(grid: number, sectors: number): TapTable {
  const zeta = 1 / grid;
  const half = Math.PI / sectors;
  const eta = (zeta + Math.cos(half)) / (Math.sin(half) * Math.sin(half));
  const ux: number[] = [];
  const uy: number[] = [];
  // bySector[k]: [tap, weight] pairs.
  const bySector: [number, number][][] = Array.from({ length: sectors }, () => []);
  for (let j = -grid; j <= grid; j++) {
    for (let i = -grid; i <= grid; i++) {
      const x = i / grid;
      const y = j / grid;
      if (x * x + y * y > 1 + 1e-9) continue;
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
      for (let k = 0; k < sectors && sum > 0; k++) if (ws[k]! > 0) bySector[k]!.push([ux.length, (ws[k]! / sum) * g]);
      ux.push(x);
      uy.push(y);
    }
  }
  const group: number[] = [];
  const tap: number[] = [];
  const weight: number[] = [];
  for (const entries of bySector) {
    group.push(tap.length);
    const total = entries.reduce((acc, [, wt]) => acc + wt, 0);
    for (const [t, wt] of entries) {
      tap.push(t);
      weight.push(wt / total);
    }
  }
  group.push(tap.length);
  return {
    ux: Float32Array.from(ux),
    uy: Float32Array.from(uy),
    group: Int32Array.from(group),
    tap: Int32Array.from(tap),
    weight: Float32Array.from(weight),
  };
}

/**
 * The ellipses, binned: orientation into `angles` bins over half a turn (an ellipse turned by π
 * has the same sectors, renumbered) and anisotropy into `levels` bins over [0, 1]. `offsets`
 * holds, per bin, each entry's tap as an offset into the padded canvas (in bytes, 16 a pixel), so
 * a pixel finds its taps with one lookup instead of placing them one by one. The bins are fine
 * enough that no tap moves by more than `BIN_TOLERANCE` pixels (an eighth of the tap spacing where
 * the source is pre-blurred; more only for extreme eccentricities, to bound the table).
 */
interface EllipseBins {
  angles: number;
  levels: number;
  offsets: Int32Array;
}

/** Largest positional error a binned ellipse may add to a tap, in pixels (taps are rounded to whole pixels anyway). */
const BIN_TOLERANCE = 0.25;
const MAX_BINS = 8192;

function ellipseBins(taps: TapTable, r: number, alpha: number, spacing: number, pw: number, anisotropic: boolean): EllipseBins {
  const entries = taps.tap.length;
  let angles = 1;
  let levels = 1;
  if (anisotropic) {
    // Where the source is pre-blurred the taps may move by more (an eighth of their spacing).
    let tolerance = Math.max(BIN_TOLERANCE, spacing / 8);
    const major = (r * (alpha + 1)) / alpha;
    // Bins are centred on their angle and level: half a bin is at most 2/angles rad (pseudo-angle,
    // below) times the major axis, and half a level step times r/α.
    for (;;) {
      angles = Math.max(4, Math.ceil((2 * major) / tolerance));
      levels = 1 + Math.ceil(r / (2 * alpha * tolerance));
      if (angles * levels <= MAX_BINS) break;
      tolerance *= 1.25;
    }
  }
  const offsets = new Int32Array(angles * levels * entries);
  const { ux, uy, tap } = taps;
  for (let lb = 0; lb < levels; lb++) {
    const A = levels > 1 ? lb / (levels - 1) : 0;
    const a = (r * (alpha + A)) / alpha;
    const b = (r * alpha) / (alpha + A);
    for (let ab = 0; ab < angles; ab++) {
      const [tx, ty] = anisotropic ? directionOf((2 * ab) / angles) : [1, 0];
      const ax = a * tx;
      const ay = a * ty;
      const bx = -b * ty;
      const by = b * tx;
      const base = (lb * angles + ab) * entries;
      for (let e = 0; e < entries; e++) {
        const u = ux[tap[e]!]!;
        const v = uy[tap[e]!]!;
        const dx = Math.floor(0.5 + u * ax + v * bx);
        const dy = Math.floor(0.5 + u * ay + v * by);
        offsets[base + e] = (dy * pw + dx) * 16;
      }
    }
  }
  return { angles, levels, offsets };
}

/**
 * A pseudo-angle of a unit direction folded into the upper half plane, in [0, 2): monotone in
 * the angle, within a factor 2 of it, and cheap (one division, no atan2).
 */
function pseudoAngle(tx: number, ty: number): number {
  if (ty < 0 || (ty === 0 && tx < 0)) {
    tx = -tx;
    ty = -ty;
  }
  return tx >= 0 ? ty / (tx + ty) : 1 - tx / (ty - tx);
}

/** The unit direction of pseudo-angle p (the inverse of `pseudoAngle`). */
function directionOf(p: number): [number, number] {
  const [x, y] = p < 1 ? [1 - p, p] : [1 - p, 2 - p];
  const len = Math.hypot(x, y);
  return [x / len, y / len];
}

const tapCache = new Map<string, TapTable>();

function tapsFor(o: KuwaharaOptions): { grid: number; taps: TapTable } {
  const grid = Math.max(1, Math.min(o.grid ?? GRID, Math.round(o.radius)));
  const key = `${grid}/${o.sectors}`;
  let taps = tapCache.get(key);
  if (!taps) tapCache.set(key, (taps = buildTaps(grid, o.sectors)));
  return { grid, taps };
}

/** The one-off setup of `kuwaharaFilter` for these options: its tap table and compiled kernel. */
export function prepareKuwaharaFilter(o: KuwaharaOptions): void {
  kuwaharaKernel(tapsFor(o).taps, o.sharpness);
}

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
  const { grid, taps } = tapsFor(o);
  const spacing = o.radius / grid;
  const src = spacing > 1.2 ? planes.map((p) => gaussianBlur(p, w, h, 0.5 * spacing)) : planes;
  // Interleaved r, g, b, r²+g²+b² per pixel (one 16-byte load per tap), on a canvas padded by
  // the longest reach of an ellipse with edge-clamped values, so taps need no bounds checks.
  const n = w * h;
  const pad = Math.ceil(2 * o.radius * Math.max(1, (o.eccentricity + 1) / o.eccentricity)) + 1;
  const pw = w + 2 * pad;
  const ph = h + 2 * pad;
  const bins = ellipseBins(taps, o.radius, o.eccentricity, spacing, pw, field !== undefined);
  const span = Math.min(w, BLOCK);
  const ws = kuwaharaWorkspace(taps, o.sharpness, pw * ph, bins.offsets.length, span);
  ws.offsets.set(bins.offsets);
  const px4 = ws.canvas;
  {
    const [R, G, B] = src as [Float32Array, Float32Array, Float32Array];
    for (let yy = 0; yy < ph; yy++) {
      const sy = yy - pad < 0 ? 0 : yy - pad >= h ? h - 1 : yy - pad;
      const line = yy * pw * 4;
      for (let x = 0; x < w; x++) {
        const i = sy * w + x;
        const j = line + (x + pad) * 4;
        const r = R[i]!;
        const g = G[i]!;
        const b = B[i]!;
        px4[j] = r;
        px4[j + 1] = g;
        px4[j + 2] = b;
        px4[j + 3] = r * r + g * g + b * b;
      }
      // Left and right margins repeat the row's end pixels.
      for (let xx = 0; xx < pad; xx++) {
        px4.copyWithin(line + xx * 4, line + pad * 4, line + pad * 4 + 4);
        px4.copyWithin(line + (pad + w + xx) * 4, line + (pad + w - 1) * 4, line + (pad + w) * 4);
      }
    }
  }
  const out = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
  const entries = taps.weight.length;
  const { angles, levels } = bins;
  const halfAngles = angles / 2;
  const { bins: spanBins } = ws;
  // Column blocks keep the rows an ellipse spans in cache on wide images.
  for (let bx0 = 0; bx0 < w; bx0 += BLOCK) {
    const bx1 = Math.min(w, bx0 + BLOCK);
    for (let y = 0; y < h; y++) {
      const row = y * w;
      for (let x = bx0; x < bx1; x++) {
        let bin = 0;
        if (field) {
          const i = row + x;
          let ab = (pseudoAngle(field.tx[i]!, field.ty[i]!) * halfAngles + 0.5) | 0;
          if (ab >= angles) ab = 0;
          const lb = (field.anisotropy[i]! * (levels - 1) + 0.5) | 0;
          bin = (lb * angles + ab) * entries;
        }
        spanBins[x - bx0] = bin;
      }
      ws.run((y + pad) * pw + bx0 + pad, bx1 - bx0);
      for (let c = 0; c < 3; c++) out[c]!.set(ws.out[c]!.subarray(0, bx1 - bx0), row + bx0);
    }
  }
  return out;
}
