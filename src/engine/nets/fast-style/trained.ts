import { statSync } from 'node:fs';
import { AtelierError } from '../../../core/errors.js';
import { readSafetensors, readSafetensorsHeader } from '../../weights/safetensors.js';
import type { TensorMap } from '../../weights/tensor.js';
import type { JohnsonNetSpec } from '../transformer-net.js';

/**
 * A fast network trained here (`atelier train fast`), stored as a trained model of kind 'fast'
 * (engine/store/trained.ts): one safetensors file with the weights under the PyTorch examples'
 * names and, in its metadata, the format tag, the architecture (`spec`, JSON) and the iteration
 * count, so `neural.fast --model NAME` can rebuild the network without anything else.
 */

export const FAST_TRAINED_KIND = 'fast';
const FORMAT = 'atelier-fast-style-1';

export function trainedFastMetadata(spec: JohnsonNetSpec, iterations: number, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, format: FORMAT, spec: JSON.stringify(spec), iterations: String(iterations) };
}

export interface TrainedFastHeader {
  spec: JohnsonNetSpec;
  iterations: number;
  /** Changes when the file is replaced (a cache key). */
  stamp: string;
}

export async function readTrainedFastHeader(file: string): Promise<TrainedFastHeader> {
  const { metadata } = await readSafetensorsHeader(file);
  let spec: JohnsonNetSpec | undefined;
  try {
    spec = metadata.format === FORMAT ? (JSON.parse(metadata.spec ?? '') as JohnsonNetSpec) : undefined;
  } catch {
    spec = undefined;
  }
  if (!spec || typeof spec.width !== 'number') {
    throw new AtelierError('E_WEIGHTS_INVALID', 'Not a fast network trained by atelier train fast', {
      subject: file,
      expected: `safetensors metadata format ${FORMAT} with the network's spec`,
      received: metadata.format ?? 'no format',
    });
  }
  return { spec, iterations: Number(metadata.iterations ?? 0), stamp: String(statSync(file).mtimeMs) };
}

export async function readTrainedFastNetwork(file: string): Promise<TrainedFastHeader & { weights: TensorMap }> {
  const header = await readTrainedFastHeader(file);
  return { ...header, weights: await readSafetensors(file) };
}
