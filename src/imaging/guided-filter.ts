import { AtelierError } from '../core/errors.js';
import { Image } from '../core/image.js';
import { resizeImage } from '../core/resample.js';

/**
 * He, Sun & Tang, "Guided Image Filtering" (ECCV 2010 / TPAMI 2013): in every (2r+1)² window the
 * output is an affine function of the guide, q = a·I + b, fitted to the input by ridge regression
 * (ε penalises a). Edges of the guide survive because q follows I wherever I varies; where I is
 * flat (variance ≪ ε) q is the window mean. Box filters make it O(N) in the radius. With a colour
 * guide, a is a 3-vector and the 3×3 guide covariance is inverted per pixel. `subsample` > 1 is the
 * fast guided filter (He & Sun 2015): coefficients at 1/s resolution, upsampled, applied at full
 * resolution — s² less memory and time, nearly the same result.
 */
export interface GuidedFilterOptions {
  radius: number;
  eps: number;
  subsample?: number;
}

export function guidedFilter(guide: Image, input: Image, options: GuidedFilterOptions): Image {
  if (!guide.sameSize(input) || (guide.channels !== 1 && guide.channels !== 3)) {
    throw new AtelierError('E_INTERNAL', 'guidedFilter needs a 1- or 3-channel guide of the input size', {
      received: `guide ${guide.width}×${guide.height}×${guide.channels}, input ${input.width}×${input.height}`,
    });
  }
  const s = Math.max(1, Math.floor(options.subsample ?? 1));
  const lowW = Math.max(1, Math.round(guide.width / s));
  const lowH = Math.max(1, Math.round(guide.height / s));
  const g = s > 1 ? resizeImage(guide, lowW, lowH) : guide;
  const p = s > 1 ? resizeImage(input, lowW, lowH) : input;
  const radius = Math.max(1, Math.round(options.radius / s));
  return applyCoefficients(guide, coefficients(g, p, radius, options.eps), input.channels);
}

/**
 * The window-averaged coefficients: for each input channel, guide-channels planes of ā then one
 * plane of b̄.
 */
function coefficients(guide: Image, input: Image, r: number, eps: number): Image {
  const { width: w, height: h } = guide;
  const n = guide.pixels;
  const gc = guide.channels;
  const box = new BoxFilter(w, h, r);
  const I = Array.from({ length: gc }, (_, c) => guide.plane(c));
  const meanI = I.map((plane) => box.mean(plane));
  const out = new Image(w, h, (gc + 1) * input.channels);
  const product = new Float32Array(n);

  // The regularised guide covariance, inverted once for all input channels (symmetric: 1 or 6 planes).
  const inv: Float32Array[] = [];
  if (gc === 1) {
    for (let i = 0; i < n; i++) product[i] = I[0]![i]! * I[0]![i]!;
    const corr = box.mean(product);
    for (let i = 0; i < n; i++) corr[i] = 1 / (corr[i]! - meanI[0]![i]! ** 2 + eps);
    inv.push(corr);
  } else {
    const pairs = [[0, 0], [0, 1], [0, 2], [1, 1], [1, 2], [2, 2]] as const;
    const sigma = pairs.map(([a, b]) => {
      const Ia = I[a]!;
      const Ib = I[b]!;
      for (let i = 0; i < n; i++) product[i] = Ia[i]! * Ib[i]!;
      const m = box.mean(product);
      const ma = meanI[a]!;
      const mb = meanI[b]!;
      for (let i = 0; i < n; i++) m[i] = m[i]! - ma[i]! * mb[i]! + (a === b ? eps : 0);
      return m;
    });
    const [s00, s01, s02, s11, s12, s22] = sigma as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
    for (let i = 0; i < n; i++) {
      const a = s00[i]!, b = s01[i]!, c = s02[i]!, d = s11[i]!, e = s12[i]!, f = s22[i]!;
      const c00 = d * f - e * e;
      const c01 = c * e - b * f;
      const c02 = b * e - c * d;
      const det = a * c00 + b * c01 + c * c02;
      const k = 1 / det;
      s00[i] = c00 * k;
      s01[i] = c01 * k;
      s02[i] = c02 * k;
      s11[i] = (a * f - c * c) * k;
      s12[i] = (b * c - a * e) * k;
      s22[i] = (a * d - b * b) * k;
    }
    inv.push(...sigma);
  }

  for (let ch = 0; ch < input.channels; ch++) {
    const P = input.plane(ch);
    const meanP = box.mean(P);
    const cov = I.map((Ia, a) => {
      for (let i = 0; i < n; i++) product[i] = Ia[i]! * P[i]!;
      const m = box.mean(product);
      const ma = meanI[a]!;
      for (let i = 0; i < n; i++) m[i] = m[i]! - ma[i]! * meanP[i]!;
      return m;
    });
    const base = ch * (gc + 1);
    const A = Array.from({ length: gc }, (_, a) => out.plane(base + a));
    const B = out.plane(base + gc);
    if (gc === 1) {
      const v = inv[0]!;
      for (let i = 0; i < n; i++) {
        const a = cov[0]![i]! * v[i]!;
        A[0]![i] = a;
        B[i] = meanP[i]! - a * meanI[0]![i]!;
      }
    } else {
      const [i00, i01, i02, i11, i12, i22] = inv as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
      const [c0, c1, c2] = cov as [Float32Array, Float32Array, Float32Array];
      for (let i = 0; i < n; i++) {
        const a0 = i00[i]! * c0[i]! + i01[i]! * c1[i]! + i02[i]! * c2[i]!;
        const a1 = i01[i]! * c0[i]! + i11[i]! * c1[i]! + i12[i]! * c2[i]!;
        const a2 = i02[i]! * c0[i]! + i12[i]! * c1[i]! + i22[i]! * c2[i]!;
        A[0]![i] = a0;
        A[1]![i] = a1;
        A[2]![i] = a2;
        B[i] = meanP[i]! - a0 * meanI[0]![i]! - a1 * meanI[1]![i]! - a2 * meanI[2]![i]!;
      }
    }
    for (const plane of [...A, B]) box.mean(plane, plane);
  }
  return out;
}

/**
 * q = ā·I + b̄ at the guide's resolution. Coefficients computed at a lower resolution are read
 * through bilinear interpolation on the fly (no full-resolution copy of them is ever made).
 */
function applyCoefficients(guide: Image, coef: Image, channels: number): Image {
  const gc = guide.channels;
  const { width: w, height: h } = guide;
  const { width: cw, height: ch } = coef;
  const taps = (n: number, m: number) => {
    const i0 = new Int32Array(n);
    const i1 = new Int32Array(n);
    const f = new Float32Array(n);
    for (let o = 0; o < n; o++) {
      const x = Math.min(m - 1, Math.max(0, ((o + 0.5) * m) / n - 0.5));
      i0[o] = Math.floor(x);
      i1[o] = Math.min(m - 1, i0[o]! + 1);
      f[o] = x - i0[o]!;
    }
    return { i0, i1, f };
  };
  const tx = taps(w, cw);
  const ty = taps(h, ch);
  const out = new Image(w, h, channels, undefined, guide.alpha);
  const I = Array.from({ length: gc }, (_, a) => guide.plane(a));
  const planes = coef.channels;
  // Per output row: each coefficient plane interpolated vertically once (at coefficient width),
  // then horizontally per pixel.
  const rows = Array.from({ length: planes }, () => new Float32Array(cw));
  for (let y = 0; y < h; y++) {
    const r0 = ty.i0[y]! * cw;
    const r1 = ty.i1[y]! * cw;
    const fy = ty.f[y]!;
    for (let k = 0; k < planes; k++) {
      const P = coef.plane(k);
      const row = rows[k]!;
      for (let x = 0; x < cw; x++) row[x] = P[r0 + x]! + (P[r1 + x]! - P[r0 + x]!) * fy;
    }
    const o = y * w;
    const { i0, i1, f } = tx;
    for (let c = 0; c < channels; c++) {
      const q = out.plane(c);
      const base = c * (gc + 1);
      const B = rows[base + gc]!;
      if (gc === 3) {
        // Pixel-major for the usual colour guide: taps read once for the four coefficients.
        const [A0, A1, A2] = [rows[base]!, rows[base + 1]!, rows[base + 2]!];
        const [G0, G1, G2] = [I[0]!, I[1]!, I[2]!];
        for (let x = 0; x < w; x++) {
          const x0 = i0[x]!;
          const x1 = i1[x]!;
          const fx = f[x]!;
          const a0 = A0[x0]! + (A0[x1]! - A0[x0]!) * fx;
          const a1 = A1[x0]! + (A1[x1]! - A1[x0]!) * fx;
          const a2 = A2[x0]! + (A2[x1]! - A2[x0]!) * fx;
          const b = B[x0]! + (B[x1]! - B[x0]!) * fx;
          q[o + x] = b + a0 * G0[o + x]! + a1 * G1[o + x]! + a2 * G2[o + x]!;
        }
        continue;
      }
      for (let x = 0; x < w; x++) q[o + x] = B[i0[x]!]! + (B[i1[x]!]! - B[i0[x]!]!) * f[x]!;
      for (let a = 0; a < gc; a++) {
        const A = rows[base + a]!;
        const G = I[a]!;
        for (let x = 0; x < w; x++) q[o + x] = q[o + x]! + (A[i0[x]!]! + (A[i1[x]!]! - A[i0[x]!]!) * f[x]!) * G[o + x]!;
      }
    }
  }
  return out;
}

/** Mean over the (2r+1)² window clipped to the image, in O(1) per pixel (running sums). */
export class BoxFilter {
  private readonly row: Float32Array;
  private readonly acc: Float64Array;

  constructor(
    readonly width: number,
    readonly height: number,
    readonly radius: number,
  ) {
    this.row = new Float32Array(width * height);
    this.acc = new Float64Array(width);
  }

  /** `out` may be `src` itself. */
  mean(src: Float32Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
    const { width: w, height: h, radius: r, row: tmp, acc } = this;
    // Horizontal window means.
    for (let y = 0; y < h; y++) {
      const o = y * w;
      let s = 0;
      for (let x = 0; x < Math.min(r, w); x++) s += src[o + x]!;
      for (let x = 0; x < w; x++) {
        if (x + r < w) s += src[o + x + r]!;
        if (x - r - 1 >= 0) s -= src[o + x - r - 1]!;
        tmp[o + x] = s / (Math.min(w - 1, x + r) - Math.max(0, x - r) + 1);
      }
    }
    // Vertical window means of those, a whole row at a time (cache-friendly).
    acc.fill(0);
    for (let y = 0; y < Math.min(r, h); y++) for (let x = 0; x < w; x++) acc[x]! += tmp[y * w + x]!;
    for (let y = 0; y < h; y++) {
      if (y + r < h) for (let x = 0, o = (y + r) * w; x < w; x++) acc[x]! += tmp[o + x]!;
      if (y - r - 1 >= 0) for (let x = 0, o = (y - r - 1) * w; x < w; x++) acc[x]! -= tmp[o + x]!;
      const k = 1 / (Math.min(h - 1, y + r) - Math.max(0, y - r) + 1);
      for (let x = 0, o = y * w; x < w; x++) out[o + x] = acc[x]! * k;
    }
    return out;
  }
}
