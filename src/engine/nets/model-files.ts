import { existsSync } from 'node:fs';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { atelierHome } from '../store.js';
import { readWeights } from '../weights/read.js';
import type { TensorMap } from '../weights/tensor.js';

/**
 * The files of a multi-file published model (an encoder/decoder set, MicroAST's four parts), read
 * from where the model store installs them: `$ATELIER_HOME/models/NAME/FILE`. A missing file is
 * E_WEIGHTS_MISSING with the command that installs the model; nothing is ever downloaded here.
 */
export function modelFilePath(model: string, file: string): string {
  const full = path.join(atelierHome(), 'models', model, file);
  if (!existsSync(full)) {
    throw new AtelierError('E_WEIGHTS_MISSING', `The model "${model}" is not installed (its file ${file} is missing)`, {
      subject: model,
      expected: full,
      hint: `run \`atelier models pull ${model}\` (or \`atelier models pull ${model} --from DIR\` from a folder holding its files)`,
    });
  }
  return full;
}

/**
 * The tensors of one file of an installed model. Training checkpoints that wrap their state dict
 * (`{epoch, model: {...}}`, as Collaborative Distillation's) are flattened to the inner names.
 */
export async function readModelFile(model: string, file: string): Promise<TensorMap> {
  return readStateDict(modelFilePath(model, file));
}

/** A weight file's tensors, with a training checkpoint's `model.` wrapper taken off. */
export async function readStateDict(file: string): Promise<TensorMap> {
  const map = await readWeights(file);
  const prefix = 'model.';
  if ([...map.keys()].every((k) => k.startsWith(prefix))) {
    return new Map([...map].map(([k, t]) => [k.slice(prefix.length), { ...t, name: k.slice(prefix.length) }]));
  }
  return map;
}
