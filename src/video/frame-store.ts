import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import { AtelierError, wrapError } from '../core/errors.js';

/**
 * The finished stylised frames of a run, kept on disk so that an interrupted run (Ctrl-C, a crash,
 * a full disk, a server restart) continues from the last finished frame with `--resume`. Frames are
 * stored in chunks (raw RGB, deflated), each written to a temporary name and renamed; the manifest
 * that lists them is replaced last, so whatever the manifest names is whole. With the frames goes
 * what the temporal stabiliser needs to carry on: the last result at full precision and its state.
 * The store belongs to one input, method, params and output size (its `key`); a resume against
 * anything else is refused.
 */

const FORMAT = 1;
/** Frames per chunk: a crash loses at most the chunk being filled (Ctrl-C flushes it). */
export const CHUNK_FRAMES = 16;

interface Manifest {
  format: number;
  key: string;
  width: number;
  height: number;
  chunks: { file: string; frames: number }[];
  state?: unknown;
}

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

/** A key that changes when anything that shapes the frames changes. */
export function storeKey(parts: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

export class FrameStore {
  private pending: Uint8Array[] = [];

  private constructor(
    readonly dir: string,
    private manifest: Manifest,
  ) {}

  /**
   * Open the store at `dir`: a fresh one, or with `resume` the one left by an interrupted run.
   * Without `resume` an existing store is an error unless `discard` (then it is replaced).
   */
  static async open(dir: string, key: string, width: number, height: number, opts: { resume: boolean; discard: boolean }): Promise<FrameStore> {
    const existing = await readManifest(dir);
    if (existing && opts.resume) {
      if (existing.key !== key || existing.width !== width || existing.height !== height) {
        throw new AtelierError('E_PARAM', 'The interrupted run that --resume found was made with other inputs or settings', {
          expected: 'the same input, style, method, params and --temporal as the run being resumed',
          received: `a different run's frames in ${dir}`,
          hint: 'run with the original settings, or without --resume (and with --force) to start over',
        });
      }
      return new FrameStore(dir, existing);
    }
    if (existing && !opts.discard) {
      throw new AtelierError('E_OUTPUT_EXISTS', `An interrupted run left ${existing.chunks.reduce((a, c) => a + c.frames, 0)} finished frames in ${dir}`, {
        hint: 'pass --resume to continue it, or --force to start over',
      });
    }
    // (`--resume` with nothing to resume starts from the first frame: the first try may have died at once.)
    await fs.rm(dir, { recursive: true, force: true });
    try {
      await fs.mkdir(dir, { recursive: true });
    } catch (e) {
      throw wrapError(e, 'E_OUTPUT_WRITE', `Cannot create the resume store ${JSON.stringify(dir)}`);
    }
    const store = new FrameStore(dir, { format: FORMAT, key, width, height, chunks: [] });
    await store.writeManifest();
    return store;
  }

  /** Frames finished and stored (pending ones included). */
  get frames(): number {
    return this.manifest.chunks.reduce((a, c) => a + c.frames, 0) + this.pending.length;
  }

  get state(): unknown {
    return this.manifest.state;
  }

  /** The stored frames in order (each a fresh buffer). */
  async *replay(): AsyncGenerator<Uint8Array> {
    const frameBytes = this.manifest.width * this.manifest.height * 3;
    for (const chunk of this.manifest.chunks) {
      const raw = await inflate(await fs.readFile(path.join(this.dir, chunk.file)));
      if (raw.length !== chunk.frames * frameBytes) {
        throw new AtelierError('E_IMAGE_DECODE', `The resume store ${this.dir} is damaged`, { hint: 'delete it and run without --resume' });
      }
      for (let k = 0; k < chunk.frames; k++) yield new Uint8Array(raw.buffer, raw.byteOffset + k * frameBytes, frameBytes).slice();
    }
    for (const f of this.pending) yield f;
  }

  /** The last result at full precision, if the store has one. */
  async lastResult(): Promise<Float32Array | undefined> {
    const bytes = await fs.readFile(path.join(this.dir, 'last.f32')).catch(() => undefined);
    return bytes && new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4).slice();
  }

  /** Add a finished frame; a full chunk is written (with the state that goes with it). */
  async add(rgb: Uint8Array, state: () => { last: Float32Array; state: unknown }): Promise<void> {
    this.pending.push(rgb);
    if (this.pending.length >= CHUNK_FRAMES) await this.flush(state());
  }

  /** Write the pending frames and the state now (a chunk may be short). */
  async flush(snapshot: { last: Float32Array; state: unknown } | undefined): Promise<void> {
    if (this.pending.length === 0) return;
    const frames = this.pending;
    const joined = Buffer.concat(frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength)));
    const file = `chunk-${String(this.manifest.chunks.length).padStart(6, '0')}.rgb.deflate`;
    await this.writeAtomic(file, await deflate(joined, { level: 1 }));
    if (snapshot) await this.writeAtomic('last.f32', Buffer.from(snapshot.last.buffer, snapshot.last.byteOffset, snapshot.last.byteLength));
    this.pending = [];
    this.manifest = { ...this.manifest, chunks: [...this.manifest.chunks, { file, frames: frames.length }], ...(snapshot && { state: snapshot.state }) };
    await this.writeManifest();
  }

  async remove(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
  }

  private async writeManifest(): Promise<void> {
    await this.writeAtomic('manifest.json', JSON.stringify(this.manifest));
  }

  private async writeAtomic(name: string, bytes: Uint8Array | string): Promise<void> {
    const tmp = path.join(this.dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await fs.writeFile(tmp, bytes);
      await fs.rename(tmp, path.join(this.dir, name));
    } catch (e) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      const full = (e as NodeJS.ErrnoException).code === 'ENOSPC';
      throw wrapError(e, 'E_OUTPUT_WRITE', `Cannot save finished frames in ${JSON.stringify(this.dir)}`, {
        hint: full ? 'the disk is full: free some space and run again with --resume' : 'check the directory is writable',
      });
    }
  }
}

async function readManifest(dir: string): Promise<Manifest | undefined> {
  const text = await fs.readFile(path.join(dir, 'manifest.json'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const m = JSON.parse(text) as Manifest;
    return m.format === FORMAT ? m : undefined;
  } catch {
    return undefined;
  }
}
