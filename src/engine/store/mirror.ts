import { existsSync, statSync } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { sha256File } from './checksum.js';

/**
 * Where a model's files can come from besides their upstream URL: a mirror.
 *
 *  - A folder (`atelier models pull NAME --from DIR`, or `ATELIER_MODEL_MIRROR=DIR`): each file is
 *    found by its SHA-256 anywhere under DIR, whatever its name or folder there, so a copy laid
 *    out any way works (e.g. `../shared/weights`). Files are indexed by size first and only
 *    same-size candidates are hashed (name matches first), so a big folder costs one directory
 *    walk, not a hash of everything.
 *  - A URL (`ATELIER_MODEL_MIRROR=https://host/prefix`): each file is fetched from
 *    `<prefix>/<model name>/<relative path>`, the same layout as `$ATELIER_HOME/models/`, so
 *    serving one machine's models folder over HTTP makes it a mirror for others. Downloads from a
 *    URL mirror resume and are checked like upstream ones.
 */

export type ModelMirror = { kind: 'dir'; dir: string } | { kind: 'url'; base: string };

export const MIRROR_VARIABLE = 'ATELIER_MODEL_MIRROR';

/** Read a mirror given as a folder or an http(s) URL; a folder must exist. */
export function parseMirror(spec: string, origin = '--from'): ModelMirror {
  if (/^https?:\/\//i.test(spec)) {
    try {
      new URL(spec);
    } catch (e) {
      throw new AtelierError('E_PARAM', `The model mirror is not a valid URL`, { subject: origin, received: JSON.stringify(spec), cause: e });
    }
    return { kind: 'url', base: spec.replace(/\/+$/, '') };
  }
  const dir = path.resolve(spec);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new AtelierError('E_FILE_NOT_FOUND', `The model mirror folder does not exist`, {
      subject: origin,
      expected: 'a folder holding the model files (any layout) or an http(s) URL',
      received: dir,
    });
  }
  return { kind: 'dir', dir };
}

/** The mirror named by ATELIER_MODEL_MIRROR, if set. */
export function mirrorFromEnv(): ModelMirror | undefined {
  const spec = process.env[MIRROR_VARIABLE];
  return spec ? parseMirror(spec, MIRROR_VARIABLE) : undefined;
}

export function describeMirror(m: ModelMirror): string {
  return m.kind === 'dir' ? m.dir : m.base;
}

/** The URL of a model's file on a URL mirror. */
export function mirrorFileUrl(base: string, model: string, relative: string): string {
  return `${base}/${encodeURIComponent(model)}/${relative.split('/').map(encodeURIComponent).join('/')}`;
}

/** Guards against walking a whole disk by mistake. */
const MAX_MIRROR_ENTRIES = 200_000;

/** Digests already computed in this process, keyed by path and checked against size and mtime. */
const digestCache = new Map<string, { size: number; mtimeMs: number; sha256: string }>();

async function digestOf(file: string): Promise<string> {
  const s = await stat(file);
  const cached = digestCache.get(file);
  if (cached && cached.size === s.size && cached.mtimeMs === s.mtimeMs) return cached.sha256;
  const { sha256 } = await sha256File(file);
  digestCache.set(file, { size: s.size, mtimeMs: s.mtimeMs, sha256 });
  return sha256;
}

/** The regular files under a folder, grouped by size. Symlinked files count; symlinked folders are not followed (no loops). */
export class MirrorIndex {
  private constructor(
    readonly dir: string,
    private readonly bySize: Map<number, string[]>,
  ) {}

  static async build(dir: string): Promise<MirrorIndex> {
    const bySize = new Map<number, string[]>();
    let seen = 0;
    const walk = async (d: string): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(d);
      } catch {
        return; // an unreadable sub-folder holds nothing we can use
      }
      for (const name of names.sort()) {
        if (++seen > MAX_MIRROR_ENTRIES) {
          throw new AtelierError('E_PARAM', `The model mirror folder holds more than ${MAX_MIRROR_ENTRIES} entries`, {
            subject: dir,
            hint: 'point --from (or ATELIER_MODEL_MIRROR) at the folder that holds the weights, not a whole disk',
          });
        }
        const p = path.join(d, name);
        let s = await lstat(p).catch(() => undefined);
        if (s?.isSymbolicLink()) {
          const target = await stat(p).catch(() => undefined);
          s = target?.isFile() ? target : undefined;
        }
        if (!s) continue;
        if (s.isDirectory()) await walk(p);
        else if (s.isFile()) {
          const list = bySize.get(s.size);
          if (list) list.push(p);
          else bySize.set(s.size, [p]);
        }
      }
    };
    await walk(dir);
    return new MirrorIndex(dir, bySize);
  }

  /**
   * The path of a file with this size and SHA-256, or undefined. Candidates whose name equals
   * `nameHint` are hashed first: in a mirror laid out like upstream that is usually the one.
   */
  async find(size: number | null, sha256: string, nameHint?: string): Promise<string | undefined> {
    const candidates = size === null ? [...this.bySize.values()].flat() : (this.bySize.get(size) ?? []);
    const ordered = nameHint
      ? [...candidates.filter((p) => path.basename(p) === nameHint), ...candidates.filter((p) => path.basename(p) !== nameHint)]
      : candidates;
    for (const p of ordered) {
      if ((await digestOf(p).catch(() => undefined)) === sha256) return p;
    }
    return undefined;
  }
}
