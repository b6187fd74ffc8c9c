import { isModelInstalled } from '../engine/store.js';

/** Whether a model's weights are installed in the model store, for `atelier methods`. */
export function weightsInstalled(model: string): boolean {
  return isModelInstalled(model);
}
