import { throwIfAborted } from '../../core/errors.js';
import { Image } from '../../core/image.js';
import type { Progress } from '../../core/progress.js';

/**
 * Run a neighbourhood filter over horizontal strips with overlapping margins, so that its
 * intermediate planes (tensors, blurs, sector sums) never exist at full size: an 8000×6000 input
 * costs the input, the output and one strip's working set. Strips are cut from full rows, so a
 * filter sees its true left and right borders; `top` tells it where the strip sits (for textures
 * generated from absolute coordinates, which then join without seams).
 */

/** Working-set size of one strip, in pixels (before margins). */
export const STRIP_PIXELS = 1 << 21;

export interface StripFilter {
  (tile: Image, top: number): Image;
}

export function mapStrips(
  img: Image,
  margin: number,
  outChannels: number,
  filter: StripFilter,
  options: { signal?: AbortSignal; progress?: Progress; stripPixels?: number } = {},
): Image {
  const { width, height } = img;
  const stripRows = Math.max(16, Math.floor((options.stripPixels ?? STRIP_PIXELS) / width));
  if (stripRows >= height) {
    const out = filter(img, 0);
    options.progress?.step(1, 1);
    return out;
  }
  const m = Math.ceil(margin);
  const out = new Image(width, height, outChannels, undefined, img.alpha);
  const count = Math.ceil(height / stripRows);
  for (let s = 0; s < count; s++) {
    throwIfAborted(options.signal);
    const y0 = s * stripRows;
    const y1 = Math.min(height, y0 + stripRows);
    const top = Math.max(0, y0 - m);
    const bottom = Math.min(height, y1 + m);
    const tile = img.crop(0, top, width, bottom - top);
    tile.alpha = undefined;
    const res = filter(tile, top);
    for (let c = 0; c < outChannels; c++) {
      out.plane(c).set(res.plane(c).subarray((y0 - top) * width, (y1 - top) * width), y0 * width);
    }
    options.progress?.step(s + 1, count);
  }
  return out;
}
