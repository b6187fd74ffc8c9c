import { AtelierError, isAtelierError } from '../../core/errors.js';
import { readModelWeights } from '../store.js';
import type { TensorMap } from '../weights/tensor.js';

/** The model-store names of the published VGG-19 weights (torchvision layout, normalised layout). */
export const VGG_MODELS = ['vgg19', 'vgg_normalised'] as const;
export type VggModel = (typeof VGG_MODELS)[number];

/**
 * Load installed VGG-19 weights by model name. Fails with E_WEIGHTS_MISSING (and the command that
 * installs them) when the model store has no copy; never downloads.
 */
export async function loadVggWeights(model: VggModel): Promise<TensorMap> {
  try {
    return await readModelWeights(model);
  } catch (e) {
    if (isAtelierError(e) && e.code === 'E_WEIGHTS_MISSING') {
      throw new AtelierError('E_WEIGHTS_MISSING', `The ${model} weights are not installed`, {
        subject: model,
        hint: `${e.hint ?? `run \`atelier models pull ${model}\``}; or pass --weights random to try the method with seeded random weights`,
        cause: e,
      });
    }
    throw e;
  }
}
