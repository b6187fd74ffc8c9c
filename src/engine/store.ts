import { existsSync, readFileSync, statSync } from 'node:fs';
import { copyFile, link, mkdir, open, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { AtelierError, wrapError } from '../core/errors.js';
import { ProgressReporter, type ProgressListener } from '../core/progress.js';
import { sha256File } from './store/checksum.js';
import { discardPartial, downloadToPartial } from './store/download.js';
import {
  effectiveUrl,
  fileFormat,
  filesFor,
  findModel,
  loadManifest,
  needsAcceptance,
  totalSize,
  type Manifest,
  type ModelEntry,
  type ModelFile,
  type ModelFormat,
} from './store/manifest.js';
import { makeRecord, type InstalledFileRecord, type InstallRecord } from './store/install-record.js';
import { migrateLegacyTrainedModels } from './store/legacy-trained.js';
import { checkTrainedName, readTrainedEntries, TRAINED_ENTRY, trainedEntry, type TrainedModelInput } from './store/trained-entry.js';
import { describeMirror, mirrorFileUrl, mirrorFromEnv, MIRROR_VARIABLE, MirrorIndex, parseMirror, type ModelMirror } from './store/mirror.js';
import { readPthIndex, type ReadPthOptions } from './weights/pth.js';
import { readWeights } from './weights/read.js';
import { readSafetensorsHeader } from './weights/safetensors.js';
import type { TensorMap } from './weights/tensor.js';

/**
 * The model store: published models (one or more files each), installed under
 * `$ATELIER_HOME/models/NAME/` (default `~/.cache/atelier`). Nothing is ever downloaded
 * implicitly: methods call `modelFiles` / `requireModel`, which fail with E_WEIGHTS_MISSING and
 * the commands that fix it; only `pullModel` / `importModel` install.
 *
 * Installs are atomic for the model as a whole. Files are assembled in
 * `models/.incoming/NAME/` (downloads resume there as `<file>.partial`); each is checked (size,
 * SHA-256, readable as its format when no digest is published) before it counts; when every file
 * is there, `install.json` is written and the folder replaces `models/NAME/` by rename. A cut
 * connection, a bad file or a killed process therefore never leaves a half-installed model.
 *
 * For the other parts of the engine, the API is:
 *   modelFiles(name, { variant })  → InstalledModel: the folder and every file (path, format)
 *   requireModel(name)             → path of the first (for single-file models: the only) file
 *   readModelWeights(name)         → tensors of a pth/safetensors model
 *   pullModel(name, { from, variants, acceptLicence }) installs (from upstream or a mirror)
 */

export type { InstalledFileRecord, InstallRecord } from './store/install-record.js';
export { checkTrainedName } from './store/trained-entry.js';

export interface StoreOptions {
  /** Cache root; default `$ATELIER_HOME` or `~/.cache/atelier`. */
  home?: string;
  /** Default: models/manifest.json (or `$ATELIER_MANIFEST`). */
  manifest?: Manifest;
}

export interface FileStatus {
  path: string;
  /** Absolute path where the file is (or would be) installed. */
  absolute: string;
  format: ModelFormat;
  size: number | null;
  sha256: string | null;
  installed: boolean;
  /** The variant the file belongs to, when it is not common to all. */
  variant?: string;
}

export interface ModelStatus {
  name: string;
  entry: ModelEntry;
  /** True when every common file and those of at least one variant are installed. */
  installed: boolean;
  /** The model folder. */
  dir: string;
  /** Where the first file is (or would be) installed. */
  path: string;
  files: FileStatus[];
  /** Installed variants (models with variants only). */
  variants?: string[];
  record?: InstallRecord;
  /** Bytes of interrupted downloads waiting to be resumed. */
  partialBytes?: number;
}

export function atelierHome(options: StoreOptions = {}): string {
  return options.home ?? (process.env.ATELIER_HOME || path.join(homedir(), '.cache', 'atelier'));
}

/**
 * The published manifest plus the models made here (a published name always wins). Models the CLI
 * trained into the older `trained/<kind>/` folder move into the store here, the first time it is
 * read (store/legacy-trained.ts).
 */
function manifestOf(options: StoreOptions): Manifest {
  const published = options.manifest ?? loadManifest();
  const names = new Set(published.models.map((m) => m.name));
  migrateLegacyTrainedModels(atelierHome(options), modelsRoot(options), (name) => names.has(name));
  const trained = readTrainedEntries(modelsRoot(options)).filter((e) => !names.has(e.name));
  return trained.length === 0 ? published : { path: published.path, models: [...published.models, ...trained] };
}

/** Every model name the store knows: published ones and those trained here. */
export function knownModelNames(options: StoreOptions = {}): string[] {
  return manifestOf(options).models.map((m) => m.name);
}

/** The entries of the models made here (trained, merged), migrating old ones first. */
export function trainedModelEntries(options: StoreOptions = {}): ModelEntry[] {
  return manifestOf(options).models.filter((m) => m.trained !== undefined);
}

/**
 * Install a model made here (`atelier train`, a server training job, `atelier lora merge`): its
 * files are copied into `models/NAME/` beside `trained.json`, its manifest entry, so from then on
 * it is a model like any other (listed, required by name, removed). All or nothing, like an
 * install. A published name is always refused; a model of that name already there is refused
 * unless `replace` is set and it is itself a model made here (the old folder is swapped out whole).
 */
export async function addTrainedModel(
  name: string,
  model: TrainedModelInput & { files: { path: string; from: string; format?: ModelFormat }[] },
  options: StoreOptions & { replace?: boolean } = {},
): Promise<ModelStatus> {
  checkTrainedName(name);
  if ((options.manifest ?? loadManifest()).models.some((m) => m.name === name)) {
    throw new AtelierError('E_OUTPUT_EXISTS', `"${name}" is the name of a published model`, { subject: name, hint: 'choose another name for the trained model' });
  }
  const release = await lock(name, options, false);
  const incoming = incomingDir(name, options);
  try {
    const dir = modelDir(name, options);
    if (existsSync(dir) && !(options.replace && existsSync(path.join(dir, TRAINED_ENTRY)))) {
      throw new AtelierError('E_OUTPUT_EXISTS', `A model named "${name}" is installed already`, {
        subject: name,
        hint: `choose another name, or remove it first (\`atelier models rm ${name}\`)${existsSync(path.join(dir, TRAINED_ENTRY)) ? ', or train with --force to replace it' : ''}`,
      });
    }
    await rm(incoming, { recursive: true, force: true });
    await mkdir(incoming, { recursive: true });
    const files: ModelFile[] = [];
    const records: InstalledFileRecord[] = [];
    for (const f of model.files) {
      const target = incomingPath(incoming, f.path);
      await mkdir(path.dirname(target), { recursive: true });
      await copyFile(f.from, target).catch((e: unknown) => {
        throw wrapError(e, 'E_OUTPUT_WRITE', 'A trained file could not be copied into the model store', { subject: f.path });
      });
      const digest = await sha256File(target);
      files.push({ path: f.path, url: null, size: digest.size, sha256: digest.sha256, ...(f.format && { format: f.format }) });
      records.push({ path: f.path, ...digest, checksumVerified: true, source: `train:${model.trained.trainer}` });
    }
    const entry = trainedEntry(name, model, files);
    await writeJsonAtomic(path.join(incoming, TRAINED_ENTRY), entry);
    await writeJsonAtomic(path.join(incoming, 'install.json'), makeRecord(entry, records, undefined));
    await swapIntoPlace(incoming, dir, options);
    return modelStatus(name, options);
  } catch (e) {
    await rm(incoming, { recursive: true, force: true });
    throw e;
  } finally {
    await release();
  }
}

function modelsRoot(options: StoreOptions): string {
  return path.join(atelierHome(options), 'models');
}

function modelDir(name: string, options: StoreOptions): string {
  return path.join(modelsRoot(options), name);
}

/** Where a model's next install is assembled (and interrupted downloads wait). */
function incomingDir(name: string, options: StoreOptions): string {
  return path.join(modelsRoot(options), '.incoming', name);
}

function recordPath(name: string, options: StoreOptions): string {
  return path.join(modelDir(name, options), 'install.json');
}

function readRecord(name: string, options: StoreOptions): InstallRecord | undefined {
  let raw: Partial<InstallRecord>;
  try {
    raw = JSON.parse(readFileSync(recordPath(name, options), 'utf8')) as Partial<InstallRecord>;
  } catch {
    return undefined;
  }
  if (typeof raw.file !== 'string' || typeof raw.sha256 !== 'string' || typeof raw.size !== 'number') return undefined;
  // records written before models had several files describe one file at the top level
  const files = Array.isArray(raw.files)
    ? raw.files
    : [{ path: raw.file, size: raw.size, sha256: raw.sha256, checksumVerified: Boolean(raw.checksumVerified), source: String(raw.source ?? 'unknown') }];
  return { ...(raw as InstallRecord), files };
}

function variantOf(entry: ModelEntry, file: ModelFile): string | undefined {
  if (!entry.variants) return undefined;
  for (const [name, choice] of Object.entries(entry.variants.choices)) if (choice.files.includes(file.path)) return name;
  return undefined;
}

/** The command that installs a model (with the flags its variants and licence need). */
export function pullCommand(entry: ModelEntry, options: { variants?: readonly string[]; from?: string } = {}): string {
  const parts = ['atelier models pull', entry.name];
  if (options.variants && options.variants.length > 0) parts.push(`--variant ${options.variants.join(',')}`);
  if (options.from) parts.push(`--from ${options.from}`);
  if (needsAcceptance(entry)) parts.push('--accept-licence');
  return parts.join(' ');
}

/** The exact commands that install a model, for error hints. */
export function installHint(entry: ModelEntry, variants?: readonly string[]): string {
  const mirror = process.env[MIRROR_VARIABLE];
  const offline = `\`${pullCommand(entry, { ...(variants && { variants }), from: mirror || 'DIR' })}\`${mirror ? '' : ' (DIR: a folder holding its files, e.g. ../shared/weights)'}`;
  const licence = needsAcceptance(entry) ? ` Its licence (${entry.licence}) is ${entry.terms}: read it before accepting.` : '';
  if (entry.files.every((f) => effectiveUrl(entry, f))) {
    return `run \`${pullCommand(entry, variants ? { variants } : {})}\`, or offline ${offline}${entry.files.length === 1 ? ` (or download ${entry.files[0]!.url ?? entry.page} by hand and run \`atelier models import ${entry.name} FILE\`)` : ''}.${licence}`;
  }
  if (entry.files.length === 1) {
    return `download ${entry.files[0]!.path} from ${entry.page} and run \`atelier models import ${entry.name} FILE\`, or ${offline}.${licence}`;
  }
  return `fetch its files from ${entry.page} into a folder and run ${offline}.${licence}`;
}

export function modelStatus(name: string, options: StoreOptions = {}): ModelStatus {
  const entry = findModel(manifestOf(options), name);
  const dir = modelDir(name, options);
  const record = readRecord(name, options);
  const files: FileStatus[] = entry.files.map((f) => {
    const absolute = path.join(dir, ...f.path.split('/'));
    const variant = variantOf(entry, f);
    return {
      path: f.path,
      absolute,
      format: fileFormat(entry, f),
      size: f.size,
      sha256: f.sha256,
      installed: existsSync(absolute),
      ...(variant !== undefined && { variant }),
    };
  });
  const commonInstalled = files.every((f) => f.variant !== undefined || f.installed);
  let variants: string[] | undefined;
  let installed = commonInstalled;
  if (entry.variants) {
    variants = Object.entries(entry.variants.choices)
      .filter(([, choice]) => choice.files.every((p) => files.find((f) => f.path === p)!.installed))
      .map(([v]) => v);
    installed = commonInstalled && variants.length > 0;
  }
  let partialBytes = 0;
  let partials = 0;
  for (const f of entry.files) {
    try {
      partialBytes += statSync(path.join(incomingDir(name, options), ...`${f.path}.partial`.split('/'))).size;
      partials++;
    } catch {
      // no interrupted download of this file
    }
  }
  return {
    name,
    entry,
    installed,
    dir,
    path: files[0]!.absolute,
    files,
    ...(variants && { variants }),
    ...(record && { record }),
    ...(partials > 0 && { partialBytes }),
  };
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

/** An installed file, ready to read. */
export interface InstalledFile {
  /** Relative path inside the model folder, as in the manifest. */
  path: string;
  absolute: string;
  format: ModelFormat;
  size: number;
}

/** What `modelFiles` gives: the installed files of one model (of one variant). */
export interface InstalledModel {
  name: string;
  entry: ModelEntry;
  dir: string;
  /** The variant these files are (models with variants only). */
  variant?: string;
  files: InstalledFile[];
  /** Absolute path of a file by its relative path in the manifest; E_INTERNAL when it is not one of them. */
  file(relative: string): string;
  /** The one file of a format (e.g. 'onnx'); E_INTERNAL when there is none or more than one. */
  fileOf(format: ModelFormat): string;
}

export interface ModelFilesOptions extends StoreOptions {
  /**
   * Which variant to use (models with variants only). Default: the manifest's default variant if
   * installed, else the first installed one.
   */
  variant?: string;
}

/**
 * The installed files of a model, for methods and readers. Throws E_WEIGHTS_MISSING with the
 * commands that install it (never downloads), E_WEIGHTS_INVALID when a file has the wrong size.
 */
export function modelFiles(name: string, options: ModelFilesOptions = {}): InstalledModel {
  const status = modelStatus(name, options);
  const { entry } = status;
  let variant: string | undefined;
  if (entry.variants) {
    if (options.variant !== undefined) {
      filesFor(entry, [options.variant]); // refuses unknown variant names
      variant = options.variant;
    } else {
      const installed = status.variants ?? [];
      variant = installed.includes(entry.variants.default) ? entry.variants.default : (installed[0] ?? entry.variants.default);
    }
  } else if (options.variant !== undefined) {
    filesFor(entry, [options.variant]);
  }
  const wanted = new Set(filesFor(entry, variant !== undefined ? [variant] : undefined).map((f) => f.path));
  const needed = status.files.filter((f) => wanted.has(f.path));
  const missing = needed.filter((f) => !f.installed);
  if (missing.length > 0) {
    const what = missing.length === needed.length ? 'is not installed' : `is missing ${missing.length} of its ${needed.length} files (${missing.slice(0, 3).map((f) => f.path).join(', ')}${missing.length > 3 ? ', …' : ''})`;
    throw new AtelierError('E_WEIGHTS_MISSING', `The model "${name}" (${entry.description}${variant ? `; variant ${variant}` : ''}) ${what}`, {
      subject: name,
      hint: installHint(entry, variant !== undefined && variant !== entry.variants?.default ? [variant] : undefined),
    });
  }
  const recorded = new Map((status.record?.files ?? []).map((f) => [f.path, f]));
  const files: InstalledFile[] = needed.map((f) => {
    const size = statSync(f.absolute).size;
    const expected = f.size ?? recorded.get(f.path)?.size;
    if (expected !== undefined && size !== expected) {
      throw new AtelierError('E_WEIGHTS_INVALID', `The installed file ${f.path} of model "${name}" has the wrong size`, {
        subject: f.absolute,
        expected: `${expected} bytes`,
        received: `${size} bytes`,
        hint: `run \`${pullCommand(entry)} --force\`${entry.files.length === 1 ? ' or import it again' : ''}`,
      });
    }
    return { path: f.path, absolute: f.absolute, format: f.format, size };
  });
  const byPath = new Map(files.map((f) => [f.path, f]));
  return {
    name,
    entry,
    dir: status.dir,
    ...(variant !== undefined && { variant }),
    files,
    file(relative: string): string {
      const f = byPath.get(relative);
      if (!f) {
        throw new AtelierError('E_INTERNAL', `The model "${name}" has no file ${relative}${variant ? ` in variant ${variant}` : ''}`, {
          expected: `one of ${files.map((x) => x.path).join(', ')}`,
        });
      }
      return f.absolute;
    },
    fileOf(format: ModelFormat): string {
      const matches = files.filter((f) => f.format === format);
      if (matches.length !== 1) {
        throw new AtelierError('E_INTERNAL', `The model "${name}" has ${matches.length} ${format} files, not one`, {
          expected: 'exactly one: ask for it by path with file(relative)',
          received: matches.map((f) => f.path).join(', ') || 'none',
        });
      }
      return matches[0]!.absolute;
    },
  };
}

/**
 * The path of an installed model's first file (the only one of a single-file model). Throws
 * E_WEIGHTS_MISSING with the commands that install it; never downloads. Multi-file models: use
 * `modelFiles`.
 */
export function requireModel(name: string, options: ModelFilesOptions = {}): string {
  return modelFiles(name, options).files[0]!.absolute;
}

/** The tensors of an installed single-file pth/safetensors model (requireModel + the reader its format needs). */
export async function readModelWeights(name: string, options: StoreOptions & ReadPthOptions = {}): Promise<TensorMap> {
  return readWeights(requireModel(name, options), options);
}

export interface PullOptions extends StoreOptions {
  onProgress?: ProgressListener;
  signal?: AbortSignal;
  /** Install again even when installed (the old files stay until the new ones are verified). */
  force?: boolean;
  /** Download a single-file model from here instead of the manifest URL (also `ATELIER_MODEL_URL_<NAME>`). */
  url?: string;
  /**
   * Take the files from a mirror instead of upstream: a folder (files found by SHA-256 anywhere
   * under it) or an http(s) URL (`<url>/<name>/<relative path>`). Default: `$ATELIER_MODEL_MIRROR`.
   */
  from?: string | ModelMirror;
  /** Variants to install (models with variants); default the manifest's default; 'all' for every one. */
  variants?: readonly string[] | 'all';
  /** The user accepts a non-commercial or academic-only licence (required to install such models). */
  acceptLicence?: boolean;
  /** Wait for another process installing the same model instead of failing (tests, servers). */
  waitForLock?: boolean;
}

export interface PullResult {
  record: InstallRecord;
  /** The first file. */
  path: string;
  dir: string;
  /** False when everything asked for was installed already and nothing was fetched. */
  downloaded: boolean;
  /** Bytes that were on disk already from interrupted downloads. */
  resumedFrom: number;
}

/** The refusal for a licence that was not accepted. */
export function licenceError(entry: ModelEntry): AtelierError {
  const use =
    entry.terms === 'academic-only'
      ? 'licensed for academic (non-commercial research) use only'
      : entry.terms === 'use-restricted'
        ? 'licensed with use restrictions that bind whoever uses it'
        : 'licensed for non-commercial use only';
  return new AtelierError('E_LICENCE', `The model "${entry.name}" is ${use} ("${entry.licence}"); it is installed only when you accept these terms`, {
    subject: entry.name,
    hint: `read the terms at ${entry.page}; if your use fits them, run \`${pullCommand(entry)}\` (library: pullModel(name, { acceptLicence: true }))`,
  });
}

/** Install a model from upstream or a mirror (the only code path that fetches model files). */
export async function pullModel(name: string, options: PullOptions = {}): Promise<PullResult> {
  const manifest = manifestOf(options);
  const opts = { ...options, manifest };
  const entry = findModel(manifest, name);
  const wanted = filesFor(entry, options.variants);
  const first = modelStatus(name, opts);
  if (!options.force && first.installed && wanted.every((f) => first.files.find((x) => x.path === f.path)!.installed)) {
    const record = first.record ?? (await writeRecordFor(entry, wanted, first, 'unknown', opts));
    return { record, path: first.path, dir: first.dir, downloaded: false, resumedFrom: 0 };
  }
  if (needsAcceptance(entry) && !options.acceptLicence) throw licenceError(entry);
  const mirror = options.from === undefined ? mirrorFromEnv() : typeof options.from === 'string' ? parseMirror(options.from) : options.from;
  if (!mirror) {
    const noUrl = wanted.filter((f) => !(options.url && entry.files.length === 1) && !effectiveUrl(entry, f));
    if (noUrl.length > 0) {
      throw new AtelierError('E_WEIGHTS_MISSING', `The model "${name}" has no direct download address`, {
        subject: name,
        hint: installHint(entry),
      });
    }
  }
  const release = await lock(name, opts, Boolean(options.waitForLock));
  // another process may have installed it while we waited for the lock: then nothing is fetched,
  // and its folder (which readers may be using) is not replaced
  const before = modelStatus(name, opts);
  const installedPaths = new Set(before.files.filter((f) => f.installed).map((f) => f.path));
  if (!options.force && before.installed && before.record && wanted.every((f) => installedPaths.has(f.path))) {
    await release();
    return { record: before.record, path: before.path, dir: before.dir, downloaded: false, resumedFrom: 0 };
  }
  const progress = options.onProgress ? new ProgressReporter(options.onProgress, `pull ${name}`) : undefined;
  try {
    progress?.start();
    const incoming = incomingDir(name, opts);
    await mkdir(incoming, { recursive: true });
    const index = mirror?.kind === 'dir' ? await MirrorIndex.build(mirror.dir) : undefined;
    // keep what is installed (other variants, and unchanged files unless --force)
    const keep = new Set(before.record?.files.map((f) => f.path) ?? [...installedPaths]);
    for (const f of entry.files) {
      const fromInstalled = installedPaths.has(f.path) && keep.has(f.path) && !(options.force && wanted.includes(f));
      if (fromInstalled) await linkOrCopy(path.join(before.dir, ...f.path.split('/')), incomingPath(incoming, f.path));
    }
    const toFetch = wanted.filter((f) => options.force || !installedPaths.has(f.path));
    const total = totalSize(toFetch);
    let done = 0;
    let resumedFrom = 0;
    let last = 0;
    const report = (received: number) => {
      const now = Date.now();
      const whole = total ?? undefined;
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
    };
    const records = new Map<string, InstalledFileRecord>((before.record?.files ?? []).map((f) => [f.path, f]));
    for (const f of toFetch) {
      const target = incomingPath(incoming, f.path);
      await mkdir(path.dirname(target), { recursive: true });
      const got = await fetchOne(entry, f, target, { incoming, mirror, index, url: options.url, signal: options.signal, onBytes: (n) => report(done + n), force: Boolean(options.force) });
      resumedFrom += got.resumedFrom;
      done += got.size;
      report(done);
      records.set(f.path, { path: f.path, size: got.size, sha256: got.sha256, checksumVerified: f.sha256 !== null, source: got.source });
    }
    const present = entry.files.filter((f) => existsSync(incomingPath(incoming, f.path)));
    for (const f of present) {
      if (!records.has(f.path)) {
        const digest = await sha256File(incomingPath(incoming, f.path));
        records.set(f.path, { path: f.path, ...digest, checksumVerified: f.sha256 !== null && f.sha256 === digest.sha256, source: 'unknown' });
      }
    }
    const record = makeRecord(entry, present.map((f) => records.get(f.path)!), options.acceptLicence && needsAcceptance(entry));
    await writeJsonAtomic(path.join(incoming, 'install.json'), record);
    await swapIntoPlace(incoming, modelDir(name, opts), opts);
    progress?.done();
    return { record, path: path.join(modelDir(name, opts), ...entry.files[0]!.path.split('/')), dir: modelDir(name, opts), downloaded: true, resumedFrom };
  } catch (e) {
    progress?.error((e as AtelierError).code ?? 'E_INTERNAL', (e as Error).message);
    throw e;
  } finally {
    await release();
  }
}

function incomingPath(incoming: string, relative: string): string {
  return path.join(incoming, ...relative.split('/'));
}

interface FetchContext {
  incoming: string;
  mirror: ModelMirror | undefined;
  index: MirrorIndex | undefined;
  url: string | undefined;
  signal: AbortSignal | undefined;
  onBytes: (received: number) => void;
  force: boolean;
}

/** Bring one file into the incoming folder at `target`, verified. */
async function fetchOne(entry: ModelEntry, f: ModelFile, target: string, ctx: FetchContext): Promise<{ size: number; sha256: string; source: string; resumedFrom: number }> {
  const subject = entry.files.length === 1 ? `"${entry.name}"` : `${f.path} of "${entry.name}"`;
  // a file verified by an earlier, interrupted install of several files
  if (existsSync(target) && !ctx.force) {
    const digest = await sha256File(target);
    if ((f.size === null || digest.size === f.size) && (f.sha256 === null || digest.sha256 === f.sha256)) {
      const source = (await readSources(ctx.incoming))[f.path] ?? 'unknown (an earlier attempt)';
      return { ...digest, source, resumedFrom: digest.size };
    }
    await rm(target, { force: true });
  }
  const partial = `${target}.partial`;
  if (ctx.mirror?.kind === 'dir') {
    if (f.sha256 === null) {
      throw new AtelierError('E_WEIGHTS_MISSING', `${capital(subject)} cannot be found in a mirror folder: the manifest has no SHA-256 for it`, {
        subject: ctx.mirror.dir,
        hint: entry.files.length === 1 ? `install it with \`atelier models import ${entry.name} FILE\`` : `pull it from upstream without --from`,
      });
    }
    const found = await ctx.index!.find(f.size, f.sha256, path.basename(f.path));
    if (!found) {
      throw new AtelierError('E_WEIGHTS_MISSING', `The mirror folder has no copy of ${subject}`, {
        subject: ctx.mirror.dir,
        expected: `a file of ${f.size ?? 'any'} bytes with SHA-256 ${f.sha256} anywhere under it`,
        hint: `nothing was installed; put the file (from ${f.url ?? entry.page}) into the folder, or pull from upstream without --from / ${MIRROR_VARIABLE}`,
      });
    }
    try {
      await copyFile(found, partial);
    } catch (e) {
      await rm(partial, { force: true });
      throw wrapError(e, 'E_OUTPUT_WRITE', `${capital(subject)} could not be copied into the model store`, { subject: partial });
    }
    const digest = await sha256File(partial);
    await verifyOrDiscard(entry, f, partial, digest);
    await rename(partial, target);
    await noteSource(ctx.incoming, f.path, `mirror:${found}`);
    ctx.onBytes(digest.size);
    return { ...digest, source: `mirror:${found}`, resumedFrom: 0 };
  }
  const url = ctx.mirror?.kind === 'url' ? mirrorFileUrl(ctx.mirror.base, entry.name, f.path) : ((entry.files.length === 1 ? ctx.url : undefined) ?? effectiveUrl(entry, f)!);
  const result = await downloadToPartial({
    url,
    partial,
    expectedSize: f.size,
    subject,
    ...(ctx.signal && { signal: ctx.signal }),
    onBytes: (received) => ctx.onBytes(received),
  });
  await verifyOrDiscard(entry, f, partial, result);
  await rename(partial, target);
  await rm(`${partial}.json`, { force: true });
  await noteSource(ctx.incoming, f.path, url);
  return { size: result.size, sha256: result.sha256, source: url, resumedFrom: result.resumedFrom };
}

async function verifyOrDiscard(entry: ModelEntry, f: ModelFile, file: string, got: { size: number; sha256: string }): Promise<void> {
  try {
    await verifyCandidate(entry, f, file, got);
  } catch (e) {
    await discardPartial(file);
    throw e;
  }
}

function capital(s: string): string {
  return s[0]!.toUpperCase() + s.slice(1);
}

/** Hard-link (same disk, no bytes copied) or else copy a file. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  await mkdir(path.dirname(to), { recursive: true });
  await rm(to, { force: true });
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}

/**
 * Replace `models/NAME` by the assembled folder. The old folder is first moved aside, so at every
 * moment `models/NAME` is either the complete old install, absent, or the complete new one.
 */
async function swapIntoPlace(incoming: string, target: string, options: StoreOptions): Promise<void> {
  // interrupted downloads' leftovers never travel into an installed folder
  await removePartials(incoming);
  const trash = path.join(modelsRoot(options), '.trash', `${path.basename(target)}.${process.pid}.${Date.now()}`);
  if (existsSync(target)) {
    await mkdir(path.dirname(trash), { recursive: true });
    await rename(target, trash);
  }
  try {
    await rename(incoming, target);
  } catch (e) {
    if (existsSync(trash)) await rename(trash, target).catch(() => {});
    throw wrapError(e, 'E_OUTPUT_WRITE', 'The model could not be moved into place', { subject: target });
  }
  await rm(trash, { recursive: true, force: true });
}

async function removePartials(dir: string): Promise<void> {
  for (const name of await readdir(dir, { recursive: true })) {
    if (/\.partial(\.json)?$/.test(name)) await rm(path.join(dir, name), { force: true });
  }
  await rm(path.join(dir, SOURCES), { force: true });
}

/** In the incoming folder: where each verified file came from, for the install record of a resumed install. */
const SOURCES = '.sources.json';

async function readSources(incoming: string): Promise<Record<string, string>> {
  try {
    return JSON.parse(await readFile(path.join(incoming, SOURCES), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

async function noteSource(incoming: string, relative: string, source: string): Promise<void> {
  await writeJsonAtomic(path.join(incoming, SOURCES), { ...(await readSources(incoming)), [relative]: source });
}

/** Install a single-file model's file the user fetched by hand, checking it like a download. */
export async function importModel(name: string, file: string, options: StoreOptions & { force?: boolean; acceptLicence?: boolean } = {}): Promise<PullResult> {
  const manifest = manifestOf(options);
  const opts = { ...options, manifest };
  const entry = findModel(manifest, name);
  if (entry.files.length !== 1) {
    throw new AtelierError('E_PARAM', `The model "${name}" has ${entry.files.length} files; import installs single-file models`, {
      subject: name,
      hint: `put its files into a folder and run \`${pullCommand(entry, { from: 'DIR' })}\``,
    });
  }
  const f = entry.files[0]!;
  let source: { size: number };
  try {
    source = await stat(file);
  } catch (e) {
    throw new AtelierError('E_FILE_NOT_FOUND', 'The file to import does not exist', { subject: file, cause: e });
  }
  const status = modelStatus(name, opts);
  if (status.installed && !options.force) {
    throw new AtelierError('E_OUTPUT_EXISTS', `The model "${name}" is installed already`, {
      subject: status.path,
      hint: `add --force to replace it, or run \`atelier models rm ${name}\` first`,
    });
  }
  if (f.size !== null && source.size !== f.size) {
    throw new AtelierError('E_WEIGHTS_INVALID', `The file does not match the published "${name}"`, {
      subject: file,
      expected: `${f.size} bytes`,
      received: `${source.size} bytes`,
      hint: `download it again from ${f.url ?? entry.page}`,
    });
  }
  if (needsAcceptance(entry) && !options.acceptLicence) throw licenceError(entry);
  const release = await lock(name, opts, false);
  const incoming = incomingDir(name, opts);
  const temp = `${incomingPath(incoming, f.path)}.import.${process.pid}`;
  try {
    await mkdir(incoming, { recursive: true });
    try {
      await copyFile(file, temp);
    } catch (e) {
      throw wrapError(e, 'E_OUTPUT_WRITE', `The file could not be copied into the model store`, { subject: temp });
    }
    const digest = await sha256File(temp);
    await verifyOrDiscard(entry, f, temp, digest);
    await rename(temp, incomingPath(incoming, f.path));
    const record = makeRecord(entry, [{ path: f.path, ...digest, checksumVerified: f.sha256 !== null, source: `import:${path.resolve(file)}` }], options.acceptLicence && needsAcceptance(entry));
    await writeJsonAtomic(path.join(incoming, 'install.json'), record);
    await swapIntoPlace(incoming, modelDir(name, opts), opts);
    return { record, path: status.path, dir: status.dir, downloaded: false, resumedFrom: 0 };
  } finally {
    await rm(temp, { force: true });
    await release();
  }
}

/** Remove an installed model and any interrupted download of it. */
export async function removeModel(name: string, options: StoreOptions = {}): Promise<{ removed: boolean; freedBytes: number }> {
  const status = modelStatus(name, options);
  const dir = modelDir(name, options);
  const incoming = incomingDir(name, options);
  if (!existsSync(dir) && !existsSync(incoming)) return { removed: false, freedBytes: 0 };
  let freedBytes = status.partialBytes ?? 0;
  for (const f of status.files) if (f.installed) freedBytes += statSync(f.absolute).size;
  await rm(dir, { recursive: true, force: true });
  await rm(incoming, { recursive: true, force: true });
  return { removed: status.files.some((f) => f.installed) || status.partialBytes !== undefined, freedBytes };
}

export interface VerifyResult {
  name: string;
  status: 'ok' | 'mismatch' | 'missing' | 'unreadable';
  /** The first file, or the first that failed. */
  path: string;
  sha256?: string;
  /** What the installed files were compared with. */
  against: 'manifest' | 'install record' | 'format only';
  message: string;
}

/** Re-hash an installed model's files and compare with the manifest (or, without one, with its install record). */
export async function verifyModel(name: string, options: StoreOptions = {}): Promise<VerifyResult> {
  const status = modelStatus(name, options);
  const entry = status.entry;
  const recorded = new Map((status.record?.files ?? []).map((f) => [f.path, f]));
  const against = entry.files.every((f) => f.sha256) ? 'manifest' : status.record ? 'install record' : 'format only';
  if (!status.installed) return { name, status: 'missing', path: status.path, against, message: `not installed; ${installHint(entry)}` };
  let first: string | undefined;
  let checked = 0;
  for (const fs of status.files) {
    if (!fs.installed) continue;
    const f = entry.files.find((x) => x.path === fs.path)!;
    const digest = await sha256File(fs.absolute);
    first ??= digest.sha256;
    const expected = f.sha256 ?? recorded.get(f.path)?.sha256;
    if ((f.size !== null && digest.size !== f.size) || (expected && digest.sha256 !== expected)) {
      return {
        name,
        status: 'mismatch',
        path: fs.absolute,
        sha256: digest.sha256,
        against,
        message: `${fs.path}: SHA-256 ${digest.sha256} (${digest.size} bytes) differs from the ${against}${expected ? ` ${expected}` : ''}; run \`${pullCommand(entry)} --force\``,
      };
    }
    try {
      await checkReadable(entry, f, fs.absolute);
    } catch (e) {
      return { name, status: 'unreadable', path: fs.absolute, sha256: digest.sha256, against, message: (e as Error).message };
    }
    checked++;
  }
  return { name, status: 'ok', path: status.path, ...(first && { sha256: first }), against, message: `SHA-256 of ${checked === 1 ? 'the file' : `all ${checked} files`} matches the ${against}` };
}

// ---------------------------------------------------------------------------------------------

async function verifyCandidate(entry: ModelEntry, f: ModelFile, file: string, got: { size: number; sha256: string }): Promise<void> {
  const what = entry.files.length === 1 ? `The file for "${entry.name}"` : `The file ${f.path} of "${entry.name}"`;
  const source = f.url ?? entry.page;
  if (f.size !== null && got.size !== f.size) {
    throw new AtelierError('E_WEIGHTS_INVALID', `${what} has the wrong size`, {
      subject: file,
      expected: `${f.size} bytes`,
      received: `${got.size} bytes`,
      hint: `nothing was installed; try again, or fetch it by hand from ${source}`,
    });
  }
  if (f.sha256 !== null && got.sha256 !== f.sha256) {
    throw new AtelierError('E_WEIGHTS_INVALID', `${what} fails its checksum`, {
      subject: entry.name,
      expected: `SHA-256 ${f.sha256}`,
      received: got.sha256,
      hint: `nothing was installed; try again, or fetch it by hand from ${source}`,
    });
  }
  if (f.sha256 === null) await checkReadable(entry, f, file);
}

/** Without a published digest the file must at least parse as its format (only pth/safetensors are checked this way). */
async function checkReadable(entry: ModelEntry, f: ModelFile, file: string): Promise<void> {
  const format = fileFormat(entry, f);
  if (format !== 'pth' && format !== 'safetensors') return;
  try {
    if (format === 'pth') await readPthIndex(file);
    else await readSafetensorsHeader(file);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new AtelierError('E_WEIGHTS_INVALID', `The file for "${entry.name}" is not a readable ${format} weight file (${reason.replace(/\.$/, '')})`, {
      subject: file,
      hint: `nothing was installed; fetch it again from ${entry.page}`,
      cause: e,
    });
  }
}

async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFile(`${file}.tmp`, JSON.stringify(value, null, 2) + '\n');
  await rename(`${file}.tmp`, file);
}

/** A record for a model installed without one (installed by hand, or by an older version). */
async function writeRecordFor(entry: ModelEntry, wanted: ModelFile[], status: ModelStatus, source: string, options: StoreOptions): Promise<InstallRecord> {
  const files: InstalledFileRecord[] = [];
  for (const fs of status.files) {
    if (!fs.installed) continue;
    const digest = await sha256File(fs.absolute);
    const f = wanted.find((w) => w.path === fs.path) ?? entry.files.find((w) => w.path === fs.path)!;
    files.push({ path: fs.path, ...digest, checksumVerified: f.sha256 !== null && f.sha256 === digest.sha256, source });
  }
  const record = makeRecord(entry, files, undefined);
  await writeJsonAtomic(recordPath(entry.name, options), record);
  return record;
}

/** Installs of one model within this process wait for each other (vitest workers may share a pid). */
const localLocks = new Map<string, Promise<void>>();

/**
 * One installer per model at a time: a lock file holding the owner's pid (stale locks are taken
 * over). Another live process holding it is an error, or is waited for with `wait`.
 */
async function lock(name: string, options: StoreOptions, wait: boolean): Promise<() => Promise<void>> {
  const file = path.join(modelsRoot(options), '.locks', `${name}.lock`);
  await mkdir(path.dirname(file), { recursive: true }).catch((e: unknown) => {
    throw wrapError(e, 'E_OUTPUT_WRITE', 'The model store is not writable', { subject: file });
  });
  while (localLocks.has(file)) await localLocks.get(file);
  let releaseLocal!: () => void;
  localLocks.set(file, new Promise<void>((resolve) => (releaseLocal = resolve)));
  const giveUp = () => {
    localLocks.delete(file);
    releaseLocal();
  };
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      const fh = await open(file, 'wx');
      await fh.write(String(process.pid));
      await fh.close();
      return async () => {
        await unlink(file).catch(() => {});
        giveUp();
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        giveUp();
        throw wrapError(e, 'E_OUTPUT_WRITE', 'The model store is not writable', { subject: file });
      }
      const owner = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) {
        if (wait && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        giveUp();
        throw new AtelierError('E_DOWNLOAD', `Another atelier process (pid ${owner}) is installing "${name}"`, {
          subject: file,
          hint: 'wait for it to finish, then run the command again',
        });
      }
      await unlink(file).catch(() => {}); // stale: its owner is gone
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** For messages: where a pull would take files from. */
export function describeSource(options: { from?: string | ModelMirror } = {}): string {
  const mirror = options.from === undefined ? mirrorFromEnv() : typeof options.from === 'string' ? parseMirror(options.from) : options.from;
  return mirror ? `mirror ${describeMirror(mirror)}` : 'upstream';
}
