import type { CancelPacer } from '../../core/cancel-pacer.js';
import { Image } from '../../core/image.js';

/** Samples per chunk: a Lab conversion of 64 K samples is a few milliseconds. */
const CHUNK = 1 << 16;

/**
 * A pixelwise colour conversion (`rgbToLab`, `labToRgb`, …) over a 1-row sample image, chunk by
 * chunk, so that a run over millions of samples (an image off the 8-bit grid has one per pixel)
 * reports progress as it goes and gives the event loop a turn when `pacer` says so: a cancel lands
 * within one chunk. `done(n)` is told of each chunk's sample count. Pointwise, so the same values
 * as one call on the whole.
 */
export async function convertPaced(samples: Image, convert: (img: Image) => Image, pacer: CancelPacer, done: (n: number) => void): Promise<Image> {
  const count = samples.pixels;
  if (count <= CHUNK) {
    const out = convert(samples);
    done(count);
    return out;
  }
  const out = new Image(count, 1, samples.channels);
  for (let a = 0; a < count; a += CHUNK) {
    const len = Math.min(CHUNK, count - a);
    const part = new Image(len, 1, samples.channels);
    for (let c = 0; c < samples.channels; c++) part.plane(c).set(samples.plane(c).subarray(a, a + len));
    const converted = convert(part);
    for (let c = 0; c < samples.channels; c++) out.plane(c).set(converted.plane(c), a);
    done(len);
    if (pacer.due()) await pacer.pause();
  }
  return out;
}
