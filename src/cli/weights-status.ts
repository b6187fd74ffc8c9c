/**
 * Whether a model's weights are installed, for `atelier methods`. Until the model store lands,
 * no method declares weights, so nothing is ever asked.
 */
export function weightsInstalled(_model: string): boolean {
  return false;
}
