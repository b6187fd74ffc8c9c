import type { CapVstMode } from '../../src/engine/nets/capvst/architecture.js';
import { randomCapVstTensors } from '../../src/engine/nets/capvst/state-dict.js';
import { savedTensor, stateDict, writeTorchZip, type SavedValue } from './torch-save.js';

/**
 * Writes a CAP-VSTNet checkpoint the way the authors' code saves one,
 * `torch.save({'state_dict': RevResNet.state_dict()})`: a plain dict whose `state_dict` is an
 * OrderedDict with exactly the published 192 keys and shapes, seeded random values.
 * `drop` leaves a tensor out and `reshape` gives one the wrong shape, for the error paths.
 */
export async function writeCapVstCheckpoint(
  file: string,
  mode: CapVstMode,
  seed: number,
  options: { drop?: string; reshape?: { name: string; shape: number[] }; extra?: Record<string, SavedValue> } = {},
): Promise<void> {
  const entries: [string, SavedValue][] = [];
  for (const t of randomCapVstTensors(mode, seed, 1).values()) {
    if (t.name === options.drop) continue;
    if (options.reshape?.name === t.name) {
      const shape = options.reshape.shape;
      entries.push([t.name, savedTensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape)]);
    } else {
      entries.push([t.name, savedTensor(t.data, t.shape)]);
    }
  }
  await writeTorchZip(file, { dict: { state_dict: stateDict(entries), ...options.extra } });
}
