import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { parseSafetensorsHeader } from '../weights/safetensors.js';
import { makeRecord } from './install-record.js';
import type { ModelEntry, TrainedInfo } from './manifest.js';
import { readTrainedEntries, TRAINED_ENTRY, TRAINED_NAME, trainedEntry } from './trained-entry.js';

/**
 * Models trained by the CLI before the store had one place for models made here lived in
 * `<atelier home>/trained/<kind>/NAME.safetensors`. The first time the store is read after an
 * update, each such file becomes `models/NAME/` with its `trained.json` (kind, how it was made,
 * read from the file's own metadata), and only once that folder is in place is the old file
 * deleted: a crash at any point leaves the model in one of the two places, never in neither, and
 * the next run finishes the move (a folder already holding that very file just lets the old copy
 * go).
 *
 * Names: the old store allowed capitals and dots, the new one does not (a dotted name reads as a
 * file over the API). Such a name, or one another model already has, moves under a free variant
 * (`Udnie.v2` → `udnie-v2`, then `udnie-v2-fast`, `udnie-v2-fast-2`, …) and keeps the old one as
 * `formerName`, by which methods still find it.
 */

const LEGACY_DIR = 'trained';

/** What each old kind of file was made by and which method runs it. */
function provenanceOf(kind: string, metadata: Record<string, string>): { trainer: string; use?: TrainedInfo['use']; description: string } {
  switch (kind) {
    case 'fast':
      return metadata.lora
        ? { trainer: 'lora-merge', use: { method: 'neural.fast', param: 'model' }, description: `fast network: ${metadata.base ?? '?'} with LoRA ${metadata.lora} merged` }
        : { trainer: 'fast', use: { method: 'neural.fast', param: 'model' }, description: `fast network trained on ${metadata.styles ? metadata.styles.split(',').map((s) => path.basename(s)).join(', ') : 'a style'}` };
    case 'multistyle':
      return { trainer: 'multistyle-style', use: { method: 'neural.multistyle', param: 'added', params: { style: 26 } }, description: 'style added to the 26-style network' };
    case 'lora':
      return {
        trainer: 'lora',
        ...(metadata.base && { use: { method: 'neural.fast', param: 'lora', params: { model: metadata.base } } }),
        description: `LoRA adapter for ${metadata.base ?? '?'}: rank ${metadata.rank ?? '?'}, α ${metadata.alpha ?? '?'}`,
      };
    case 'cyclegan':
      return { trainer: 'cyclegan', use: { method: 'neural.cyclegan', param: 'model' }, description: `CycleGAN generators ${metadata.a ?? 'A'} ↔ ${metadata.b ?? 'B'}` };
    case 'stargan': {
      const domains = (metadata.domains ?? '').split(',').filter(Boolean);
      return {
        trainer: 'stargan',
        use: { method: 'neural.stargan', param: 'model', ...(domains[1] && { params: { domain: domains[1] } }) },
        description: `StarGAN generator over ${domains.join(', ') || 'its domains'}`,
      };
    }
    default:
      return { trainer: kind, description: `${kind} network trained here` };
  }
}

/** A legal store name for an old one: lowercase, runs of anything else as one dash. */
function storeNameOf(name: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 56).replace(/-+$/, '');
  return slug || 'model';
}

function* candidates(name: string, kind: string): Generator<string> {
  const base = storeNameOf(name);
  yield base;
  const kinded = `${base}-${storeNameOf(kind)}`.slice(0, 60);
  yield kinded;
  for (let i = 2; i < 1000; i++) yield `${kinded}-${i}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One process moves at a time; a lock left by a dead one is taken over. False: another live one is at it. */
function takeLock(file: string): boolean {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return false;
      let owner = NaN;
      try {
        owner = Number(readFileSync(file, 'utf8').trim());
      } catch {
        // vanished meanwhile: try again
      }
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) return false;
      rmSync(file, { force: true });
    }
  }
  return false;
}

/** Files that failed to move in this process (unreadable, disk full): tried once per process, reported by `legacyTrainedLeft`. */
const failed = new Map<string, string>();

export interface LegacyMove {
  from: string;
  name: string;
  kind: string;
}

/**
 * Move every old trained file under `home` into `modelsRoot` (see above). `taken` says whether a
 * name is published (never given to a trained model). Returns what moved. Cheap when there is
 * nothing to move: one `existsSync`.
 */
export function migrateLegacyTrainedModels(home: string, modelsRoot: string, taken: (name: string) => boolean): LegacyMove[] {
  const root = path.join(home, LEGACY_DIR);
  if (!existsSync(root)) return [];
  const files = legacyFiles(root).filter((f) => !failed.has(f.file));
  if (files.length === 0) return [];
  mkdirSync(modelsRoot, { recursive: true });
  const lockFile = path.join(modelsRoot, '.locks', 'legacy-trained.lock');
  mkdirSync(path.dirname(lockFile), { recursive: true });
  if (!takeLock(lockFile)) return [];
  const moved: LegacyMove[] = [];
  try {
    const existing = readTrainedEntries(modelsRoot);
    for (const f of files) {
      try {
        const name = moveOne(f, home, modelsRoot, existing, taken);
        moved.push({ from: f.file, name, kind: f.kind });
      } catch (e) {
        failed.set(f.file, (e as Error).message);
      }
    }
    tidy(root);
  } finally {
    rmSync(lockFile, { force: true });
  }
  return moved;
}

/** Old files that could not be moved in this process, with why (`atelier models list` says so). */
export function legacyTrainedLeft(): { file: string; reason: string }[] {
  return [...failed].map(([file, reason]) => ({ file, reason }));
}

function legacyFiles(root: string): { kind: string; name: string; file: string }[] {
  const out: { kind: string; name: string; file: string }[] = [];
  for (const kind of readdirSync(root, { withFileTypes: true })) {
    if (!kind.isDirectory() || kind.name.startsWith('.')) continue;
    for (const f of readdirSync(path.join(root, kind.name))) {
      if (f.endsWith('.safetensors')) out.push({ kind: kind.name, name: f.slice(0, -'.safetensors'.length), file: path.join(root, kind.name, f) });
    }
  }
  return out.sort((a, b) => a.file.localeCompare(b.file));
}

function moveOne(f: { kind: string; name: string; file: string }, home: string, modelsRoot: string, existing: ModelEntry[], taken: (name: string) => boolean): string {
  const bytes = readFileSync(f.file);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const relative = path.relative(home, f.file).split(path.sep).join('/');
  // A move interrupted after its folder was in place: the folder is the model, the old copy goes.
  const done = existing.find((e) => e.trained?.migratedFrom === relative && e.files[0]?.sha256 === sha256);
  if (done) {
    unlinkSync(f.file);
    return done.name;
  }
  let metadata: Record<string, string> = {};
  try {
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
    metadata = parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n, f.file).metadata;
  } catch {
    // a damaged file moves all the same (nothing is lost); the method reading it will say what is wrong
  }
  const made = provenanceOf(f.kind, metadata);
  const iterations = Number(metadata.iterations ?? metadata.steps ?? 0);
  const fileName = `${f.kind === 'lora' ? 'adapter' : f.kind}.safetensors`;
  for (const name of candidates(f.name, f.kind)) {
    if (!TRAINED_NAME.test(name) || taken(name) || existsSync(path.join(modelsRoot, name))) continue;
    const trained: TrainedInfo = {
      trainer: made.trainer,
      iterations: Number.isFinite(iterations) ? iterations : 0,
      createdAt: statSync(f.file).mtime.toISOString(),
      ...(made.use && { use: made.use }),
      migratedFrom: relative,
      ...(name !== f.name && { formerName: f.name }),
    };
    const entry = trainedEntry(name, { description: made.description, network: f.kind, trained }, [{ path: fileName, url: null, size: bytes.length, sha256 }]);
    const incoming = path.join(modelsRoot, '.incoming', `${name}.legacy.${process.pid}`);
    rmSync(incoming, { recursive: true, force: true });
    mkdirSync(incoming, { recursive: true });
    try {
      writeFileSync(path.join(incoming, fileName), bytes);
      writeFileSync(path.join(incoming, TRAINED_ENTRY), JSON.stringify(entry, null, 2) + '\n');
      const record = makeRecord(entry, [{ path: fileName, size: bytes.length, sha256, checksumVerified: true, source: `moved:${relative}` }], undefined);
      writeFileSync(path.join(incoming, 'install.json'), JSON.stringify(record, null, 2) + '\n');
      try {
        renameSync(incoming, path.join(modelsRoot, name));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') continue; // taken meanwhile: the next name
        throw e;
      }
    } finally {
      rmSync(incoming, { recursive: true, force: true });
    }
    unlinkSync(f.file);
    return name;
  }
  throw new Error(`no free name for ${f.name}`);
}

/** Remove the old store's folders once empty (a live claim's lock file keeps `.claims`). */
function tidy(root: string): void {
  for (const kind of readdirSync(root, { withFileTypes: true })) {
    if (!kind.isDirectory()) continue;
    const dir = path.join(root, kind.name);
    const claims = path.join(dir, '.claims');
    for (const d of [claims, dir]) {
      try {
        rmdirSync(d);
      } catch {
        // not empty, or absent
      }
    }
  }
  try {
    rmdirSync(root);
  } catch {
    // something else is still there: left as it is
  }
}
