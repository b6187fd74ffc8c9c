import { modelFiles } from '../store.js';
import { readWeights } from '../weights/read.js';
import type { TensorMap } from '../weights/tensor.js';

/**
 * One file of an installed multi-file model (an encoder/decoder set, MicroAST's four parts),
 * resolved by the model store (`modelFiles`): E_WEIGHTS_MISSING with the command that installs the
 * model when it is absent; nothing is ever downloaded here.
 */
export function modelFilePath(model: string, file: string): string {
  return modelFiles(model).file(file);
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
