/**
 * Stroke geometry: a uniform cubic B-spline through a stroke's control points (as Hertzmann 1998
 * draws his strokes), written as cubic Bézier segments so that the raster renderer and the SVG
 * writer draw the very same curve. The end points are tripled so the curve starts and ends on them.
 */

export interface Bezier {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  x3: number;
  y3: number;
}

/** Bézier segments of the clamped uniform cubic B-spline with control points (xs[i], ys[i]). */
export function bsplineToBeziers(xs: ArrayLike<number>, ys: ArrayLike<number>): Bezier[] {
  const n = xs.length;
  if (n < 2) return [];
  const px: number[] = [xs[0]!, xs[0]!];
  const py: number[] = [ys[0]!, ys[0]!];
  for (let i = 0; i < n; i++) {
    px.push(xs[i]!);
    py.push(ys[i]!);
  }
  px.push(xs[n - 1]!, xs[n - 1]!);
  py.push(ys[n - 1]!, ys[n - 1]!);
  const out: Bezier[] = [];
  for (let i = 0; i + 3 < px.length; i++) {
    const [a, b, c, d] = [px[i]!, px[i + 1]!, px[i + 2]!, px[i + 3]!];
    const [e, f, g, h] = [py[i]!, py[i + 1]!, py[i + 2]!, py[i + 3]!];
    out.push({
      x0: (a + 4 * b + c) / 6,
      y0: (e + 4 * f + g) / 6,
      x1: (2 * b + c) / 3,
      y1: (2 * f + g) / 3,
      x2: (b + 2 * c) / 3,
      y2: (f + 2 * g) / 3,
      x3: (b + 4 * c + d) / 6,
      y3: (f + 4 * g + h) / 6,
    });
  }
  return out;
}

/** Growable point buffers, reused from stroke to stroke so painting allocates nothing per stroke. */
export interface PointBuffer {
  xs: Float64Array;
  ys: Float64Array;
  count: number;
}

export function pointBuffer(): PointBuffer {
  return { xs: new Float64Array(256), ys: new Float64Array(256), count: 0 };
}

function push(buf: PointBuffer, x: number, y: number): void {
  if (buf.count === buf.xs.length) {
    const xs = new Float64Array(buf.count * 2);
    const ys = new Float64Array(buf.count * 2);
    xs.set(buf.xs);
    ys.set(buf.ys);
    buf.xs = xs;
    buf.ys = ys;
  }
  buf.xs[buf.count] = x;
  buf.ys[buf.count] = y;
  buf.count++;
}

/**
 * Points along the clamped B-spline through (xs[i], ys[i]) — the curve `bsplineToBeziers`
 * describes — at most `spacing` apart, into `buf` (the first point included).
 */
export function sampleSpline(xs: ArrayLike<number>, ys: ArrayLike<number>, spacing: number, buf: PointBuffer): void {
  buf.count = 0;
  const n = xs.length;
  if (n === 0) return;
  if (n === 1) {
    push(buf, xs[0]!, ys[0]!);
    return;
  }
  // Control points with the ends tripled: index k in [−2, n + 1] clamps to [0, n − 1].
  const cx = (k: number) => xs[k < 0 ? 0 : k >= n ? n - 1 : k]!;
  const cy = (k: number) => ys[k < 0 ? 0 : k >= n ? n - 1 : k]!;
  for (let i = -2; i + 3 <= n + 1; i++) {
    const [a, b, c, d] = [cx(i), cx(i + 1), cx(i + 2), cx(i + 3)];
    const [e, f, g, h] = [cy(i), cy(i + 1), cy(i + 2), cy(i + 3)];
    const x0 = (a + 4 * b + c) / 6;
    const y0 = (e + 4 * f + g) / 6;
    const x1 = (2 * b + c) / 3;
    const y1 = (2 * f + g) / 3;
    const x2 = (b + 2 * c) / 3;
    const y2 = (f + 2 * g) / 3;
    const x3 = (b + 4 * c + d) / 6;
    const y3 = (f + 4 * g + h) / 6;
    const chord = Math.sqrt((x1 - x0) ** 2 + (y1 - y0) ** 2) + Math.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2) + Math.sqrt((x3 - x2) ** 2 + (y3 - y2) ** 2);
    const steps = Math.max(1, Math.ceil(chord / spacing));
    for (let j = i === -2 ? 0 : 1; j <= steps; j++) {
      const t = j / steps;
      const u = 1 - t;
      const b0 = u * u * u;
      const b1 = 3 * u * u * t;
      const b2 = 3 * u * t * t;
      const b3 = t * t * t;
      push(buf, b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3, b0 * y0 + b1 * y1 + b2 * y2 + b3 * y3);
    }
  }
}
