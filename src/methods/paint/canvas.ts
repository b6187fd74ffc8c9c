import { Image } from '../../core/image.js';
import { bsplineToBeziers, pointBuffer, sampleSpline, type Bezier } from './spline.js';

/**
 * A raster canvas that strokes are painted on, and the same strokes kept as vector shapes for the
 * SVG. A stroke is composited once (its coverage is the maximum over its parts, as an SVG stroke
 * is), so an opaque colour with opacity α gives the same pixel in both renderings.
 */

export interface CurvedStroke {
  kind: 'curve';
  xs: number[];
  ys: number[];
  radius: number;
  rgb: [number, number, number];
  opacity: number;
}

export interface RectStroke {
  kind: 'rect';
  cx: number;
  cy: number;
  length: number;
  width: number;
  angle: number;
  rgb: [number, number, number];
  opacity: number;
}

export type Stroke = CurvedStroke | RectStroke;

export class Canvas {
  readonly image: Image;
  readonly background: [number, number, number];
  // The strokes as painted; their SVG is written only if asked for (most runs want a raster).
  private readonly strokes: Stroke[] = [];
  private svgText?: string;
  // Per-stroke scratch, kept zero outside a stroke: coverage, across-stroke position, and the
  // touched x range of each row, so that compositing visits only the stroke, not its bounding box.
  private cov = new Float32Array(0);
  private across = new Float32Array(0);
  private rowMin = new Int32Array(0);
  private rowMax = new Int32Array(0);
  private readonly points = pointBuffer();

  constructor(
    readonly width: number,
    readonly height: number,
    background: [number, number, number],
    private readonly keepVector: boolean,
  ) {
    this.image = new Image(width, height, 3);
    this.background = background;
    for (let c = 0; c < 3; c++) this.image.plane(c).fill(background[c]!);
  }

  /**
   * Paint a stroke. `texture` (0–1) modulates coverage by bristle grooves across the stroke,
   * seeded by `textureSeed` (raster only; the SVG keeps solid strokes).
   */
  paint(s: Stroke, texture = 0, textureSeed = 0): void {
    if (this.keepVector) {
      this.strokes.push(s);
      this.svgText = undefined;
    }
    if (s.kind === 'curve') this.paintCurve(s, texture, textureSeed);
    else this.paintRect(s, texture, textureSeed);
  }

  private buffers(n: number, rows: number): void {
    if (this.cov.length < n) {
      this.cov = new Float32Array(n);
      this.across = new Float32Array(n);
    }
    if (this.rowMin.length < rows) {
      this.rowMin = new Int32Array(rows);
      this.rowMax = new Int32Array(rows);
    }
    this.rowMin.fill(0x7fffffff, 0, rows);
    this.rowMax.fill(-1, 0, rows);
  }

  private paintCurve(s: CurvedStroke, texture: number, seed: number): void {
    const R = s.radius;
    const pts = this.points;
    // Samples a radius apart: the spline bends gently over one brush width.
    sampleSpline(s.xs, s.ys, Math.max(0.75, R), pts);
    const np = pts.count;
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (let k = 0; k < np; k++) {
      minX = Math.min(minX, pts.xs[k]!);
      maxX = Math.max(maxX, pts.xs[k]!);
      minY = Math.min(minY, pts.ys[k]!);
      maxY = Math.max(maxY, pts.ys[k]!);
    }
    const x0 = Math.max(0, Math.floor(minX - R - 1));
    const y0 = Math.max(0, Math.floor(minY - R - 1));
    const x1 = Math.min(this.width - 1, Math.ceil(maxX + R + 1));
    const y1 = Math.min(this.height - 1, Math.ceil(maxY + R + 1));
    if (x1 < x0 || y1 < y0) return;
    const bw = x1 - x0 + 1;
    const bh = y1 - y0 + 1;
    this.buffers(bw * bh, bh);
    const cov = this.cov;
    const across = this.across;
    const rowMin = this.rowMin;
    const rowMax = this.rowMax;
    const nseg = Math.max(1, np - 1);
    for (let k = 0; k < nseg; k++) {
      const ax = pts.xs[k]!;
      const ay = pts.ys[k]!;
      const bx = np > 1 ? pts.xs[k + 1]! : ax;
      const by = np > 1 ? pts.ys[k + 1]! : ay;
      const dx = bx - ax;
      const dy = by - ay;
      const len2 = dx * dx + dy * dy;
      const len = Math.sqrt(len2);
      const rho = R + 0.5;
      const sy0 = Math.max(y0, Math.floor(Math.min(ay, by) - rho));
      const sy1 = Math.min(y1, Math.ceil(Math.max(ay, by) + rho));
      for (let y = sy0; y <= sy1; y++) {
        // The capsule cuts this row in one interval: the union of the two end discs and the band.
        capsuleRow(ax, ay, bx, by, rho, y);
        const sx0 = Math.max(x0, Math.floor(rowLo));
        const sx1 = Math.min(x1, Math.ceil(rowHi));
        if (sx0 > sx1) continue;
        const r = y - y0;
        if (sx0 - x0 < rowMin[r]!) rowMin[r] = sx0 - x0;
        if (sx1 - x0 > rowMax[r]!) rowMax[r] = sx1 - x0;
        // Pixels deeper than half a pixel inside the capsule are fully covered: no distance needed.
        let in0 = 1;
        let in1 = 0;
        if (R > 1) {
          capsuleRow(ax, ay, bx, by, R - 0.5, y);
          in0 = Math.ceil(rowLo);
          in1 = Math.floor(rowHi);
        }
        const py = y - ay;
        const rowBase = r * bw - x0;
        for (let x = sx0; x <= sx1; x++) {
          const j = rowBase + x;
          const px = x - ax;
          let cv = 1;
          if (x < in0 || x > in1) {
            let t = len2 > 0 ? (px * dx + py * dy) / len2 : 0;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            const qx = px - t * dx;
            const qy = py - t * dy;
            const c = rho - Math.sqrt(qx * qx + qy * qy);
            if (c <= 0) continue;
            cv = c >= 1 ? 1 : c;
          }
          if (cv > cov[j]!) {
            cov[j] = cv;
            // Signed distance across the stroke, in radii, for the bristle texture.
            across[j] = len > 0 ? (px * dy - py * dx) / (len * R) : px / R;
          }
        }
      }
    }
    this.composite(x0, y0, bw, bh, s.rgb, s.opacity, texture, seed, R);
  }

  private paintRect(s: RectStroke, texture: number, seed: number): void {
    const c = Math.cos(s.angle);
    const sn = Math.sin(s.angle);
    const hl = s.length / 2;
    const hw = s.width / 2;
    const ex = Math.abs(c) * hl + Math.abs(sn) * hw;
    const ey = Math.abs(sn) * hl + Math.abs(c) * hw;
    const x0 = Math.max(0, Math.floor(s.cx - ex - 1));
    const x1 = Math.min(this.width - 1, Math.ceil(s.cx + ex + 1));
    const y0 = Math.max(0, Math.floor(s.cy - ey - 1));
    const y1 = Math.min(this.height - 1, Math.ceil(s.cy + ey + 1));
    if (x1 < x0 || y1 < y0) return;
    const bw = x1 - x0 + 1;
    const bh = y1 - y0 + 1;
    this.buffers(bw * bh, bh);
    this.rowMin.fill(0, 0, bh);
    this.rowMax.fill(bw - 1, 0, bh);
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const px = x - s.cx;
        const py = y - s.cy;
        const u = px * c + py * sn;
        const v = -px * sn + py * c;
        const cu = Math.min(1, Math.max(0, hl + 0.5 - Math.abs(u)));
        const cvv = Math.min(1, Math.max(0, hw + 0.5 - Math.abs(v)));
        const j = (y - y0) * bw + (x - x0);
        this.cov[j] = cu * cvv;
        this.across[j] = v / Math.max(0.5, hw);
      }
    }
    this.composite(x0, y0, bw, bh, s.rgb, s.opacity, texture, seed, hw);
  }

  private composite(x0: number, y0: number, bw: number, bh: number, rgb: [number, number, number], opacity: number, texture: number, seed: number, radius: number): void {
    const W = this.width;
    const n = this.width * this.height;
    const d = this.image.data;
    // Bristles: about one groove per 1.5 px of brush width, at least 5 across.
    const grooves = Math.max(5, (2 * radius) / 1.5);
    for (let yy = 0; yy < bh; yy++) {
      const xe = this.rowMax[yy]!;
      for (let xx = this.rowMin[yy]!; xx <= xe; xx++) {
        const j = yy * bw + xx;
        let a = this.cov[j]!;
        if (a <= 0) continue;
        this.cov[j] = 0;
        if (texture > 0) a *= 1 - texture * bristle(this.across[j]! * grooves * 0.5, seed);
        a *= opacity;
        const i = (y0 + yy) * W + x0 + xx;
        d[i] = d[i]! + (rgb[0] - d[i]!) * a;
        d[i + n] = d[i + n]! + (rgb[1] - d[i + n]!) * a;
        d[i + 2 * n] = d[i + 2 * n]! + (rgb[2] - d[i + 2 * n]!) * a;
      }
    }
  }

  /** The strokes painted so far as an SVG document of the canvas size. */
  svg(): string {
    const bg = hex(this.background);
    this.svgText ??=
      `<svg xmlns="http://www.w3.org/2000/svg" width="${this.width}" height="${this.height}" viewBox="0 0 ${this.width} ${this.height}">\n` +
      `<rect width="${this.width}" height="${this.height}" fill="${bg}"/>\n` +
      `<g fill="none" stroke-linecap="round" stroke-linejoin="round">\n` +
      this.strokes.map(svgShape).join('\n') +
      `\n</g>\n</svg>\n`;
    return this.svgText;
  }
}

/** The x interval where row y meets the capsule of radius rho around segment (a, b): [rowLo, rowHi]. */
let rowLo = 0;
let rowHi = 0;
function capsuleRow(ax: number, ay: number, bx: number, by: number, rho: number, y: number): void {
  let lo = Infinity;
  let hi = -Infinity;
  const da = y - ay;
  if (da <= rho && da >= -rho) {
    const s = Math.sqrt(rho * rho - da * da);
    lo = ax - s;
    hi = ax + s;
  }
  const db = y - by;
  if (db <= rho && db >= -rho) {
    const s = Math.sqrt(rho * rho - db * db);
    if (bx - s < lo) lo = bx - s;
    if (bx + s > hi) hi = bx + s;
  }
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  if (len2 > 1e-12) {
    // Band: |(x′·dy − da·dx)| ≤ rho·len and 0 ≤ x′·dx + da·dy ≤ len², with x′ = x − ax.
    const len = Math.sqrt(len2);
    let blo = -Infinity;
    let bhi = Infinity;
    if (Math.abs(dy) > 1e-12) {
      const u = (da * dx - rho * len) / dy;
      const v = (da * dx + rho * len) / dy;
      blo = Math.min(u, v);
      bhi = Math.max(u, v);
    } else if (Math.abs(da) > rho) {
      blo = Infinity;
    }
    if (Math.abs(dx) > 1e-12) {
      const u = -(da * dy) / dx;
      const v = (len2 - da * dy) / dx;
      blo = Math.max(blo, Math.min(u, v));
      bhi = Math.min(bhi, Math.max(u, v));
    } else if (da * dy < 0 || da * dy > len2) {
      blo = Infinity;
    }
    if (blo <= bhi) {
      if (ax + blo < lo) lo = ax + blo;
      if (ax + bhi > hi) hi = ax + bhi;
    }
  }
  rowLo = lo;
  rowHi = hi;
}

/** Smooth 1-D noise in [0, 1) for bristle grooves. */
function bristle(t: number, seed: number): number {
  const i = Math.floor(t);
  const f = t - i;
  const a = hash1(i, seed);
  const b = hash1(i + 1, seed);
  return a + (b - a) * f * f * (3 - 2 * f);
}

function hash1(i: number, seed: number): number {
  let h = Math.imul(i ^ 0x5bd1e995, 0x27d4eb2d) ^ Math.imul(seed, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  return ((h ^ (h >>> 13)) >>> 0) / 4294967296;
}

function hex(rgb: readonly number[]): string {
  return '#' + rgb.map((v) => Math.round(Math.min(1, Math.max(0, v)) * 255).toString(16).padStart(2, '0')).join('');
}

/** A coordinate to one decimal, through integer formatting (much faster than float printing). */
function f2(v: number): string {
  const t = Math.round(v * 10);
  const whole = (t / 10) | 0;
  const tenth = Math.abs(t % 10);
  if (tenth === 0) return String(whole);
  return (t < 0 && whole === 0 ? '-0.' : whole + '.') + tenth;
}

/** One stroke as an SVG element; coordinates shift by half a pixel (pixel centres). */
function svgShape(s: Stroke): string {
  const op = s.opacity < 1 ? ` opacity="${f2(s.opacity)}"` : '';
  if (s.kind === 'rect') {
    return `<rect x="${f2(-s.length / 2)}" y="${f2(-s.width / 2)}" width="${f2(s.length)}" height="${f2(s.width)}" fill="${hex(s.rgb)}"${op} transform="translate(${f2(s.cx + 0.5)} ${f2(s.cy + 0.5)}) rotate(${f2((s.angle * 180) / Math.PI)})"/>`;
  }
  if (s.xs.length === 1) return `<circle cx="${f2(s.xs[0]! + 0.5)}" cy="${f2(s.ys[0]! + 0.5)}" r="${f2(s.radius)}" fill="${hex(s.rgb)}"${op}/>`;
  const segs: Bezier[] = bsplineToBeziers(s.xs, s.ys);
  let d = `M${f2(segs[0]!.x0 + 0.5)} ${f2(segs[0]!.y0 + 0.5)}`;
  for (const b of segs) d += `C${f2(b.x1 + 0.5)} ${f2(b.y1 + 0.5)} ${f2(b.x2 + 0.5)} ${f2(b.y2 + 0.5)} ${f2(b.x3 + 0.5)} ${f2(b.y3 + 0.5)}`;
  return `<path d="${d}" stroke="${hex(s.rgb)}" stroke-width="${f2(2 * s.radius)}"${op}/>`;
}
