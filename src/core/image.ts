import { AtelierError } from './errors.js';

/**
 * A raster image: planar (CHW) float32 samples in [0, 1], sRGB-encoded values.
 * `channels` is 3 for colour and 1 for greyscale planes (masks, luminance, edge maps).
 * Alpha is never a fourth channel: it rides along in `alpha` and is restored on write.
 */
export class Image {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  readonly data: Float32Array;
  alpha?: Float32Array;

  constructor(width: number, height: number, channels: number, data?: Float32Array, alpha?: Float32Array) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
      throw new AtelierError('E_IMAGE_EMPTY', 'An image needs a positive integer width and height', {
        received: `${width}×${height}`,
      });
    }
    if (!Number.isInteger(channels) || channels < 1) {
      throw new AtelierError('E_INTERNAL', 'An image needs at least one channel', { received: String(channels) });
    }
    const size = width * height * channels;
    if (data && data.length !== size) {
      throw new AtelierError('E_INTERNAL', 'Image data length does not match its shape', {
        expected: `${size} samples (${channels}×${height}×${width})`,
        received: `${data.length}`,
      });
    }
    if (alpha && alpha.length !== width * height) {
      throw new AtelierError('E_INTERNAL', 'Alpha plane length does not match the image', {
        expected: `${width * height}`,
        received: `${alpha.length}`,
      });
    }
    this.width = width;
    this.height = height;
    this.channels = channels;
    this.data = data ?? new Float32Array(size);
    this.alpha = alpha;
  }

  get pixels(): number {
    return this.width * this.height;
  }

  /** A view (no copy) of channel `c`. */
  plane(c: number): Float32Array {
    const n = this.pixels;
    return this.data.subarray(c * n, (c + 1) * n);
  }

  clone(): Image {
    return new Image(this.width, this.height, this.channels, this.data.slice(), this.alpha?.slice());
  }

  /** Same shape, fresh zeroed data; alpha is shared by reference (it is never mutated in place). */
  emptyLike(channels = this.channels): Image {
    return new Image(this.width, this.height, channels, undefined, this.alpha);
  }

  sameSize(other: { width: number; height: number }): boolean {
    return this.width === other.width && this.height === other.height;
  }

  /** Sample value at (x, y) of channel c, with coordinates clamped to the border. */
  at(c: number, x: number, y: number): number {
    const xi = x < 0 ? 0 : x >= this.width ? this.width - 1 : x;
    const yi = y < 0 ? 0 : y >= this.height ? this.height - 1 : y;
    return this.data[c * this.pixels + yi * this.width + xi]!;
  }

  /** A copy of the rectangle at (x, y) of size w × h (alpha included). */
  crop(x: number, y: number, w: number, h: number): Image {
    if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > this.width || y + h > this.height) {
      throw new AtelierError('E_INTERNAL', 'Crop rectangle outside the image', {
        expected: `inside ${this.width}×${this.height}`,
        received: `${w}×${h} at (${x}, ${y})`,
      });
    }
    const out = new Image(w, h, this.channels, undefined, this.alpha ? new Float32Array(w * h) : undefined);
    const copyRows = (src: Float32Array, dst: Float32Array) => {
      for (let r = 0; r < h; r++) dst.set(src.subarray((y + r) * this.width + x, (y + r) * this.width + x + w), r * w);
    };
    for (let c = 0; c < this.channels; c++) copyRows(this.plane(c), out.plane(c));
    if (this.alpha && out.alpha) copyRows(this.alpha, out.alpha);
    return out;
  }

  static fromPlanes(width: number, height: number, planes: Float32Array[], alpha?: Float32Array): Image {
    const img = new Image(width, height, planes.length, undefined, alpha);
    planes.forEach((p, c) => img.data.set(p, c * width * height));
    return img;
  }

  /** Build from interleaved samples (HWC), e.g. raw sharp output, scaled by 1/maxValue. */
  static fromInterleaved(
    width: number,
    height: number,
    channels: number,
    samples: ArrayLike<number>,
    maxValue: number,
  ): Image {
    const img = new Image(width, height, channels);
    const n = width * height;
    const scale = 1 / maxValue;
    const out = img.data;
    for (let c = 0; c < channels; c++) {
      const base = c * n;
      for (let i = 0, j = c; i < n; i++, j += channels) out[base + i] = samples[j]! * scale;
    }
    return img;
  }

  /** Interleaved (HWC) samples scaled to [0, maxValue], rounded, with alpha appended when present. */
  toInterleaved(maxValue: 255): Uint8Array;
  toInterleaved(maxValue: 65535): Uint16Array;
  toInterleaved(maxValue: 255 | 65535): Uint8Array | Uint16Array {
    const n = this.pixels;
    const outChannels = this.channels + (this.alpha ? 1 : 0);
    const out = maxValue === 255 ? new Uint8Array(n * outChannels) : new Uint16Array(n * outChannels);
    const planes = [...Array.from({ length: this.channels }, (_, c) => this.plane(c)), ...(this.alpha ? [this.alpha] : [])];
    planes.forEach((p, c) => {
      for (let i = 0, j = c; i < n; i++, j += outChannels) {
        const v = p[i]!;
        // NaN becomes 0: a broken sample must not poison the encoder.
        out[j] = v > 0 ? (v < 1 ? Math.round(v * maxValue) : maxValue) : 0;
      }
    });
    return out;
  }
}

/** Clamp every sample into [0, 1] in place and return the image. */
export function clampImage(img: Image): Image {
  const d = img.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    d[i] = v > 0 ? (v < 1 ? v : 1) : 0;
  }
  return img;
}

/**
 * Clamp every sample into [0, 1] in place, in the same pass checking that all were finite.
 * Returns false if any sample was NaN or ±Infinity (those are set to 0).
 */
export function clampFinite(img: Image): boolean {
  const d = img.data;
  let finite = true;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (v >= 0 && v <= 1) continue;
    if (v !== v || v === Infinity || v === -Infinity) finite = false;
    d[i] = v > 1 ? 1 : 0;
  }
  return finite;
}

/** A 3-channel copy of a 1- or 3-channel image. */
export function toRgb(img: Image): Image {
  if (img.channels === 3) return img;
  if (img.channels !== 1) {
    throw new AtelierError('E_INTERNAL', 'toRgb needs a 1- or 3-channel image', { received: `${img.channels} channels` });
  }
  const p = img.plane(0);
  return Image.fromPlanes(img.width, img.height, [p, p, p], img.alpha);
}

/** Per-pixel linear blend a·(1−t) + b·t where t is a scalar or a per-pixel weight plane. */
export function blendImages(a: Image, b: Image, t: number | Float32Array): Image {
  if (!a.sameSize(b) || a.channels !== b.channels) {
    throw new AtelierError('E_INTERNAL', 'blendImages needs images of one shape', {
      received: `${a.width}×${a.height}×${a.channels} and ${b.width}×${b.height}×${b.channels}`,
    });
  }
  const out = a.emptyLike();
  const n = a.pixels;
  for (let c = 0; c < a.channels; c++) {
    const pa = a.plane(c);
    const pb = b.plane(c);
    const po = out.plane(c);
    if (typeof t === 'number') {
      for (let i = 0; i < n; i++) po[i] = pa[i]! + (pb[i]! - pa[i]!) * t;
    } else {
      for (let i = 0; i < n; i++) po[i] = pa[i]! + (pb[i]! - pa[i]!) * t[i]!;
    }
  }
  return out;
}
