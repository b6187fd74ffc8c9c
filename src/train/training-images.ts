import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { AtelierError } from '../core/errors.js';
import type { Image } from '../core/image.js';
import { readImage } from '../core/io.js';
import { resizeImage } from '../core/resample.js';
import type { Logger } from '../core/registry.js';
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

function scaledToShortSide(img: Image, shortSide: number): Image {
  const s = shortSide / Math.min(img.width, img.height);
  return resizeImage(img, Math.max(shortSide, Math.round(img.width * s)), Math.max(shortSide, Math.round(img.height * s)));
}

export class TrainingImages {
  private constructor(
    readonly files: string[],
    private readonly images: Image[],
    /** Files of the source that could not be decoded (`loadDomain` skips them), with the reason. */
    readonly skipped: { file: string; reason: string }[] = [],
  ) {}

  /** Decode every file and scale it so its short side is `shortSide` (at least the crop size). */
  static async load(files: string[], shortSide: number): Promise<TrainingImages> {
    const images: Image[] = [];
    for (const f of files) images.push(scaledToShortSide(await readImage(f, { name: f }), shortSide));
    return new TrainingImages(files, images);
  }

  /**
   * One image domain of an unpaired (GAN) training set: a folder of at least two images.
   * Unreadable files among good ones are skipped and reported through `log` (one bad download
   * should not end a long training); an empty folder, or one with fewer than two readable images,
   * is refused, since the networks learn the domain's distribution, not one picture.
   */
  static async loadDomain(source: string, domain: string, shortSide: number, log: Logger): Promise<TrainingImages> {
    let isFolder = false;
    try {
      isFolder = statSync(source).isDirectory();
    } catch (e) {
      throw new AtelierError('E_FILE_NOT_FOUND', `The folder of domain ${domain} does not exist: ${source}`, { subject: source, cause: e });
    }
    if (!isFolder) throw new AtelierError('E_PARAM', `Domain ${domain} must be a folder of images`, { subject: source, expected: 'a folder', received: 'a file' });
    let files: string[] = [];
    try {
      files = listTrainingImages(source, 'content', 'content');
    } catch (e) {
      if ((e as AtelierError).code !== 'E_INPUT_MISSING') throw e;
    }
    const images: Image[] = [];
    const kept: string[] = [];
    const skipped: { file: string; reason: string }[] = [];
    for (const f of files) {
      try {
        images.push(scaledToShortSide(await readImage(f, { name: f }), shortSide));
        kept.push(f);
      } catch (e) {
        skipped.push({ file: f, reason: (e as Error).message });
      }
    }
    if (skipped.length > 0) {
      log.warn(`domain ${domain}: skipped ${skipped.length} unreadable image${skipped.length > 1 ? 's' : ''} of ${files.length}: ${skipped.map((s) => `${path.basename(s.file)} (${s.reason})`).join('; ')}`);
    }
    if (images.length < 2) {
      throw new AtelierError('E_INPUT_MISSING', `Domain ${domain} has ${images.length === 0 ? 'no readable image' : 'only one readable image'}`, {
        subject: source,
        expected: 'a folder of at least 2 images (jpg, png, webp or tif) per domain',
        received: `${files.length} image file${files.length === 1 ? '' : 's'}, ${images.length} readable`,
        hint: 'unpaired training learns what a domain looks like: give it tens of images or more',
      });
    }
    return new TrainingImages(kept, images, skipped);
  }

  get count(): number {
    return this.images.length;
  }

  /** A random crop as `sample` does, mirrored left–right half of the time (the GAN recipes' flip). */
  sampleFlipped(rng: Rng, size: number): Float32Array {
    const crop = this.sample(rng, size);
    if (rng.next() < 0.5) return crop;
    const out = new Float32Array(crop.length);
    for (let row = 0; row < 3 * size; row++) {
      const at = row * size;
      for (let x = 0; x < size; x++) out[at + x] = crop[at + size - 1 - x]!;
    }
    return out;
  }


  /** A random `size` × `size` crop of a random image, planar RGB. */
  sample(rng: Rng, size: number): Float32Array {
    const img = this.images[rng.int(this.images.length)]!;
    const crop = img.crop(rng.int(img.width - size + 1), rng.int(img.height - size + 1), size, size);
    return crop.channels === 3 ? crop.data : Float32Array.from({ length: 3 * size * size }, (_, i) => crop.data[i % (size * size)]!);
  }
}
