import type { Image } from '../../core/image.js';

/**
 * Colour methods map each colour to another with statistics of the whole frame, so a frame whose
 * statistics move (a person walks in) changes the grade of everything at once. The grade smoother
 * fits, per frame, the affine colour map input → result that best explains the method's output
 * (least squares over a grid of pixels), keeps an exponential moving average of that map over
 * time, and replaces the frame's own affine part by the average: out = result + (Ā − Aₜ)·[x; 1].
 * What the method does beyond an affine map (a histogram's curve) stays per frame.
 */

export interface GradeState {
  /** The running 3×4 map, row-major. */
  mean: number[];
}

/** Share of the running map kept at each frame (the rest comes from the new frame). */
export const GRADE_MEMORY = 0.8;
/** Every STRIDE-th pixel in each direction enters the fit. */
const STRIDE = 3;

export class GradeSmoother {
  private mean: number[] | undefined;

  constructor(private readonly memory = GRADE_MEMORY) {}

  snapshot(): GradeState | undefined {
    return this.mean && { mean: [...this.mean] };
  }

  restore(state: GradeState | undefined): void {
    this.mean = state ? [...state.mean] : undefined;
  }

  smooth(result: Image, input: Image): Image {
    if (result.channels !== 3 || input.channels !== 3 || !result.sameSize(input)) return result;
    const map = fitAffine(input, result);
    if (!map) return result;
    this.mean = this.mean ? this.mean.map((m, k) => this.memory * m + (1 - this.memory) * map[k]!) : map;
    const delta = this.mean.map((m, k) => m - map[k]!);
    const out = result.clone();
    const n = input.pixels;
    const [r, g, b] = [input.plane(0), input.plane(1), input.plane(2)];
    for (let c = 0; c < 3; c++) {
      const o = out.plane(c);
      const d0 = delta[c * 4]!;
      const d1 = delta[c * 4 + 1]!;
      const d2 = delta[c * 4 + 2]!;
      const d3 = delta[c * 4 + 3]!;
      for (let i = 0; i < n; i++) {
        const v = o[i]! + d0 * r[i]! + d1 * g[i]! + d2 * b[i]! + d3;
        o[i] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
    return out;
  }
}

/** Least-squares A (3×4) with result ≈ A·[r, g, b, 1], or undefined when the input is degenerate. */
export function fitAffine(input: Image, result: Image): number[] | undefined {
  const xtx = new Float64Array(16);
  const xty = new Float64Array(12);
  const [r, g, b] = [input.plane(0), input.plane(1), input.plane(2)];
  const out = [result.plane(0), result.plane(1), result.plane(2)];
  const x = [0, 0, 0, 1];
  for (let yy = 0; yy < input.height; yy += STRIDE) {
    for (let xx = 0; xx < input.width; xx += STRIDE) {
      const i = yy * input.width + xx;
      x[0] = r[i]!;
      x[1] = g[i]!;
      x[2] = b[i]!;
      for (let p = 0; p < 4; p++) {
        for (let q = 0; q < 4; q++) xtx[p * 4 + q]! += x[p]! * x[q]!;
        for (let c = 0; c < 3; c++) xty[c * 4 + p]! += x[p]! * out[c]![i]!;
      }
    }
  }
  // A small ridge keeps a flat frame (one colour: a singular system) solvable.
  const ridge = 1e-6 * (xtx[0]! + xtx[5]! + xtx[10]! + xtx[15]!);
  for (let p = 0; p < 4; p++) xtx[p * 5]! += ridge;
  const inv = invert4(xtx);
  if (!inv) return undefined;
  const a: number[] = [];
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < 4; p++) {
      let s = 0;
      for (let q = 0; q < 4; q++) s += inv[p * 4 + q]! * xty[c * 4 + q]!;
      a.push(s);
    }
  }
  return a.every(Number.isFinite) ? a : undefined;
}

function invert4(m: Float64Array): Float64Array | undefined {
  const a = Array.from({ length: 4 }, (_, i) => [...m.subarray(i * 4, i * 4 + 4), ...[0, 1, 2, 3].map((j) => (i === j ? 1 : 0))]);
  for (let col = 0; col < 4; col++) {
    let pivot = col;
    for (let r = col + 1; r < 4; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    const p = a[col]![col]!;
    if (Math.abs(p) < 1e-12) return undefined;
    for (let j = 0; j < 8; j++) a[col]![j]! /= p;
    for (let r = 0; r < 4; r++) {
      if (r === col) continue;
      const f = a[r]![col]!;
      if (f !== 0) for (let j = 0; j < 8; j++) a[r]![j]! -= f * a[col]![j]!;
    }
  }
  return Float64Array.from(a.flatMap((row) => row.slice(4)));
}
