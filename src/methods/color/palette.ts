import { Image } from '../../core/image.js';

/**
 * Every method of this family is a pointwise colour map fitted to colour statistics, so it can
 * work on an image's distinct colours, weighted by how often each occurs, instead of on every
 * pixel. A 4K photograph (8.3 M pixels, 8 bits per channel) has a few hundred thousand distinct
 * colours: Lab conversions, statistics and sorts get 10–50× cheaper, with identical results.
 * Images not on the 8-bit grid (16-bit sources, results of earlier float processing) fall back to
 * one sample per pixel.
 */
export interface ColorSamples {
  /** The sample colours as a 1-row image (RGB, like the source). */
  colors: Image;
  /** How many pixels each sample stands for; undefined: one each. */
  weights?: Float64Array;
  /** For each pixel of the subset (or image), its sample; undefined: sample k is pixel k. */
  index?: Int32Array;
}

const GRID = 255;
const GRID_SLACK = 0.02;

/** The distinct colours of `img` over `pixels` (or all of it). */
export function colorSamples(img: Image, pixels?: Int32Array): ColorSamples {
  const n = pixels ? pixels.length : img.pixels;
  const [r, g, b] = [img.plane(0), img.plane(1), img.plane(2)];
  const index = new Int32Array(n);
  // Pass 1: 24-bit keys, or give up at the first value off the 8-bit grid.
  for (let k = 0; k < n; k++) {
    const i = pixels ? pixels[k]! : k;
    const qr = r[i]! * GRID;
    const qg = g[i]! * GRID;
    const qb = b[i]! * GRID;
    const kr = Math.round(qr);
    const kg = Math.round(qg);
    const kb = Math.round(qb);
    if (
      !(kr >= 0 && kr <= GRID && kg >= 0 && kg <= GRID && kb >= 0 && kb <= GRID) ||
      Math.abs(qr - kr) > GRID_SLACK ||
      Math.abs(qg - kg) > GRID_SLACK ||
      Math.abs(qb - kb) > GRID_SLACK
    ) {
      return pixelSamples(img, pixels);
    }
    index[k] = (kr << 16) | (kg << 8) | kb;
  }
  // Pass 2: number the distinct keys in order of first appearance and count them.
  const slots = new SlotTable(n);
  const firstPixel: number[] = [];
  const counts: number[] = [];
  for (let k = 0; k < n; k++) {
    let s = slots.get(index[k]!, firstPixel.length);
    if (s === firstPixel.length) {
      firstPixel.push(pixels ? pixels[k]! : k);
      counts.push(0);
    }
    counts[s]!++;
    index[k] = s;
  }
  const count = firstPixel.length;
  const colors = new Image(count, 1, 3);
  const [cr, cg, cb] = [colors.plane(0), colors.plane(1), colors.plane(2)];
  for (let s = 0; s < count; s++) {
    const i = firstPixel[s]!;
    cr[s] = r[i]!;
    cg[s] = g[i]!;
    cb[s] = b[i]!;
  }
  return { colors, weights: Float64Array.from(counts), index };
}

/**
 * Maps 24-bit colour keys to sample numbers: a direct table for big images, an open-addressing
 * hash (linear probing) sized to the pixel count for small ones, where zeroing 64 MB would cost
 * more than the whole method.
 */
class SlotTable {
  private readonly direct?: Int32Array;
  private readonly keys?: Int32Array;
  private readonly values?: Int32Array;
  private readonly shift: number = 0;
  private readonly mask: number = 0;

  constructor(pixels: number) {
    if (pixels >= 1 << 21) {
      this.direct = new Int32Array(1 << 24).fill(-1);
      return;
    }
    const bits = Math.max(4, Math.ceil(Math.log2(2 * pixels + 1)));
    this.keys = new Int32Array(1 << bits).fill(-1);
    this.values = new Int32Array(1 << bits);
    this.shift = 32 - bits;
    this.mask = (1 << bits) - 1;
  }

  /** The slot of `key`, or `next` (now assigned to it) when it is new. */
  get(key: number, next: number): number {
    const direct = this.direct;
    if (direct) {
      const s = direct[key]!;
      if (s >= 0) return s;
      direct[key] = next;
      return next;
    }
    const keys = this.keys!;
    for (let h = Math.imul(key, 0x9e3779b1) >>> this.shift; ; h = (h + 1) & this.mask) {
      const k = keys[h]!;
      if (k === key) return this.values![h]!;
      if (k === -1) {
        keys[h] = key;
        this.values![h] = next;
        return next;
      }
    }
  }
}

/** One sample per pixel of the subset (a copy): for values off the 8-bit grid, or when a method wants it. */
export function pixelSamples(img: Image, pixels?: Int32Array): ColorSamples {
  if (!pixels) return { colors: new Image(img.pixels, 1, img.channels, img.data.slice()) };
  const colors = new Image(pixels.length, 1, img.channels);
  for (let c = 0; c < img.channels; c++) {
    const src = img.plane(c);
    const dst = colors.plane(c);
    for (let k = 0; k < pixels.length; k++) dst[k] = src[pixels[k]!]!;
  }
  return { colors };
}

/** Paint the mapped sample colours back onto `out` over `pixels` (or all of it). */
export function paintSamples(out: Image, pixels: Int32Array | undefined, samples: ColorSamples, mapped: Image): void {
  const { index } = samples;
  if (out.channels !== 3 || (!pixels && !index)) {
    for (let c = 0; c < out.channels; c++) {
      const src = mapped.plane(c);
      const dst = out.plane(c);
      if (!pixels && !index) dst.set(src);
      else for (let k = 0; k < (pixels ? pixels.length : out.pixels); k++) dst[pixels ? pixels[k]! : k] = src[index ? index[k]! : k]!;
    }
    return;
  }
  // Pixel-major: one index read serves the three channels.
  const [s0, s1, s2] = [mapped.plane(0), mapped.plane(1), mapped.plane(2)];
  const [d0, d1, d2] = [out.plane(0), out.plane(1), out.plane(2)];
  const n = pixels ? pixels.length : out.pixels;
  for (let k = 0; k < n; k++) {
    const i = pixels ? pixels[k]! : k;
    const s = index ? index[k]! : k;
    d0[i] = s0[s]!;
    d1[i] = s1[s]!;
    d2[i] = s2[s]!;
  }
}
