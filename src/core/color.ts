import { AtelierError } from './errors.js';
import { Image } from './image.js';

/**
 * Colour-space conversions as plain functions over planar images. Lab uses the D65 white point
 * (CIE 1976, as scikit-image and OpenCV float paths do): L in [0, 100], a and b roughly ±110.
 */

function requireRgb(img: Image, what: string): void {
  if (img.channels !== 3) {
    throw new AtelierError('E_INTERNAL', `${what} needs an RGB image`, { received: `${img.channels} channels` });
  }
}

export function srgbToLinearValue(v: number): number {
  return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
}

export function linearToSrgbValue(v: number): number {
  return v <= 0.0031308 ? v * 12.92 : 1.055 * Math.pow(v, 1 / 2.4) - 0.055;
}

/** sRGB-encoded values → linear light, every channel. */
export function srgbToLinear(img: Image): Image {
  const out = img.emptyLike();
  const s = img.data;
  const d = out.data;
  for (let i = 0; i < s.length; i++) d[i] = srgbToLinearValue(s[i]!);
  return out;
}

/** Linear light → sRGB-encoded values, every channel. */
export function linearToSrgb(img: Image): Image {
  const out = img.emptyLike();
  const s = img.data;
  const d = out.data;
  for (let i = 0; i < s.length; i++) d[i] = linearToSrgbValue(s[i]!);
  return out;
}

// sRGB (D65) linear RGB → XYZ, and its inverse.
const M = [0.412453, 0.35758, 0.180423, 0.212671, 0.71516, 0.072169, 0.019334, 0.119193, 0.950227] as const;
const MI = [3.240481, -1.537151, -0.498536, -0.969256, 1.875991, 0.041556, 0.055647, -0.204043, 1.057311] as const;
const XN = 0.95047;
const YN = 1.0;
const ZN = 1.08883;
const EPS = 216 / 24389;
const KAPPA = 24389 / 27;

// A lookup table for the sRGB decode: the input grid is fine enough (1/65535) that
// linear interpolation error is far below float32 precision of the result.
const LUT_SIZE = 65536;
let decodeLut: Float32Array | undefined;
function decode(v: number): number {
  if (!(v > 0)) return v <= 0 ? v / 12.92 : 0;
  if (v >= 1) return srgbToLinearValue(v);
  decodeLut ??= buildDecodeLut();
  const x = v * (LUT_SIZE - 1);
  const i = x | 0;
  const f = x - i;
  return decodeLut[i]! + (decodeLut[i + 1]! - decodeLut[i]!) * f;
}
function buildDecodeLut(): Float32Array {
  const t = new Float32Array(LUT_SIZE + 1);
  for (let i = 0; i <= LUT_SIZE; i++) t[i] = srgbToLinearValue(Math.min(1, i / (LUT_SIZE - 1)));
  return t;
}

// Lookup tables for the sRGB encode and the cube root, as for the decode: interpolation error is
// below 1e-7 (the curvature peaks at the knee of each curve), under float32 precision of the result,
// and the conversions of a 4K image take a fraction of the time of Math.pow / Math.cbrt.
let encodeLut: Float32Array | undefined;
function encode(v: number): number {
  if (!(v > 0.0031308) || v >= 1) return linearToSrgbValue(v);
  encodeLut ??= buildLut((x) => linearToSrgbValue(x), 1);
  const x = v * (LUT_SIZE - 1);
  const i = x | 0;
  return encodeLut[i]! + (encodeLut[i + 1]! - encodeLut[i]!) * (x - i);
}
const CBRT_RANGE = 1.125;
let cbrtLut: Float32Array | undefined;
function buildLut(f: (x: number) => number, range: number): Float32Array {
  const t = new Float32Array(LUT_SIZE + 1);
  for (let i = 0; i <= LUT_SIZE; i++) t[i] = f((Math.min(i, LUT_SIZE - 1) / (LUT_SIZE - 1)) * range);
  return t;
}

function labF(t: number): number {
  if (!(t > EPS)) return (KAPPA * t + 16) / 116;
  if (t >= CBRT_RANGE) return Math.cbrt(t);
  cbrtLut ??= buildLut(Math.cbrt, CBRT_RANGE);
  const x = t * ((LUT_SIZE - 1) / CBRT_RANGE);
  const i = x | 0;
  return cbrtLut[i]! + (cbrtLut[i + 1]! - cbrtLut[i]!) * (x - i);
}

function labFInv(f: number): number {
  const f3 = f * f * f;
  return f3 > EPS ? f3 : (116 * f - 16) / KAPPA;
}

/** sRGB image → Lab planes (L, a, b). */
export function rgbToLab(img: Image): Image {
  requireRgb(img, 'rgbToLab');
  const out = img.emptyLike();
  const [r, g, b] = [img.plane(0), img.plane(1), img.plane(2)];
  const [L, A, B] = [out.plane(0), out.plane(1), out.plane(2)];
  for (let i = 0; i < img.pixels; i++) {
    const rl = decode(r[i]!);
    const gl = decode(g[i]!);
    const bl = decode(b[i]!);
    const fx = labF((M[0] * rl + M[1] * gl + M[2] * bl) / XN);
    const fy = labF((M[3] * rl + M[4] * gl + M[5] * bl) / YN);
    const fz = labF((M[6] * rl + M[7] * gl + M[8] * bl) / ZN);
    L[i] = 116 * fy - 16;
    A[i] = 500 * (fx - fy);
    B[i] = 200 * (fy - fz);
  }
  return out;
}

/** Lab planes → sRGB image (not clamped: out-of-gamut values survive for the caller to decide). */
export function labToRgb(lab: Image): Image {
  requireRgb(lab, 'labToRgb');
  const out = lab.emptyLike();
  const [L, A, B] = [lab.plane(0), lab.plane(1), lab.plane(2)];
  const [r, g, b] = [out.plane(0), out.plane(1), out.plane(2)];
  for (let i = 0; i < lab.pixels; i++) {
    const fy = (L[i]! + 16) / 116;
    const x = XN * labFInv(fy + A[i]! / 500);
    const y = YN * labFInv(fy);
    const z = ZN * labFInv(fy - B[i]! / 200);
    r[i] = encode(Math.max(0, MI[0] * x + MI[1] * y + MI[2] * z));
    g[i] = encode(Math.max(0, MI[3] * x + MI[4] * y + MI[5] * z));
    b[i] = encode(Math.max(0, MI[6] * x + MI[7] * y + MI[8] * z));
  }
  return out;
}

/** Relative luminance Y (linear light, Rec. 709 primaries) as a 1-channel image. */
export function luminance(img: Image): Image {
  if (img.channels === 1) return img;
  requireRgb(img, 'luminance');
  const out = img.emptyLike(1);
  const [r, g, b] = [img.plane(0), img.plane(1), img.plane(2)];
  const y = out.data;
  for (let i = 0; i < img.pixels; i++) y[i] = 0.2126 * decode(r[i]!) + 0.7152 * decode(g[i]!) + 0.0722 * decode(b[i]!);
  return out;
}

/** Luma Y′ (gamma-encoded values, Rec. 601 weights) as a 1-channel image. */
export function luma(img: Image): Image {
  if (img.channels === 1) return img;
  requireRgb(img, 'luma');
  const out = img.emptyLike(1);
  const [r, g, b] = [img.plane(0), img.plane(1), img.plane(2)];
  const y = out.data;
  for (let i = 0; i < img.pixels; i++) y[i] = 0.299 * r[i]! + 0.587 * g[i]! + 0.114 * b[i]!;
  return out;
}

// Ruderman et al.'s lαβ space as Reinhard et al. 2001 use it: LMS cone space, log10, decorrelated axes.
const RGB2LMS = [0.3811, 0.5783, 0.0402, 0.1967, 0.7244, 0.0782, 0.0241, 0.1288, 0.8444] as const;
// The paper prints the inverse to 4 decimals; the exact inverse keeps round trips lossless.
const LMS2RGB = invert3x3(RGB2LMS);
const LOG_FLOOR = 1e-6;

function invert3x3(m: readonly number[]): number[] {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [A, -(b * i - c * h), b * f - c * e, B, a * i - c * g, -(a * f - c * d), C, -(a * h - b * g), a * e - b * d].map((v) => v / det);
}

/** sRGB image → lαβ planes (Reinhard et al. 2001, applied to linear RGB). */
export function rgbToLalphaBeta(img: Image): Image {
  requireRgb(img, 'rgbToLalphaBeta');
  const out = img.emptyLike();
  const [r, g, b] = [img.plane(0), img.plane(1), img.plane(2)];
  const [l, al, be] = [out.plane(0), out.plane(1), out.plane(2)];
  const s3 = 1 / Math.sqrt(3);
  const s6 = 1 / Math.sqrt(6);
  const s2 = 1 / Math.sqrt(2);
  for (let i = 0; i < img.pixels; i++) {
    const rl = decode(r[i]!);
    const gl = decode(g[i]!);
    const bl = decode(b[i]!);
    const L = Math.log10(Math.max(LOG_FLOOR, RGB2LMS[0] * rl + RGB2LMS[1] * gl + RGB2LMS[2] * bl));
    const Mm = Math.log10(Math.max(LOG_FLOOR, RGB2LMS[3] * rl + RGB2LMS[4] * gl + RGB2LMS[5] * bl));
    const S = Math.log10(Math.max(LOG_FLOOR, RGB2LMS[6] * rl + RGB2LMS[7] * gl + RGB2LMS[8] * bl));
    l[i] = s3 * (L + Mm + S);
    al[i] = s6 * (L + Mm - 2 * S);
    be[i] = s2 * (L - Mm);
  }
  return out;
}

/** lαβ planes → sRGB image. */
export function lalphaBetaToRgb(lab: Image): Image {
  requireRgb(lab, 'lalphaBetaToRgb');
  const out = lab.emptyLike();
  const [l, al, be] = [lab.plane(0), lab.plane(1), lab.plane(2)];
  const [r, g, b] = [out.plane(0), out.plane(1), out.plane(2)];
  const s3 = Math.sqrt(3) / 3;
  const s6 = Math.sqrt(6) / 6;
  const s2 = Math.sqrt(2) / 2;
  for (let i = 0; i < lab.pixels; i++) {
    const a = s3 * l[i]!;
    const c = s6 * al[i]!;
    const d = s2 * be[i]!;
    const L = Math.pow(10, a + c + d);
    const Mm = Math.pow(10, a + c - d);
    const S = Math.pow(10, a - 2 * c);
    r[i] = linearToSrgbValue(Math.max(0, LMS2RGB[0] * L + LMS2RGB[1] * Mm + LMS2RGB[2] * S));
    g[i] = linearToSrgbValue(Math.max(0, LMS2RGB[3] * L + LMS2RGB[4] * Mm + LMS2RGB[5] * S));
    b[i] = linearToSrgbValue(Math.max(0, LMS2RGB[6] * L + LMS2RGB[7] * Mm + LMS2RGB[8] * S));
  }
  return out;
}
