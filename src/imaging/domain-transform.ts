import { CancelPacer } from '../core/cancel-pacer.js';
import { throwIfAborted } from '../core/errors.js';
import type { Progress } from '../core/progress.js';

/**
 * Edge-preserving smoothing by the domain transform (Gastal & Oliveira 2011, recursive-filter
 * form): the image is filtered along rows and columns by a first-order recursive filter whose
 * feedback falls off with the local colour distance, so smoothing stops at edges. Its cost per
 * pixel does not depend on σs: the right smoother for sizes that scale with the image. It plays
 * the role of the iterated bilateral filter of Winnemöller et al. 2006 (and of OpenCV's
 * `edgePreservingFilter(flags=RECURS_FILTER)`).
 *
 * The planes guide themselves (edges are where they change). Toon and watercolour abstract with
 * it; patch synthesis denoises its result with it (Elad & Milanfar 2017 use this filter).
 *
 * Its support is unbounded (the feedback decays, it never stops), so it runs on whole images, not
 * strips: with `inPlace` it overwrites `planes` and needs three more planes of scratch.
 */
export function domainTransformSmooth(
  planes: Float32Array[],
  w: number,
  h: number,
  sigmaS: number,
  sigmaR: number,
  iterations = 3,
  inPlace = false,
): Float32Array[] {
  const out = inPlace ? planes : planes.map((p) => p.slice());
  for (const _ of smoothingSteps(out, w, h, sigmaS, sigmaR, iterations));
  return out;
}

/**
 * The same smoothing for a whole image inside a run: it reports progress as row blocks complete
 * and gives the event loop a turn at least every 50 ms of work (CancelPacer), so a cancel lands
 * between blocks instead of after the whole filter. Same arithmetic, in the same order: the same
 * pixels as `domainTransformSmooth`.
 */
export async function domainTransformSmoothPaced(
  planes: Float32Array[],
  w: number,
  h: number,
  sigmaS: number,
  sigmaR: number,
  iterations: number,
  run: { signal?: AbortSignal; progress?: Progress },
): Promise<void> {
  const pacer = new CancelPacer(run.signal);
  for (const fraction of smoothingSteps(planes, w, h, sigmaS, sigmaR, iterations)) {
    if (pacer.due()) {
      run.progress?.step(fraction, 1);
      await pacer.pause();
    }
  }
  throwIfAborted(run.signal);
  run.progress?.step(1, 1);
}

/**
 * Sweeps over the image the smoothing makes (derivatives, then per iteration the feedback weights
 * twice and each plane's row pass and column passes down and up): its cost, in whole-image passes
 * of about equal cost, for a method weighing it against its other stages.
 */
export function domainTransformSweeps(iterations: number, planes = 3): number {
  return 1 + iterations * (2 + 3 * planes);
}

/** Rows per block of work between two chances to pause: about 64 K pixels. */
const blockRows = (w: number) => Math.max(1, Math.floor((1 << 16) / w));

/**
 * The filter in place on `out`, as a sequence of row blocks; yields the fraction of the work done
 * after each. Every sweep (derivatives, feedback weights, a plane's row pass, a plane's column
 * pass down or up) visits each pixel once or twice at about the same cost, so sweeps count equally.
 */
function* smoothingSteps(out: Float32Array[], w: number, h: number, sigmaS: number, sigmaR: number, iterations: number): Generator<number> {
  const n = w * h;
  const ratio = sigmaS / sigmaR;
  const rows = blockRows(w);
  const sweeps = domainTransformSweeps(iterations, out.length);
  let swept = 0;
  // One sweep over rows [0, h) in blocks, forwards or backwards, yielding after each block.
  function* sweep(visit: (y0: number, y1: number) => void, backwards = false): Generator<number> {
    for (let b = 0; b < h; b += rows) {
      const y0 = backwards ? Math.max(0, h - b - rows) : b;
      const y1 = backwards ? h - b : Math.min(h, b + rows);
      visit(y0, y1);
      yield (swept + Math.min(1, (b + rows) / h)) / sweeps;
    }
    swept++;
  }
  // Domain-transform derivatives (1 + σs/σr Σ|∂I|), horizontal (at x, from x−1) and vertical.
  const dx = new Float32Array(n);
  const dy = new Float32Array(n);
  yield* sweep((y0, y1) => {
    for (let y = y0; y < y1; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        let sx = 0;
        let sy = 0;
        for (const p of out) {
          if (x > 0) sx += Math.abs(p[i]! - p[i - 1]!);
          if (y > 0) sy += Math.abs(p[i]! - p[i - w]!);
        }
        dx[i] = 1 + ratio * sx;
        dy[i] = 1 + ratio * sy;
      }
    }
  });
  const v = new Float32Array(n);
  for (let it = 0; it < iterations; it++) {
    const sigmaH = (sigmaS * Math.sqrt(3) * 2 ** (iterations - it - 1)) / Math.sqrt(4 ** iterations - 1);
    const la = -Math.SQRT2 / sigmaH;
    yield* sweep((y0, y1) => {
      for (let i = y0 * w; i < y1 * w; i++) v[i] = Math.exp(la * dx[i]!);
    });
    for (const p of out) yield* sweep((y0, y1) => filterRows(p, v, w, y0, y1));
    yield* sweep((y0, y1) => {
      for (let i = y0 * w; i < y1 * w; i++) v[i] = Math.exp(la * dy[i]!);
    });
    // Down the columns, then back up: each pass continues from the row before its block.
    for (const p of out) {
      yield* sweep((y0, y1) => filterColumnsDown(p, v, w, Math.max(1, y0), y1));
      yield* sweep((y0, y1) => filterColumnsUp(p, v, w, y0, Math.min(y1, h - 1)), true);
    }
  }
}

function filterRows(p: Float32Array, v: Float32Array, w: number, y0: number, y1: number): void {
  for (let y = y0; y < y1; y++) {
    const row = y * w;
    for (let x = 1; x < w; x++) {
      const i = row + x;
      p[i] = p[i]! + v[i]! * (p[i - 1]! - p[i]!);
    }
    for (let x = w - 2; x >= 0; x--) {
      const i = row + x;
      p[i] = p[i]! + v[i + 1]! * (p[i + 1]! - p[i]!);
    }
  }
}

function filterColumnsDown(p: Float32Array, v: Float32Array, w: number, y0: number, y1: number): void {
  for (let y = y0; y < y1; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      const i = row + x;
      p[i] = p[i]! + v[i]! * (p[i - w]! - p[i]!);
    }
  }
}

/** Rows y1−1 down to y0, each from the row below it (the last row is where the pass starts). */
function filterColumnsUp(p: Float32Array, v: Float32Array, w: number, y0: number, y1: number): void {
  for (let y = y1 - 1; y >= y0; y--) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      const i = row + x;
      p[i] = p[i]! + v[i + w]! * (p[i + w]! - p[i]!);
    }
  }
}
