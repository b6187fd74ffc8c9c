import { AtelierError } from '../../../core/errors.js';
import type { Image } from '../../../core/image.js';
import { resizeImage } from '../../../core/resample.js';
import { CLIP_PIXEL_MEAN, CLIP_PIXEL_STD } from './config.js';

/**
 * An image as CLIP's image tower reads it (OpenAI's preprocessing): the short side resized to the
 * tower's input size, the centre square cropped, RGB normalised by CLIP's mean and std, planar
 * [3, S, S] (or, with `fit` 'stretch', the whole image resized to S×S). OpenAI resizes with a bicubic kernel; Atelier's resampler is an area-aware triangle
 * filter, so pixel values differ slightly (not the geometry). A grey image becomes RGB.
 */
export function clipImagePixels(image: Image, size: number, fit: 'crop' | 'stretch' = 'crop'): Float32Array {
  if (!Number.isInteger(size) || size < 1) throw new AtelierError('E_PARAM', 'CLIP input size must be a positive integer', { received: String(size) });
  let square: Image;
  if (fit === 'stretch') {
    // the whole image squeezed to the square (DEADiff's inference resizes the reference to 224² this way)
    square = resizeImage(image, size, size);
  } else {
    const scale = size / Math.min(image.width, image.height);
    const width = Math.max(size, Math.round(image.width * scale));
    const height = Math.max(size, Math.round(image.height * scale));
    square = resizeImage(image, width, height).crop(Math.floor((width - size) / 2), Math.floor((height - size) / 2), size, size);
  }
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++) {
    const plane = square.plane(Math.min(c, square.channels - 1));
    for (let i = 0; i < size * size; i++) out[c * size * size + i] = (plane[i]! - CLIP_PIXEL_MEAN[c]!) / CLIP_PIXEL_STD[c]!;
  }
  return out;
}
