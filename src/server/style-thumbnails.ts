import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AtelierError } from '../core/errors.js';
import { encodeImage, readImage, writeFileAtomic } from '../core/io.js';
import type { AnyMethod, StyleGalleryItem } from '../core/registry.js';
import { runMethod } from '../core/stylize.js';
import { modelStatus } from '../engine/store.js';
import { studioDir } from './routes/studio.js';

/**
 * Gallery pictures of styles that are networks of their own (neural.fast's per-style networks):
 * each installed network run on a content picture the project ships (the studio's generated
 * harbour, scripts/make-samples.mjs; never the dev data set), on demand, and kept under the
 * server's data folder. Nothing made from weights is part of the repository: a server renders the
 * pictures of the models it has. A picture is keyed by the method, the style, the model's install
 * (its record's digest and time: a reinstall renders again), the sample's bytes and RENDER, so a
 * stale one is never served. One render runs at a time on one thread (a page asking for twenty
 * pictures queues them instead of loading twenty networks at once); a second request for one
 * being rendered waits for it.
 */

/** Bump when the rendering below changes (size, quality, sample): older pictures are then not used. */
const RENDER = 1;
/** Largest side the network works at: large enough for its strokes to show, small enough to be quick. */
const SIDE = 320;
const SAMPLE = 'content-harbour.jpg';

/** The shipped sample: in the built studio, or in the source tree (tests, a server without a built studio). */
function sampleFile(): string | undefined {
  const studio = studioDir();
  const candidates = [...(studio ? [path.join(studio, 'samples', SAMPLE)] : []), fileURLToPath(new URL(`../../web/public/samples/${SAMPLE}`, import.meta.url))];
  return candidates.find((f) => existsSync(f));
}

export class StyleThumbnails {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly pending = new Map<string, Promise<Buffer>>();
  private sampleDigest?: string;

  constructor(private readonly dir: string) {}

  /** The JPEG of a gallery item that is a model of its own; E_WEIGHTS_MISSING when it is not installed. */
  async picture(def: AnyMethod, item: StyleGalleryItem & { model: string }): Promise<Buffer> {
    const status = modelStatus(item.model);
    if (!status.installed) {
      throw new AtelierError('E_WEIGHTS_MISSING', `The style "${item.label}" of ${def.id} is pictured once its model ${item.model} is installed`, {
        subject: item.model,
        hint: `install it from the studio's Models, or run \`atelier models pull ${item.model}\``,
      });
    }
    const sample = sampleFile();
    if (!sample) {
      throw new AtelierError('E_FILE_NOT_FOUND', `The sample picture ${SAMPLE} the gallery renders on is missing`, { hint: 'run `npm run build` (it copies web/public into dist/web)' });
    }
    this.sampleDigest ??= createHash('sha256').update(readFileSync(sample)).digest('hex');
    const stamp = `${status.record?.sha256 ?? ''}@${status.record?.installedAt ?? ''}`;
    const key = createHash('sha256').update(JSON.stringify([RENDER, def.id, def.styleGallery?.param, item.value, item.model, stamp, this.sampleDigest])).digest('hex').slice(0, 32);
    const file = path.join(this.dir, `${key}.jpg`);
    const cached = await readFile(file).catch(() => undefined);
    if (cached) return cached;
    let job = this.pending.get(key);
    if (!job) {
      job = this.render(def, item.value, sample, file);
      this.pending.set(key, job);
      void job.then(
        () => this.pending.delete(key),
        () => this.pending.delete(key),
      );
    }
    return job;
  }

  private render(def: AnyMethod, value: string | number, sample: string, file: string): Promise<Buffer> {
    const param = def.styleGallery!.param;
    const run = async () => {
      const content = await readImage(sample);
      const result = await runMethod(def, { content }, { [param]: value, maxSize: SIDE }, { threads: 1 });
      const bytes = await encodeImage(result.image, 'jpeg', { quality: 85 });
      await mkdir(this.dir, { recursive: true });
      await writeFileAtomic(file, bytes, { force: true });
      return bytes;
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => {});
    return next;
  }
}
