import { statSync } from 'node:fs';
import path from 'node:path';
import { AtelierError, isAtelierError } from '../core/errors.js';
import { toRgb, type Image } from '../core/image.js';
import { readImage } from '../core/io.js';
import { resizeImage } from '../core/resample.js';
import type { Logger } from '../core/registry.js';
import { listTrainingImages } from './training-images.js';

function isImageFile(source: string): boolean {
  try {
    return statSync(source).isFile() && !source.toLowerCase().endsWith('.json');
  } catch {
    return false;
  }
}

/**
 * The style images of a training run (one file, or a folder of 1 to ~20 paintings of one style), each scaled so its
 * short side is `shortSide` (their Gram matrices are the style target, so their scale sets the
 * size of the strokes learnt). A file that does not decode is skipped with a warning; a folder
 * with no readable image at all is refused, naming what it held.
 */
export async function loadStyleImages(source: string, shortSide: number, log: Logger): Promise<{ files: string[]; images: Image[] }> {
  let listed: string[];
  try {
    // One image file is a set of one (a folder is searched; a pairs.json lists its style side).
    listed = isImageFile(source) ? [source] : listTrainingImages(source, 'style', 'artistic');
  } catch (e) {
    if (isAtelierError(e) && e.code === 'E_INPUT_MISSING') {
      throw new AtelierError('E_INPUT_MISSING', `The style folder ${source} holds no image`, {
        subject: source,
        expected: 'at least one jpg, png, webp or tif style image',
        received: 'no file with an image extension',
        cause: e,
      });
    }
    throw e;
  }
  const files: string[] = [];
  const images: Image[] = [];
  const failures: string[] = [];
  for (const f of listed) {
    try {
      const img = await readImage(f, { name: f });
      const s = shortSide / Math.min(img.width, img.height);
      images.push(resizeImage(img.channels === 3 ? img : toRgb(img), Math.max(4, Math.round(img.width * s)), Math.max(4, Math.round(img.height * s))));
      files.push(f);
    } catch (e) {
      if (!isAtelierError(e)) throw e;
      failures.push(`${path.basename(f)} (${e.code})`);
      log.warn(`skipping style image ${f}: ${e.message}`);
    }
  }
  if (images.length === 0) {
    throw new AtelierError('E_INPUT_MISSING', `No readable style image in ${source}`, {
      subject: source,
      expected: 'at least one style image that decodes',
      received: `${listed.length} file${listed.length === 1 ? '' : 's'} that did not: ${failures.slice(0, 3).join(', ')}${failures.length > 3 ? ', …' : ''}`,
      hint: 'check the files open in an image viewer, or export them again as jpg or png',
    });
  }
  return { files, images };
}
