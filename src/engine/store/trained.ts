import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { AtelierError, wrapError } from '../../core/errors.js';
import { atelierHome, type StoreOptions } from '../store.js';
import { findModel, loadManifest } from './manifest.js';

/**
 * Networks the user trained (`atelier train cyclegan --name NAME`), kept beside the published
 * models as `<atelier home>/trained/<kind>/<NAME>.safetensors`, so a method finds them by name
 * (`neural.cyclegan --model NAME`). The published models' manifest does not list them: they have
 * no download and no checksum to verify, only the metadata their trainer wrote.
 */

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/i;

export function checkTrainedModelName(name: string): void {
  if (!NAME.test(name)) {
    throw new AtelierError('E_PARAM', `Invalid trained-model name ${JSON.stringify(name)}`, {
      expected: 'letters, digits, dots, dashes or underscores (at most 64), starting with a letter or digit',
      received: JSON.stringify(name),
    });
  }
}

function trainedDir(kind: string, options: StoreOptions): string {
  return path.join(atelierHome(options), 'trained', kind);
}

/** Copy a trained weight file into the store under `name` (atomically: a copy, then a rename). */
export function installTrainedModel(kind: string, name: string, file: string, options: StoreOptions = {}): string {
  checkTrainedModelName(name);
  const dir = trainedDir(kind, options);
  mkdirSync(dir, { recursive: true });
  const target = path.join(dir, `${name}.safetensors`);
  const temp = `${target}.${process.pid}.tmp`;
  try {
    copyFileSync(file, temp);
    renameSync(temp, target);
  } catch (e) {
    rmSync(temp, { force: true });
    throw new AtelierError('E_OUTPUT_WRITE', `The trained model could not be stored as ${name}`, { subject: target, cause: e });
  }
  return target;
}

/** The names of the stored trained models of a kind. */
export function listTrainedModels(kind: string, options: StoreOptions = {}): string[] {
  const dir = trainedDir(kind, options);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors'))
    .map((f) => f.slice(0, -'.safetensors'.length))
    .sort();
}

/**
 * The file of a model given as a stored name or a path to a .safetensors file. Neither: a clear
 * error listing the stored names and how to train one.
 */
export function resolveTrainedModel(kind: string, model: string, options: StoreOptions = {}): string {
  if (model.includes('/') || model.includes('\\') || model.endsWith('.safetensors')) {
    if (!existsSync(model)) throw new AtelierError('E_FILE_NOT_FOUND', `No trained ${kind} model at ${model}`, { subject: model });
    return model;
  }
  checkTrainedModelName(model);
  const file = path.join(trainedDir(kind, options), `${model}.safetensors`);
  if (existsSync(file)) return file;
  const names = listTrainedModels(kind, options);
  throw new AtelierError('E_WEIGHTS_MISSING', `No trained ${kind} model named ${model}`, {
    subject: model,
    expected: names.length > 0 ? `one of ${names.join(', ')}, or a .safetensors file` : 'a .safetensors file, or the name of a model trained with --name',
    hint: `train one with \`atelier train ${kind} … --name ${model}\``,
  });
}

/** Names claimed by trainings running in this process (`kind/name`). */
const claimedHere = new Set<string>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claim a name for a training's result before the training starts, so that two trainings never
 * write one model: a lock file `<kind>/.claims/<name>.lock` holding the trainer's pid. Refused
 * (E_OUTPUT_EXISTS) while another training holds it (this process, or another live one; a claim
 * whose process is gone is taken over), when a published model has the name, or when a trained
 * model of that name exists and `force` is not set. `release()` when the training ends, however.
 */
export async function claimTrainedModel(kind: string, name: string, options: StoreOptions & { force?: boolean } = {}): Promise<{ release: () => Promise<void> }> {
  checkTrainedModelName(name);
  let published = false;
  try {
    findModel(options.manifest ?? loadManifest(), name);
    published = true;
  } catch {
    // not a published name
  }
  if (published) {
    throw new AtelierError('E_OUTPUT_EXISTS', `"${name}" is the name of a published model`, { subject: 'name', hint: 'choose another --name for the trained model' });
  }
  const dir = trainedDir(kind, options);
  if (!options.force && existsSync(path.join(dir, `${name}.safetensors`))) {
    throw new AtelierError('E_OUTPUT_EXISTS', `A trained ${kind} model named "${name}" exists already`, {
      subject: path.join(dir, `${name}.safetensors`),
      hint: 'choose another --name, or add --force to replace it when this training finishes',
    });
  }
  const lockFile = path.join(dir, '.claims', `${name}.lock`);
  const key = `${kind}/${name}`;
  const busy = (owner: string) =>
    new AtelierError('E_OUTPUT_EXISTS', `Another training (${owner}) is writing the ${kind} model "${name}"`, {
      subject: lockFile,
      hint: 'wait for it to finish or choose another --name: two trainings never write one model',
    });
  if (claimedHere.has(key)) throw busy(`in this process, pid ${process.pid}`);
  try {
    mkdirSync(path.dirname(lockFile), { recursive: true });
  } catch (e) {
    throw wrapError(e, 'E_OUTPUT_WRITE', 'The trained-model folder is not writable', { subject: dir });
  }
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(lockFile, 'wx');
      await fh.write(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw wrapError(e, 'E_OUTPUT_WRITE', 'The training could not claim its model name', { subject: lockFile });
      const owner = Number((await readFile(lockFile, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) throw busy(`pid ${owner}`);
      await unlink(lockFile).catch(() => {}); // stale: its training is gone
    }
  }
  claimedHere.add(key);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      claimedHere.delete(key);
      await unlink(lockFile).catch(() => {});
    },
  };
}

/** Every kind with stored trained models, with their names (for `atelier models list`). */
export function listTrainedKinds(options: StoreOptions = {}): { kind: string; names: string[]; dir: string }[] {
  const root = path.join(atelierHome(options), 'trained');
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => ({ kind: e.name, names: listTrainedModels(e.name, options), dir: path.join(root, e.name) }))
    .filter((k) => k.names.length > 0)
    .sort((a, b) => a.kind.localeCompare(b.kind));
}
