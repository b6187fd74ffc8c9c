import { existsSync, mkdirSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { AtelierError, wrapError } from '../../core/errors.js';
import { addTrainedModel, atelierHome, knownModelNames, modelFiles, trainedModelEntries, type ModelStatus, type StoreOptions } from '../store.js';
import { findModel, loadManifest, type ModelEntry, type ModelFormat, type TrainedInfo } from './manifest.js';
import { checkTrainedName } from './trained-entry.js';

/**
 * Models made here, by kind: what trainers and the methods that take a trained model by name
 * (`neural.fast --model`, `neural.multistyle --added`, `--lora`, `neural.cyclegan --model`,
 * `neural.stargan --model`, `neural.capvst --weights`) use. They are models of the one store
 * (`models/NAME/` with `trained.json`, store/trained-entry.ts) whether the CLI or a server
 * training job made them, so both find them by the same names; the kind is the entry's `network`.
 */

/** A path rather than a name: a separator, or the weight file's own extension. */
function isFileSpec(model: string): boolean {
  return model.includes('/') || model.includes('\\') || model.endsWith('.safetensors');
}

/** The entries of the trained models of a kind. */
function entriesOfKind(kind: string, options: StoreOptions): ModelEntry[] {
  return trainedModelEntries(options).filter((e) => e.network === kind);
}

/** The names of the stored trained models of a kind. */
export function listTrainedModels(kind: string, options: StoreOptions = {}): string[] {
  return entriesOfKind(kind, options).map((e) => e.name);
}

/** The first safetensors file of a store model (a trained model's weights; its preview is a jpeg beside them). */
function weightsOf(name: string, options: StoreOptions): string {
  const files = modelFiles(name, options).files;
  return (files.find((f) => f.format === 'safetensors') ?? files[0]!).absolute;
}

/**
 * The file of a model given as a path to a .safetensors file or a name of the store: a model made
 * here of this kind (also by the name it had in the older CLI store), or a published model (the
 * method reading it checks its layout). A model made here of another kind is refused, naming both.
 */
export function resolveTrainedModel(kind: string, model: string, options: StoreOptions = {}): string {
  if (isFileSpec(model)) {
    if (!existsSync(model)) throw new AtelierError('E_FILE_NOT_FOUND', `No trained ${kind} model at ${model}`, { subject: model });
    return model;
  }
  const trained = trainedModelEntries(options);
  // Its name, else the name it had in the old CLI store (where another kind could share it).
  const named = trained.find((e) => e.name === model);
  const entry = (named?.network === kind ? named : undefined) ?? trained.find((e) => e.network === kind && e.trained?.formerName === model) ?? named;
  if (entry) {
    if (entry.network !== kind) {
      throw new AtelierError('E_PARAM', `"${model}" is a ${entry.network} model (made by ${entry.provenance.split(',')[0]}), not a ${kind} model`, {
        subject: model,
        expected: `a ${kind} model${listTrainedModels(kind, options).length > 0 ? `: one of ${listTrainedModels(kind, options).join(', ')}` : ''}`,
        received: `${entry.name}, a ${entry.network} model`,
        hint: `its own method is ${entry.trained?.use?.method ?? 'the one its trainer names'} (see \`atelier models info ${entry.name}\`)`,
      });
    }
    return weightsOf(entry.name, options);
  }
  if (knownModelNames(options).includes(model)) return weightsOf(model, options);
  const names = listTrainedModels(kind, options);
  throw new AtelierError('E_WEIGHTS_MISSING', `No trained ${kind} model named ${model}`, {
    subject: model,
    expected: names.length > 0 ? `one of ${names.join(', ')}, or a .safetensors file` : 'a .safetensors file, or the name of a model trained with --name',
    hint: `train one with \`atelier train ${kind} … --name ${model}\`; \`atelier models list\` shows the models made here`,
  });
}

/** How a trainer describes what it made, for the store. */
export interface TrainedModelFacts {
  description: string;
  trainer: string;
  iterations: number;
  use?: TrainedInfo['use'];
  params?: Record<string, unknown>;
  job?: string;
  /** Files stored beside the weights (a server job's last preview). */
  extraFiles?: { path: string; from: string; format?: ModelFormat }[];
  /** Replace a model made here of that name (never a published one). */
  force?: boolean;
}

/**
 * Store a trained weight file as the model `name` of a kind: `models/NAME/` with the file (under
 * its own base name) and `trained.json`. All or nothing (store.ts addTrainedModel).
 */
export async function installTrainedModel(kind: string, name: string, file: string, facts: TrainedModelFacts, options: StoreOptions = {}): Promise<ModelStatus> {
  return addTrainedModel(
    name,
    {
      description: facts.description,
      network: kind,
      trained: {
        trainer: facts.trainer,
        iterations: facts.iterations,
        createdAt: new Date().toISOString(),
        ...(facts.use && { use: facts.use }),
        ...(facts.job && { job: facts.job }),
        ...(facts.params && { params: facts.params }),
      },
      files: [{ path: path.basename(file), from: file }, ...(facts.extraFiles ?? [])],
    },
    { ...options, replace: Boolean(facts.force) },
  );
}

/** Names claimed by trainings running in this process. */
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
 * write one model: a lock file `models/.claims/<name>.lock` holding the trainer's pid. Names are
 * one namespace for every kind (a fast network and an adapter cannot share one). Refused
 * (E_OUTPUT_EXISTS) while another training holds it (this process, or another live one; a claim
 * whose process is gone is taken over), when a published model has the name, or when a model of
 * that name exists and `force` is not set (or it is not a model made here). `release()` when the
 * training ends, however.
 */
export async function claimTrainedModel(kind: string, name: string, options: StoreOptions & { force?: boolean } = {}): Promise<{ release: () => Promise<void> }> {
  checkTrainedName(name);
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
  const models = path.join(atelierHome(options), 'models');
  const existing = trainedModelEntries(options).find((e) => e.name === name);
  if (existing ? !options.force : existsSync(path.join(models, name))) {
    throw new AtelierError('E_OUTPUT_EXISTS', `A model named "${name}" exists already${existing ? ` (a ${existing.network} model made by ${existing.provenance.split(',')[0]})` : ''}`, {
      subject: name,
      hint: existing ? 'choose another --name, or add --force to replace it when this training finishes' : 'choose another --name',
    });
  }
  const lockFile = path.join(models, '.claims', `${name}.lock`);
  const busy = (owner: string) =>
    new AtelierError('E_OUTPUT_EXISTS', `Another training (${owner}) is writing the ${kind} model "${name}"`, {
      subject: lockFile,
      hint: 'wait for it to finish or choose another --name: two trainings never write one model',
    });
  if (claimedHere.has(name)) throw busy(`in this process, pid ${process.pid}`);
  try {
    mkdirSync(path.dirname(lockFile), { recursive: true });
  } catch (e) {
    throw wrapError(e, 'E_OUTPUT_WRITE', 'The model store is not writable', { subject: models });
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
  claimedHere.add(name);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      claimedHere.delete(name);
      await unlink(lockFile).catch(() => {});
    },
  };
}
