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

/** Points along the segments, at most `spacing` apart (the first point included). */
export function sampleBeziers(segments: Bezier[], spacing: number): { xs: number[]; ys: number[] } {
  const xs: number[] = [];
  const ys: number[] = [];
  segments.forEach((s, k) => {
    const chord = Math.hypot(s.x1 - s.x0, s.y1 - s.y0) + Math.hypot(s.x2 - s.x1, s.y2 - s.y1) + Math.hypot(s.x3 - s.x2, s.y3 - s.y2);
    const steps = Math.max(1, Math.ceil(chord / spacing));
    for (let j = k === 0 ? 0 : 1; j <= steps; j++) {
      const t = j / steps;
      const u = 1 - t;
      const b0 = u * u * u;
      const b1 = 3 * u * u * t;
      const b2 = 3 * u * t * t;
      const b3 = t * t * t;
      xs.push(b0 * s.x0 + b1 * s.x1 + b2 * s.x2 + b3 * s.x3);
      ys.push(b0 * s.y0 + b1 * s.y1 + b2 * s.y2 + b3 * s.y3);
    }
  });
  return { xs, ys };
}
