import { existsSync } from 'node:fs';
import { AtelierError } from '../core/errors.js';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '../engine/weights/safetensors.js';
import type { TensorMap, WeightTensor } from '../engine/weights/tensor.js';

/**
 * Training checkpoints, the part every trainer shares: one safetensors file holding the state a
 * resume needs, with the trainer's format tag and the iteration in its metadata. Written
 * atomically (a crash mid-save leaves the previous checkpoint), refused on resume when written by
 * another trainer.
 */

export async function writeCheckpoint(
  file: string,
  state: { format: string; iteration: number; tensors: WeightTensor[]; metadata: Record<string, string> },
): Promise<void> {
  await writeSafetensors(file, state.tensors, { metadata: { format: state.format, ...state.metadata, iteration: String(state.iteration) } });
}

export async function readCheckpoint(file: string, format: string): Promise<{ tensors: TensorMap; metadata: Record<string, string>; iteration: number }> {
  if (!existsSync(file)) throw new AtelierError('E_FILE_NOT_FOUND', `Nothing to resume: ${file} does not exist`, { hint: 'start without --resume' });
  const header = await readSafetensorsHeader(file);
  if (header.metadata.format !== format) {
    throw new AtelierError('E_WEIGHTS_INVALID', 'Not a training checkpoint of this trainer', {
      subject: file,
      expected: `safetensors metadata format ${format}`,
      received: header.metadata.format ?? 'no format',
    });
  }
  const iteration = Number(header.metadata.iteration);
  if (!Number.isInteger(iteration) || iteration < 0) {
    throw new AtelierError('E_WEIGHTS_INVALID', 'The training checkpoint has no iteration count', { subject: file, received: JSON.stringify(header.metadata.iteration) });
  }
  return { tensors: await readSafetensors(file), metadata: header.metadata, iteration };
}

/** Parameters laid out back to back in one array, by name and shape (how trainers hold them for Adam). */
export interface PackedParameters {
  specs: { name: string; shape: number[] }[];
  offsets: number[];
}

/** Adam's moments as tensors `optimizer.m.<name>` and `optimizer.v.<name>`, beside the parameters. */
export function optimizerTensors(packed: PackedParameters, state: { m: Float32Array; v: Float32Array }): WeightTensor[] {
  const out: WeightTensor[] = [];
  packed.specs.forEach((s, i) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const at = packed.offsets[i]!;
    out.push({ name: `optimizer.m.${s.name}`, shape: s.shape, data: state.m.subarray(at, at + size) });
    out.push({ name: `optimizer.v.${s.name}`, shape: s.shape, data: state.v.subarray(at, at + size) });
  });
  return out;
}

/** Adam's moments back from `optimizerTensors`; a checkpoint without them is refused. */
export function optimizerState(packed: PackedParameters, tensors: TensorMap, length: number, file: string): { m: Float32Array; v: Float32Array } {
  const m = new Float32Array(length);
  const v = new Float32Array(length);
  packed.specs.forEach((s, i) => {
    const mt = tensors.get(`optimizer.m.${s.name}`);
    const vt = tensors.get(`optimizer.v.${s.name}`);
    if (!mt || !vt) throw new AtelierError('E_WEIGHTS_INVALID', `The training checkpoint lacks the optimiser state of ${s.name}`, { subject: file });
    m.set(mt.data, packed.offsets[i]!);
    v.set(vt.data, packed.offsets[i]!);
  });
  return { m, v };
}
