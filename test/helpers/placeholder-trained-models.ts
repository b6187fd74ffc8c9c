import { addTrainedModel } from '../../src/engine/store.js';
import type { TrainedInfo } from '../../src/engine/store/manifest.js';
import { writeSafetensors } from '../../src/engine/weights/safetensors.js';

/**
 * Store entries for models "made here" whose file is a one-value placeholder: enough for the
 * listings, pickers and name checks that read the store's facts (what a model was made for, what it
 * allows), not for running them. `file` is where the placeholder is written (a temporary path).
 */
export async function placeholderTrainedModels(file: string): Promise<(name: string, network: string, use: NonNullable<TrainedInfo['use']>) => Promise<unknown>> {
  await writeSafetensors(file, [{ name: 'w', shape: [1], data: new Float32Array([0]) }]);
  return (name, network, use) =>
    addTrainedModel(name, {
      description: `${network} made here`,
      network,
      trained: { trainer: network, iterations: 1, createdAt: new Date().toISOString(), use },
      files: [{ path: `${name}.safetensors`, from: file }],
    });
}
