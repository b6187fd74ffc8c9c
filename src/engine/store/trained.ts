import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { atelierHome, type StoreOptions } from '../store.js';

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
