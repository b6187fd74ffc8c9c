import { createHash } from 'node:crypto';
import { mkdirSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../core/io.js';

/**
 * Content-addressed files: each distinct byte string is stored once, under its SHA-256, in
 * `<dataDir>/blobs/ab/abcdef…`. Jobs name their inputs and results by hash, so the same style
 * uploaded a hundred times takes the room of one. A blob goes when no job refers to it any more
 * (`sweep`, given the hashes still referred to).
 */

const HASH = /^[0-9a-f]{64}$/;

export class BlobStore {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'blobs');
    mkdirSync(this.dir, { recursive: true });
  }

  static hashOf(bytes: Uint8Array): string {
    return createHash('sha256').update(bytes).digest('hex');
  }

  pathOf(hash: string): string {
    if (!HASH.test(hash)) throw new Error(`not a blob hash: ${hash}`);
    return path.join(this.dir, hash.slice(0, 2), hash);
  }

  /** Store bytes (atomically; nothing if the same bytes are already there) and return their hash. */
  async put(bytes: Uint8Array): Promise<string> {
    const hash = BlobStore.hashOf(bytes);
    const file = this.pathOf(hash);
    const existing = await fs.stat(file).catch(() => undefined);
    if (existing?.size === bytes.length) return hash;
    await fs.mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, bytes, { force: true });
    return hash;
  }

  read(hash: string): Promise<Buffer> {
    return fs.readFile(this.pathOf(hash));
  }

  /** Every blob on disk with its size and age. */
  async list(): Promise<{ hash: string; bytes: number; mtimeMs: number }[]> {
    const out: { hash: string; bytes: number; mtimeMs: number }[] = [];
    for (const shard of await fs.readdir(this.dir).catch(() => [] as string[])) {
      const shardDir = path.join(this.dir, shard);
      for (const name of await fs.readdir(shardDir).catch(() => [] as string[])) {
        if (!HASH.test(name)) continue;
        const st = await fs.stat(path.join(shardDir, name)).catch(() => undefined);
        if (st) out.push({ hash: name, bytes: st.size, mtimeMs: st.mtimeMs });
      }
    }
    return out;
  }

  /**
   * Remove blobs no job refers to, and temporary files of interrupted writes. `graceMs` spares
   * blobs younger than that: a job being created writes its blobs before its record.
   */
  async sweep(referenced: Set<string>, graceMs: number): Promise<{ removed: number; bytes: number }> {
    let removed = 0;
    let bytes = 0;
    const now = Date.now();
    for (const b of await this.list()) {
      if (referenced.has(b.hash) || now - b.mtimeMs < graceMs) continue;
      await fs.rm(this.pathOf(b.hash), { force: true });
      removed++;
      bytes += b.bytes;
    }
    // Temp files of writes a kill interrupted (`.hash.PID.xxxx.tmp`), past the grace period.
    for (const shard of await fs.readdir(this.dir).catch(() => [] as string[])) {
      const shardDir = path.join(this.dir, shard);
      for (const name of await fs.readdir(shardDir).catch(() => [] as string[])) {
        if (!name.endsWith('.tmp')) continue;
        const st = await fs.stat(path.join(shardDir, name)).catch(() => undefined);
        if (st && now - st.mtimeMs >= graceMs) await fs.rm(path.join(shardDir, name), { force: true });
      }
    }
    return { removed, bytes };
  }
}
