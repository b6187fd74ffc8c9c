import { AtelierError } from './errors.js';
import { Image } from './image.js';

/**
 * Separable resampling with a triangle (bilinear) kernel widened by the scale factor when
 * shrinking, so downscales average every source pixel (no aliasing) and upscales interpolate.
 * Float in, float out: sharp would quantise to 8 or 16 bits on the way.
 */

interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  stride: number;
}

function computeTaps(src: number, dst: number): Taps {
  const scale = src / dst;
  const support = Math.max(1, scale);
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(dst);
  const count = new Int32Array(dst);
  const weights = new Float32Array(dst * stride);
  for (let o = 0; o < dst; o++) {
    const centre = (o + 0.5) * scale - 0.5;
    const lo = Math.max(0, Math.ceil(centre - support));
    const hi = Math.min(src - 1, Math.floor(centre + support));
    let sum = 0;
    let n = 0;
    for (let i = lo; i <= hi && n < stride; i++, n++) {
      const w = Math.max(0, 1 - Math.abs(i - centre) / support);
      weights[o * stride + n] = w;
      sum += w;
    }
    if (sum === 0) {
      // Centre fell between taps at the border: take the nearest sample.
      const nearest = Math.min(src - 1, Math.max(0, Math.round(centre)));
      start[o] = nearest;
      count[o] = 1;
      weights[o * stride] = 1;
      continue;
    }
    for (let k = 0; k < n; k++) weights[o * stride + k]! /= sum;
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weights, stride };
}

function resamplePlane(src: Float32Array, sw: number, sh: number, dw: number, dh: number, tx: Taps, ty: Taps): Float32Array {
  // Horizontal pass into an sh × dw buffer, then vertical into dh × dw.
  const tmp = new Float32Array(sh * dw);
  for (let y = 0; y < sh; y++) {
    const row = y * sw;
    for (let x = 0; x < dw; x++) {
      const s = tx.start[x]!;
      const c = tx.count[x]!;
      const wo = x * tx.stride;
      let acc = 0;
      for (let k = 0; k < c; k++) acc += src[row + s + k]! * tx.weights[wo + k]!;
      tmp[y * dw + x] = acc;
    }
  }
  const out = new Float32Array(dh * dw);
  for (let y = 0; y < dh; y++) {
    const s = ty.start[y]!;
    const c = ty.count[y]!;
    const wo = y * ty.stride;
    const orow = y * dw;
    for (let k = 0; k < c; k++) {
      const w = ty.weights[wo + k]!;
      const irow = (s + k) * dw;
      for (let x = 0; x < dw; x++) out[orow + x]! += tmp[irow + x]! * w;
    }
  }
  return out;
}

/** Resize every channel (and alpha) to width × height. */
export function resizeImage(img: Image, width: number, height: number): Image {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new AtelierError('E_PARAM', 'Cannot resize to that size', {
      expected: 'positive integer width and height',
      received: `${width}×${height}`,
    });
  }
  if (width === img.width && height === img.height) return img;
  const tx = computeTaps(img.width, width);
  const ty = computeTaps(img.height, height);
  const planes = Array.from({ length: img.channels }, (_, c) =>
    resamplePlane(img.plane(c), img.width, img.height, width, height, tx, ty),
  );
  const alpha = img.alpha ? resamplePlane(img.alpha, img.width, img.height, width, height, tx, ty) : undefined;
  return Image.fromPlanes(width, height, planes, alpha);
}

/** The size that fits `maxSide` on the long edge, keeping aspect ratio; unchanged if already small enough. */
export function fitWithin(width: number, height: number, maxSide: number | undefined): { width: number; height: number } {
  if (maxSide === undefined || Math.max(width, height) <= maxSide) return { width, height };
  const s = maxSide / Math.max(width, height);
  return { width: Math.max(1, Math.round(width * s)), height: Math.max(1, Math.round(height * s)) };
}

/** Resize so the long edge is at most `maxSide`. */
export function limitSize(img: Image, maxSide: number | undefined): Image {
  const { width, height } = fitWithin(img.width, img.height, maxSide);
  return resizeImage(img, width, height);
}
