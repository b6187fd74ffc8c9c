import { gaussianBlurPlane, gaussianKernel, gaussianRadius, separableFilter } from '../imaging/gaussian.js';
import { luma } from '../core/color.js';
import { AtelierError } from '../core/errors.js';
import { Image } from '../core/image.js';

/**
 * Dense optical flow by polynomial expansion (Farnebäck 2003, "Two-frame motion estimation based on
 * polynomial expansion", SCIA). Each frame is locally approximated by a quadratic
 * f(x) ≈ xᵀA x + bᵀx + c (a Gaussian-weighted least-squares fit, computed with separable filters);
 * a displacement d turns b into b − 2A d, so d follows from the two frames' coefficients. Solving
 * that over a Gaussian window, iterating with the current estimate as a prior, and going coarse to
 * fine over an image pyramid gives a dense, sub-pixel flow.
 *
 * Convention (as OpenCV's): `u, v` at pixel x satisfy frame1(x) ≈ frame2(x + (u, v)).
 */

export interface Flow {
  width: number;
  height: number;
  /** Horizontal displacement per pixel, in pixels. */
  u: Float32Array;
  /** Vertical displacement per pixel, in pixels. */
  v: Float32Array;
}

export interface FlowOptions {
  /** Pyramid levels, each half the size of the one below (default: as many as keep ≥ 24 px, at most 5). */
  levels?: number;
  /** σ of the Gaussian applicability of the polynomial fit, in pixels (default 1.5; window radius ⌈3σ⌉). */
  polySigma?: number;
  /** σ of the Gaussian window the displacement is solved over (default 3). */
  windowSigma?: number;
  /** Iterations per level (default 4). */
  iterations?: number;
}

/** Per-pixel quadratic coefficients: b = (bx, by), A = [[axx, axy], [axy, ayy]] (c is not needed). */
interface Expansion {
  bx: Float32Array;
  by: Float32Array;
  axx: Float32Array;
  ayy: Float32Array;
  axy: Float32Array;
}

/** Inverse of the 6×6 Gram matrix of the basis (1, x, y, x², y², xy) under the applicability. */
function inverseGram(g: Float32Array, radius: number): number[][] {
  const basis = (x: number, y: number) => [1, x, y, x * x, y * y, x * y];
  const G = Array.from({ length: 6 }, () => new Array<number>(6).fill(0));
  for (let y = -radius; y <= radius; y++) {
    for (let x = -radius; x <= radius; x++) {
      const w = g[x + radius]! * g[y + radius]!;
      const b = basis(x, y);
      for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) G[i]![j]! += w * b[i]! * b[j]!;
    }
  }
  // Gauss–Jordan on [G | I].
  const M = G.map((row, i) => [...row, ...Array.from({ length: 6 }, (_, j) => (i === j ? 1 : 0))]);
  for (let col = 0; col < 6; col++) {
    let pivot = col;
    for (let r = col + 1; r < 6; r++) if (Math.abs(M[r]![col]!) > Math.abs(M[pivot]![col]!)) pivot = r;
    [M[col], M[pivot]] = [M[pivot]!, M[col]!];
    const p = M[col]![col]!;
    for (let j = 0; j < 12; j++) M[col]![j]! /= p;
    for (let r = 0; r < 6; r++) {
      if (r === col) continue;
      const f = M[r]![col]!;
      if (f !== 0) for (let j = 0; j < 12; j++) M[r]![j]! -= f * M[col]![j]!;
    }
  }
  return M.map((row) => row.slice(6));
}

function expand(f: Float32Array, width: number, height: number, sigma: number): Expansion {
  const radius = gaussianRadius(sigma);
  const g = gaussianKernel(sigma, radius);
  const gx = g.map((w, i) => w * (i - radius));
  const gxx = g.map((w, i) => w * (i - radius) ** 2);
  // Moments Σ w·xᵖ·yᵠ·f over the window, by separable correlation (kernels along x, then y).
  const m00 = separableFilter(f, width, height, g, g);
  const m10 = separableFilter(f, width, height, gx, g);
  const m01 = separableFilter(f, width, height, g, gx);
  const m20 = separableFilter(f, width, height, gxx, g);
  const m02 = separableFilter(f, width, height, g, gxx);
  const m11 = separableFilter(f, width, height, gx, gx);
  const inv = inverseGram(g, radius);
  const moments = [m00, m10, m01, m20, m02, m11];
  const n = width * height;
  const coef = (row: number) => {
    const out = new Float32Array(n);
    const w = inv[row]!;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < 6; k++) s += w[k]! * moments[k]![i]!;
      out[i] = s;
    }
    return out;
  };
  const axy = coef(5);
  for (let i = 0; i < n; i++) axy[i]! *= 0.5;
  return { bx: coef(1), by: coef(2), axx: coef(3), ayy: coef(4), axy };
}

function bilinear(p: Float32Array, width: number, height: number, x: number, y: number): number {
  const xc = x < 0 ? 0 : x > width - 1 ? width - 1 : x;
  const yc = y < 0 ? 0 : y > height - 1 ? height - 1 : y;
  const x0 = Math.min(width - 2, Math.floor(xc));
  const y0 = Math.min(height - 2, Math.floor(yc));
  const fx = xc - x0;
  const fy = yc - y0;
  const i = y0 * width + x0;
  const top = p[i]! + (p[i + 1]! - p[i]!) * fx;
  const bottom = p[i + width]! + (p[i + width + 1]! - p[i + width]!) * fx;
  return top + (bottom - top) * fy;
}

/** One level: refine (u, v) in place. */
function refine(e1: Expansion, e2: Expansion, width: number, height: number, u: Float32Array, v: Float32Array, windowSigma: number, iterations: number): void {
  const n = width * height;
  const g11 = new Float32Array(n);
  const g12 = new Float32Array(n);
  const g22 = new Float32Array(n);
  const h1 = new Float32Array(n);
  const h2 = new Float32Array(n);
  for (let it = 0; it < iterations; it++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        const du = u[i]!;
        const dv = v[i]!;
        const xs = x + du;
        const ys = y + dv;
        const axx = 0.5 * (e1.axx[i]! + bilinear(e2.axx, width, height, xs, ys));
        const ayy = 0.5 * (e1.ayy[i]! + bilinear(e2.ayy, width, height, xs, ys));
        const axy = 0.5 * (e1.axy[i]! + bilinear(e2.axy, width, height, xs, ys));
        const dbx = -0.5 * (bilinear(e2.bx, width, height, xs, ys) - e1.bx[i]!) + axx * du + axy * dv;
        const dby = -0.5 * (bilinear(e2.by, width, height, xs, ys) - e1.by[i]!) + axy * du + ayy * dv;
        // Normal equations of A d = Δb, summed over the window below.
        g11[i] = axx * axx + axy * axy;
        g12[i] = axy * (axx + ayy);
        g22[i] = axy * axy + ayy * ayy;
        h1[i] = axx * dbx + axy * dby;
        h2[i] = axy * dbx + ayy * dby;
      }
    }
    const s11 = gaussianBlurPlane(g11, width, height, windowSigma);
    const s12 = gaussianBlurPlane(g12, width, height, windowSigma);
    const s22 = gaussianBlurPlane(g22, width, height, windowSigma);
    const t1 = gaussianBlurPlane(h1, width, height, windowSigma);
    const t2 = gaussianBlurPlane(h2, width, height, windowSigma);
    for (let i = 0; i < n; i++) {
      const a = s11[i]!;
      const b = s12[i]!;
      const d = s22[i]!;
      // A tiny ridge keeps flat regions (no texture, singular system) at the prior instead of exploding.
      const ridge = 1e-3 * (a + d) + 1e-12;
      const det = (a + ridge) * (d + ridge) - b * b;
      if (!(det > 0)) continue;
      const r1 = t1[i]! + ridge * u[i]!;
      const r2 = t2[i]! + ridge * v[i]!;
      u[i] = ((d + ridge) * r1 - b * r2) / det;
      v[i] = ((a + ridge) * r2 - b * r1) / det;
    }
  }
}

function downsample(p: Float32Array, width: number, height: number): { data: Float32Array; width: number; height: number } {
  const blurred = gaussianBlurPlane(p, width, height, 1);
  const w = Math.max(1, width >> 1);
  const h = Math.max(1, height >> 1);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = bilinear(blurred, width, height, 2 * x + 0.5, 2 * y + 0.5);
  return { data: out, width: w, height: h };
}

function upsampleFlow(p: Float32Array, w: number, h: number, width: number, height: number): Float32Array {
  const out = new Float32Array(width * height);
  const sx = w / width;
  const sy = h / height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) out[y * width + x] = bilinear(p, w, h, (x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5) / sx;
  }
  return out;
}

/**
 * A frame made ready for flow: its pyramid and each level's polynomial expansion. In a video every
 * frame takes part in two pairs and two directions, so preparing it once saves half the work.
 */
export interface FlowFrame {
  width: number;
  height: number;
  polySigma: number;
  levels: { width: number; height: number; expansion: Expansion }[];
}

function defaultLevels(width: number, height: number): number {
  let maxLevels = 1;
  while (maxLevels < 5 && Math.min(width, height) >> maxLevels >= 24) maxLevels++;
  return maxLevels;
}

export function prepareFlowFrame(frame: Image, options: FlowOptions = {}): FlowFrame {
  const polySigma = options.polySigma ?? 1.5;
  const maxLevels = defaultLevels(frame.width, frame.height);
  const count = Math.max(1, Math.min(options.levels ?? maxLevels, maxLevels));
  let level = { data: luma(frame).data, width: frame.width, height: frame.height };
  const levels: FlowFrame['levels'] = [];
  for (let l = 0; l < count; l++) {
    if (l > 0) level = downsample(level.data, level.width, level.height);
    levels.push({ width: level.width, height: level.height, expansion: expand(level.data, level.width, level.height, polySigma) });
  }
  return { width: frame.width, height: frame.height, polySigma, levels };
}

/** Dense flow between two prepared frames (same size, same options). */
export function flowBetween(frame1: FlowFrame, frame2: FlowFrame, options: FlowOptions = {}): Flow {
  if (frame1.width !== frame2.width || frame1.height !== frame2.height || frame1.levels.length !== frame2.levels.length) {
    throw new AtelierError('E_PARAM', 'Optical flow needs two frames of one size', {
      received: `${frame1.width}×${frame1.height} and ${frame2.width}×${frame2.height}`,
    });
  }
  const windowSigma = options.windowSigma ?? 3;
  const iterations = options.iterations ?? 4;
  const levels = frame1.levels.length;
  let u: Float32Array = new Float32Array(frame1.levels[levels - 1]!.width * frame1.levels[levels - 1]!.height);
  let v: Float32Array = new Float32Array(u.length);
  for (let l = levels - 1; l >= 0; l--) {
    const { width, height } = frame1.levels[l]!;
    if (u.length !== width * height) {
      const prev = frame1.levels[l + 1]!;
      u = upsampleFlow(u, prev.width, prev.height, width, height);
      v = upsampleFlow(v, prev.width, prev.height, width, height);
    }
    refine(frame1.levels[l]!.expansion, frame2.levels[l]!.expansion, width, height, u, v, windowSigma, iterations);
  }
  return { width: frame1.width, height: frame1.height, u, v };
}

/** Dense flow from frame1 to frame2 (greyscale via luma). */
export function opticalFlow(frame1: Image, frame2: Image, options: FlowOptions = {}): Flow {
  if (!frame1.sameSize(frame2)) {
    throw new AtelierError('E_PARAM', 'Optical flow needs two frames of one size', {
      received: `${frame1.width}×${frame1.height} and ${frame2.width}×${frame2.height}`,
    });
  }
  return flowBetween(prepareFlowFrame(frame1, options), prepareFlowFrame(frame2, options), options);
}

/** A flow resampled to another size (vectors scaled with it): flow computed small, used large. */
export function resizeFlow(flow: Flow, width: number, height: number): Flow {
  if (flow.width === width && flow.height === height) return flow;
  const sx = width / flow.width;
  const sy = height / flow.height;
  const u = new Float32Array(width * height);
  const v = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const ys = (y + 0.5) / sy - 0.5;
    for (let x = 0; x < width; x++) {
      const xs = (x + 0.5) / sx - 0.5;
      u[y * width + x] = bilinear(flow.u, flow.width, flow.height, xs, ys) * sx;
      v[y * width + x] = bilinear(flow.v, flow.width, flow.height, xs, ys) * sy;
    }
  }
  return { width, height, u, v };
}

/** A 0/1 mask resampled to another size: trusted only where the nearest source pixel is. */
export function resizeMask(mask: Float32Array, width: number, height: number, toWidth: number, toHeight: number): Float32Array {
  if (width === toWidth && height === toHeight) return mask;
  const out = new Float32Array(toWidth * toHeight);
  for (let y = 0; y < toHeight; y++) {
    const ys = Math.min(height - 1, Math.floor(((y + 0.5) * height) / toHeight));
    for (let x = 0; x < toWidth; x++) out[y * toWidth + x] = mask[ys * width + Math.min(width - 1, Math.floor(((x + 0.5) * width) / toWidth))]!;
  }
  return out;
}

/** Sample `img` at x + flow(x) (bilinear, borders clamped): frame2 warped back onto frame1. */
export function warpByFlow(img: Image, flow: Flow): Image {
  if (!img.sameSize(flow)) {
    throw new AtelierError('E_PARAM', 'The flow does not fit the image', {
      received: `flow ${flow.width}×${flow.height}, image ${img.width}×${img.height}`,
    });
  }
  const out = img.emptyLike();
  const w = img.width;
  for (let c = 0; c < img.channels; c++) {
    const src = img.plane(c);
    const dst = out.plane(c);
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        dst[i] = bilinear(src, w, img.height, x + flow.u[i]!, y + flow.v[i]!);
      }
    }
  }
  return out;
}

/**
 * Pixels where the forward flow and the backward flow disagree (occlusions, flow failures), by the
 * check of Sundaram et al. 2010 as Ruder et al. 2016 use it: |w + ŵ|² > 0.01(|w|² + |ŵ|²) + 0.5,
 * where ŵ is the backward flow sampled at x + w. Also marks pixels whose target leaves the frame.
 * Returns 1 where the flow is trusted, 0 elsewhere.
 */
export function flowConsistencyMask(forward: Flow, backward: Flow): Float32Array {
  const { width, height } = forward;
  const mask = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const wu = forward.u[i]!;
      const wv = forward.v[i]!;
      const xs = x + wu;
      const ys = y + wv;
      if (xs < 0 || ys < 0 || xs > width - 1 || ys > height - 1) continue;
      const bu = bilinear(backward.u, width, height, xs, ys);
      const bv = bilinear(backward.v, width, height, xs, ys);
      const lhs = (wu + bu) ** 2 + (wv + bv) ** 2;
      const rhs = 0.01 * (wu * wu + wv * wv + bu * bu + bv * bv) + 0.5;
      mask[i] = lhs > rhs ? 0 : 1;
    }
  }
  return mask;
}

/** The mean displacement of a flow (optionally weighted by a mask), e.g. a camera pan's. */
export function meanFlow(flow: Flow, mask?: Float32Array): { u: number; v: number } {
  let su = 0;
  let sv = 0;
  let n = 0;
  for (let i = 0; i < flow.u.length; i++) {
    const w = mask ? mask[i]! : 1;
    su += w * flow.u[i]!;
    sv += w * flow.v[i]!;
    n += w;
  }
  return n > 0 ? { u: su / n, v: sv / n } : { u: 0, v: 0 };
}
