import { z } from 'zod';
import { luma } from '../core/color.js';
import type { Image } from '../core/image.js';
import { resizeImage } from '../core/resample.js';
import { gaussianBlur } from './gaussian.js';

/**
 * How an optional style image steers the size of a filter's strokes and textures. The style's
 * characteristic scale is where the energy of its luma lies in a difference-of-Gaussians scale
 * space (the band-pass pyramid of Burt & Adelson 1983; the scale-space view of Lindeberg 1998):
 * the energy-weighted geometric mean of the band scales. It is measured on the style brought to a
 * fixed working size, so it is a fraction of the style's long side and does not depend on the
 * style's resolution. Broad brush marks and large shapes put their energy in coarse bands, fine
 * texture in fine ones; a photograph, whose spectrum falls as 1/f, spreads it evenly over octaves,
 * which is where `TYPICAL_SCALE` sits.
 *
 * Size parameters a style may drive are optional in the schema: when the user leaves one out it is
 * its default times the style's factor; when the user gives one it is used as given.
 */

/** Long side, in pixels, the style is measured at. */
const WORK_SIDE = 256;
/** Band edges σ, in working pixels: half-octave steps from 1 to 32 px (0.4 % to 12.5 % of the long side). */
const SIGMAS = Array.from({ length: 11 }, (_, i) => 2 ** (i / 2));
/** The first band is the raw luma minus its σ = 1 blur, nominally at σ = 0.5. */
const FINEST = 0.5;

/** The scale (% of the long side) an image with equal energy in every band (1/f spectrum) measures. */
export const TYPICAL_SCALE = (100 * Math.sqrt(FINEST * SIGMAS[SIGMAS.length - 1]!)) / WORK_SIDE;
/**
 * Sizes follow the square root of the style's scale relative to the typical one: the dev styles
 * (bricks, small circles, pen lines … large cubist shapes, blotted washes) measure 0.4–2.5 %, and the
 * square root turns that into brushes about half to one and a half times the defaults, so a style
 * shifts the look without overriding the filter's character. Bounded, so sizes stay sane.
 */
const FACTOR_RANGE: [number, number] = [0.4, 2.5];

export interface StyleScale {
  /** Characteristic scale, % of the style's long side. */
  percent: number;
  /** What the default sizes are multiplied by: √(percent ÷ TYPICAL_SCALE), clamped to [0.4, 2.5]. */
  factor: number;
}

/** The characteristic scale of an image's structure; undefined for a flat image (no structure). */
export function structureScale(img: Image): number | undefined {
  const long = Math.max(img.width, img.height);
  const w = Math.max(1, Math.round((img.width * WORK_SIDE) / long));
  const h = Math.max(1, Math.round((img.height * WORK_SIDE) / long));
  const y = resizeImage(luma(img), w, h).data;
  let previous: Float32Array = y;
  let weighted = 0;
  let total = 0;
  for (let i = 0; i < SIGMAS.length; i++) {
    const blurred = gaussianBlur(y, w, h, SIGMAS[i]!);
    let energy = 0;
    for (let j = 0; j < blurred.length; j++) {
      const d = previous[j]! - blurred[j]!;
      energy += d * d;
    }
    const centre = i === 0 ? Math.sqrt(FINEST * SIGMAS[0]!) : Math.sqrt(SIGMAS[i - 1]! * SIGMAS[i]!);
    weighted += energy * Math.log(centre);
    total += energy;
    previous = blurred;
  }
  if (!(total > 1e-9 * w * h)) return undefined;
  return (100 * Math.exp(weighted / total)) / WORK_SIDE;
}

/** The style's scale and the factor it puts on size defaults; factor 1 without a style or on a flat one. */
export function styleScale(style: Image | undefined): StyleScale | undefined {
  if (!style) return undefined;
  const percent = structureScale(style);
  if (percent === undefined) return undefined;
  const [lo, hi] = FACTOR_RANGE;
  return { percent, factor: Math.min(hi, Math.max(lo, Math.sqrt(percent / TYPICAL_SCALE))) };
}

/**
 * A size parameter (% of the long side) that a style image may scale: optional, so that leaving it
 * out (style-driven) can be told from giving it (used as given). Its default is metadata only (the
 * JSON schema, help and the studio show it); parsing leaves an absent value undefined.
 */
export function styleSizedParam(defaultPercent: number, min: number, max: number, description: string) {
  return z
    .number()
    .min(min)
    .max(max)
    .optional()
    .meta({ default: defaultPercent })
    .describe(`${description} (left out: the default, scaled to the style image's stroke size when one is given)`);
}

/** The size to use: the user's, else the default times the style's factor. */
export function styledSize(given: number | undefined, defaultPercent: number, scale: StyleScale | undefined): number {
  return given ?? defaultPercent * (scale?.factor ?? 1);
}
