import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { AtelierError } from '../core/errors.js';
import type { Image } from '../core/image.js';
import { readImage } from '../core/io.js';
import { resizeImage } from '../core/resample.js';
import type { Rng } from '../core/rng.js';

/**
 * Image sets for training: a folder (searched recursively) or a pairs.json (`{"photoreal":
 * [{"content", "style"}…], "artistic": […]}`, paths relative to the file). Images are decoded once
 * and scaled so their short side is `shortSide`; samples are random square crops, as the reference
 * trainers do (resize, then random crop).
 */

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.bmp', '.avif']);

function listFolder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFolder(p));
    else if (IMAGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase())) out.push(p);
  }
  return out;
}

/** The image files of a folder, or of one side of a pairs.json's list for `group`. */
export function listTrainingImages(source: string, side: 'content' | 'style', group: string): string[] {
  let stat;
  try {
    stat = statSync(source);
  } catch (e) {
    throw new AtelierError('E_FILE_NOT_FOUND', `No training images at ${source}`, { subject: source, cause: e });
  }
  let files: string[];
  if (stat.isDirectory()) {
    files = listFolder(source);
  } else {
    const json = JSON.parse(readFileSync(source, 'utf8')) as Record<string, unknown>;
    const list = json[group];
    if (!Array.isArray(list)) {
      throw new AtelierError('E_PARAM', `${source} has no "${group}" list of pairs`, { expected: `{"${group}": [{"content": …, "style": …}]}` });
    }
    const base = path.dirname(source);
    files = [...new Set(list.map((p: Record<string, string>) => path.resolve(base, p[side]!)))];
  }
  if (files.length === 0) throw new AtelierError('E_INPUT_MISSING', `No ${side} images found in ${source}`, { expected: 'jpg, png, webp or tif files' });
  return files;
}

export class TrainingImages {
  private constructor(
    readonly files: string[],
    private readonly images: Image[],
  ) {}

  /** Decode every file and scale it so its short side is `shortSide` (at least the crop size). */
  static async load(files: string[], shortSide: number): Promise<TrainingImages> {
    const images: Image[] = [];
    for (const f of files) {
      const img = await readImage(f, { name: f });
      const s = shortSide / Math.min(img.width, img.height);
      images.push(resizeImage(img, Math.max(shortSide, Math.round(img.width * s)), Math.max(shortSide, Math.round(img.height * s))));
    }
    return new TrainingImages(files, images);
  }

  /** A random `size` × `size` crop of a random image, planar RGB. */
  sample(rng: Rng, size: number): Float32Array {
    const img = this.images[rng.int(this.images.length)]!;
    const crop = img.crop(rng.int(img.width - size + 1), rng.int(img.height - size + 1), size, size);
    return crop.channels === 3 ? crop.data : Float32Array.from({ length: 3 * size * size }, (_, i) => crop.data[i % (size * size)]!);
  }
}
