/**
 * Whether a model's weights are installed, for `atelier methods` and `GET /api/methods` (engine
 * layer so that cli and server share it). Until the model store lands,
 * no method declares weights, so nothing is ever asked.
 */
export function weightsInstalled(_model: string): boolean {
  return false;
}
