import { existsSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, open, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { AtelierError, wrapError } from '../core/errors.js';
import { ProgressReporter, type ProgressListener } from '../core/progress.js';
import { sha256File } from './store/checksum.js';
import { discardPartial, downloadToPartial } from './store/download.js';
import { effectiveUrl, findModel, loadManifest, type Manifest, type ModelEntry } from './store/manifest.js';
import { readPthIndex, type ReadPthOptions } from './weights/pth.js';
import { readWeights } from './weights/read.js';
import { readSafetensorsHeader } from './weights/safetensors.js';
import type { TensorMap } from './weights/tensor.js';

/**
 * The model store: published weights, installed under `$ATELIER_HOME/models/NAME/` (default
 * `~/.cache/atelier`). Nothing is ever downloaded implicitly: methods call `requireModel`, which
 * fails with E_WEIGHTS_MISSING and the command that fixes it; only `pullModel` (the
 * `atelier models pull` command) touches the network. Installs are atomic: bytes go to a
 * `.partial` file that is checked (size, SHA-256 when known, readable as its format) and then
 * renamed into place, so the cache never holds a half-written or unverified model file.
 */

export interface StoreOptions {
  /** Cache root; default `$ATELIER_HOME` or `~/.cache/atelier`. */
  home?: string;
  /** Default: models/manifest.json (or `$ATELIER_MANIFEST`). */
  manifest?: Manifest;
}

/** What `install.json` beside an installed file records. */
export interface InstallRecord {
  name: string;
  file: string;
  size: number;
  sha256: string;
  /** Whether the digest was checked against the manifest (false when the manifest has none). */
  checksumVerified: boolean;
  /** The URL it came from, or `import:<path>`. */
  source: string;
  installedAt: string;
}

export interface ModelStatus {
  name: string;
  entry: ModelEntry;
  installed: boolean;
  /** Where the file is (or would be) installed. */
  path: string;
  record?: InstallRecord;
  /** Bytes of an interrupted download waiting to be resumed. */
  partialBytes?: number;
}

export function atelierHome(options: StoreOptions = {}): string {
  return options.home ?? (process.env.ATELIER_HOME || path.join(homedir(), '.cache', 'atelier'));
}

function manifestOf(options: StoreOptions): Manifest {
  return options.manifest ?? loadManifest();
}

function modelDir(name: string, options: StoreOptions): string {
  return path.join(atelierHome(options), 'models', name);
}

function installedPath(entry: ModelEntry, options: StoreOptions): string {
  return path.join(modelDir(entry.name, options), entry.file);
}

function partialPath(entry: ModelEntry, options: StoreOptions): string {
  return `${installedPath(entry, options)}.partial`;
}

function recordPath(entry: ModelEntry, options: StoreOptions): string {
  return path.join(modelDir(entry.name, options), 'install.json');
}

function readRecord(entry: ModelEntry, options: StoreOptions): InstallRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordPath(entry, options), 'utf8')) as InstallRecord;
  } catch {
    return undefined;
  }
}

/** The exact commands that install a model, for error hints. */
export function installHint(entry: ModelEntry): string {
  const importCmd = `atelier models import ${entry.name} FILE`;
  return effectiveUrl(entry)
    ? `run \`atelier models pull ${entry.name}\` (or download ${entry.url ?? entry.page} by hand and run \`${importCmd}\`)`
    : `download ${entry.file} from ${entry.page} and run \`${importCmd}\``;
}

export function modelStatus(name: string, options: StoreOptions = {}): ModelStatus {
  const entry = findModel(manifestOf(options), name);
  const file = installedPath(entry, options);
  const installed = existsSync(file);
  const record = installed ? readRecord(entry, options) : undefined;
  let partialBytes: number | undefined;
  try {
    partialBytes = statSync(partialPath(entry, options)).size;
  } catch {
    partialBytes = undefined;
  }
  return { name, entry, installed, path: file, ...(record && { record }), ...(partialBytes !== undefined && { partialBytes }) };
}

export function listModels(options: StoreOptions = {}): ModelStatus[] {
  const manifest = manifestOf(options);
  return manifest.models.map((m) => modelStatus(m.name, { ...options, manifest }));
}

export function isModelInstalled(name: string, options: StoreOptions = {}): boolean {
  const manifest = manifestOf(options);
  if (!manifest.models.some((m) => m.name === name)) return false;
  return modelStatus(name, { ...options, manifest }).installed;
}

/**
 * The path of an installed model, for methods. Throws E_WEIGHTS_MISSING with the command that
 * installs it; never downloads.
 */
export function requireModel(name: string, options: StoreOptions = {}): string {
  const status = modelStatus(name, options);
  if (!status.installed) {
    throw new AtelierError('E_WEIGHTS_MISSING', `The model "${name}" (${status.entry.description}) is not installed`, {
      subject: name,
      hint: installHint(status.entry),
    });
  }
  const size = statSync(status.path).size;
  const expected = status.entry.size ?? status.record?.size;
  if (expected !== undefined && size !== expected) {
    throw new AtelierError('E_WEIGHTS_INVALID', `The installed file of model "${name}" has the wrong size`, {
      subject: status.path,
      expected: `${expected} bytes`,
      received: `${size} bytes`,
      hint: `run \`atelier models pull ${name} --force\` or import it again`,
    });
  }
  return status.path;
}

/** The tensors of an installed model (requireModel + the reader its format needs). */
export async function readModelWeights(name: string, options: StoreOptions & ReadPthOptions = {}): Promise<TensorMap> {
  return readWeights(requireModel(name, options), options);
}

export interface PullOptions extends StoreOptions {
  onProgress?: ProgressListener;
  signal?: AbortSignal;
  /** Download even when installed (the old file stays until the new one is verified). */
  force?: boolean;
  /** Download from here instead of the manifest URL (also `ATELIER_MODEL_URL_<NAME>`). */
  url?: string;
}

export interface PullResult {
  record: InstallRecord;
  path: string;
  /** False when it was installed already and nothing was downloaded. */
  downloaded: boolean;
  resumedFrom: number;
}

/** Download, verify and install a model (the only code path that downloads). */
export async function pullModel(name: string, options: PullOptions = {}): Promise<PullResult> {
  const manifest = manifestOf(options);
  const entry = findModel(manifest, name);
  const target = installedPath(entry, options);
  if (!options.force && existsSync(target)) {
    const record = readRecord(entry, options) ?? (await writeRecordFor(entry, target, 'unknown', options));
    return { record, path: target, downloaded: false, resumedFrom: 0 };
  }
  const url = options.url ?? effectiveUrl(entry);
  if (!url) {
    throw new AtelierError('E_WEIGHTS_MISSING', `The model "${name}" has no direct download address`, {
      subject: name,
      hint: installHint(entry),
    });
  }
  await mkdir(modelDir(name, options), { recursive: true });
  const release = await lock(entry, options);
  const progress = options.onProgress ? new ProgressReporter(options.onProgress, `pull ${name}`) : undefined;
  try {
    progress?.start();
    let last = 0;
    const partial = partialPath(entry, options);
    const result = await downloadToPartial({
      url,
      partial,
      expectedSize: entry.size,
      subject: `"${name}"`,
      ...(options.signal && { signal: options.signal }),
      onBytes(received, total) {
        const now = Date.now();
        const whole = total ?? entry.size ?? undefined;
        if (progress && (now - last >= 100 || received === whole)) {
          last = now;
          progress.report(whole ? received / whole : 0, (fraction) => ({
            type: 'download',
            label: `pull ${name}`,
            received,
            ...(whole !== undefined && { total: whole }),
            fraction,
          }));
        }
      },
    });
    try {
      await verifyCandidate(entry, partial, result);
    } catch (e) {
      await discardPartial(partial);
      throw e;
    }
    await rename(partial, target);
    await rm(`${partial}.json`, { force: true });
    const record = await writeRecord(entry, { size: result.size, sha256: result.sha256, source: url }, options);
    progress?.done();
    return { record, path: target, downloaded: true, resumedFrom: result.resumedFrom };
  } catch (e) {
    progress?.error((e as AtelierError).code ?? 'E_INTERNAL', (e as Error).message);
    throw e;
  } finally {
    await release();
  }
}

/** Install a file the user fetched by hand, checking it like a download. */
export async function importModel(name: string, file: string, options: StoreOptions & { force?: boolean } = {}): Promise<PullResult> {
  const manifest = manifestOf(options);
  const entry = findModel(manifest, name);
  let source: { size: number };
  try {
    source = await stat(file);
  } catch (e) {
    throw new AtelierError('E_FILE_NOT_FOUND', 'The file to import does not exist', { subject: file, cause: e });
  }
  const target = installedPath(entry, options);
  if (existsSync(target) && !options.force) {
    throw new AtelierError('E_OUTPUT_EXISTS', `The model "${name}" is installed already`, {
      subject: target,
      hint: `add --force to replace it, or run \`atelier models rm ${name}\` first`,
    });
  }
  if (entry.size !== null && source.size !== entry.size) {
    throw new AtelierError('E_WEIGHTS_INVALID', `The file does not match the published "${name}"`, {
      subject: file,
      expected: `${entry.size} bytes`,
      received: `${source.size} bytes`,
      hint: `download it again from ${entry.url ?? entry.page}`,
    });
  }
  await mkdir(modelDir(name, options), { recursive: true });
  const release = await lock(entry, options);
  const temp = `${target}.import.${process.pid}`;
  try {
    try {
      await copyFile(file, temp);
    } catch (e) {
      throw wrapError(e, 'E_OUTPUT_WRITE', `The file could not be copied into the model store`, { subject: temp });
    }
    const digest = await sha256File(temp);
    try {
      await verifyCandidate(entry, temp, digest);
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
    await rename(temp, target);
    const record = await writeRecord(entry, { ...digest, source: `import:${path.resolve(file)}` }, options);
    return { record, path: target, downloaded: false, resumedFrom: 0 };
  } finally {
    await rm(temp, { force: true });
    await release();
  }
}

/** Remove an installed model and any partial download of it. */
export async function removeModel(name: string, options: StoreOptions = {}): Promise<{ removed: boolean; freedBytes: number }> {
  const status = modelStatus(name, options);
  const dir = modelDir(name, options);
  if (!existsSync(dir)) return { removed: false, freedBytes: 0 };
  const freedBytes = (status.installed ? statSync(status.path).size : 0) + (status.partialBytes ?? 0);
  await rm(dir, { recursive: true, force: true });
  return { removed: status.installed || status.partialBytes !== undefined, freedBytes };
}

export interface VerifyResult {
  name: string;
  status: 'ok' | 'mismatch' | 'missing' | 'unreadable';
  path: string;
  sha256?: string;
  /** What the installed file was compared with. */
  against: 'manifest' | 'install record' | 'format only';
  message: string;
}

/** Re-hash an installed model and compare with the manifest (or, without one, with its install record). */
export async function verifyModel(name: string, options: StoreOptions = {}): Promise<VerifyResult> {
  const status = modelStatus(name, options);
  const entry = status.entry;
  const against = entry.sha256 ? 'manifest' : status.record?.sha256 ? 'install record' : 'format only';
  if (!status.installed) return { name, status: 'missing', path: status.path, against, message: `not installed; ${installHint(entry)}` };
  const digest = await sha256File(status.path);
  const expected = entry.sha256 ?? status.record?.sha256;
  if ((entry.size !== null && digest.size !== entry.size) || (expected && digest.sha256 !== expected)) {
    return {
      name,
      status: 'mismatch',
      path: status.path,
      sha256: digest.sha256,
      against,
      message: `SHA-256 ${digest.sha256} (${digest.size} bytes) differs from the ${against}${expected ? ` ${expected}` : ''}; run \`atelier models pull ${name} --force\``,
    };
  }
  try {
    await checkReadable(entry, status.path);
  } catch (e) {
    return { name, status: 'unreadable', path: status.path, sha256: digest.sha256, against, message: (e as Error).message };
  }
  return { name, status: 'ok', path: status.path, sha256: digest.sha256, against, message: `SHA-256 matches the ${against}` };
}

// ---------------------------------------------------------------------------------------------

async function verifyCandidate(entry: ModelEntry, file: string, got: { size: number; sha256: string }): Promise<void> {
  if (entry.size !== null && got.size !== entry.size) {
    throw new AtelierError('E_WEIGHTS_INVALID', `The file for "${entry.name}" has the wrong size`, {
      subject: file,
      expected: `${entry.size} bytes`,
      received: `${got.size} bytes`,
      hint: `nothing was installed; try again, or fetch it by hand from ${entry.page}`,
    });
  }
  if (entry.sha256 !== null && got.sha256 !== entry.sha256) {
    throw new AtelierError('E_WEIGHTS_INVALID', `The file for "${entry.name}" fails its checksum`, {
      subject: entry.name,
      expected: `SHA-256 ${entry.sha256}`,
      received: got.sha256,
      hint: `nothing was installed; try again, or fetch it by hand from ${entry.page}`,
    });
  }
  await checkReadable(entry, file);
}

/** The file must at least parse as its format (what stands in for a checksum when none is published). */
async function checkReadable(entry: ModelEntry, file: string): Promise<void> {
  try {
    if (entry.format === 'pth') await readPthIndex(file);
    else await readSafetensorsHeader(file);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new AtelierError('E_WEIGHTS_INVALID', `The file for "${entry.name}" is not a readable ${entry.format} weight file (${reason.replace(/\.$/, '')})`, {
      subject: file,
      hint: `nothing was installed; fetch it again from ${entry.page}`,
      cause: e,
    });
  }
}

async function writeRecord(entry: ModelEntry, got: { size: number; sha256: string; source: string }, options: StoreOptions): Promise<InstallRecord> {
  const record: InstallRecord = {
    name: entry.name,
    file: entry.file,
    size: got.size,
    sha256: got.sha256,
    checksumVerified: entry.sha256 !== null,
    source: got.source,
    installedAt: new Date().toISOString(),
  };
  const file = recordPath(entry, options);
  await writeFile(`${file}.tmp`, JSON.stringify(record, null, 2) + '\n');
  await rename(`${file}.tmp`, file);
  return record;
}

async function writeRecordFor(entry: ModelEntry, target: string, source: string, options: StoreOptions): Promise<InstallRecord> {
  const digest = await sha256File(target);
  return writeRecord(entry, { ...digest, source }, options);
}

/** One installer per model at a time: a lock file holding the owner's pid (stale locks are taken over). */
async function lock(entry: ModelEntry, options: StoreOptions): Promise<() => Promise<void>> {
  const file = path.join(modelDir(entry.name, options), '.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx');
      await fh.write(String(process.pid));
      await fh.close();
      return async () => {
        await unlink(file).catch(() => {});
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw wrapError(e, 'E_OUTPUT_WRITE', 'The model store is not writable', { subject: file });
      const owner = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) {
        throw new AtelierError('E_DOWNLOAD', `Another atelier process (pid ${owner}) is installing "${entry.name}"`, {
          subject: file,
          hint: 'wait for it to finish, then run the command again',
        });
      }
      await unlink(file).catch(() => {});
    }
  }
  throw new AtelierError('E_DOWNLOAD', `Could not lock "${entry.name}" for installation`, { subject: file });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
