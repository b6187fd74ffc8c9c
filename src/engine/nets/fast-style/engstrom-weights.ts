import { AtelierError } from '../../../core/errors.js';
import type { TensorMap, WeightTensor } from '../../weights/tensor.js';
import { ENGSTROM_NET, transformerNetNorms, transformerNetShapes } from '../transformer-net.js';

/**
 * Engstrom's fast-style-transfer checkpoints as the deeplearn.js port publishes them: TensorFlow
 * names its unnamed variables `Variable`, `Variable_1`, … in creation order, and each of the 16
 * layers creates three: its kernel, then its instance norm's shift (β), then its scale (γ)
 * (`_conv_layer` → `_instance_norm` in the original src/transform.py). Kernels are HWIO for convs
 * and HWOI for the two transposed convs (`conv2d_transpose` filters are [h, w, out, in]).
 * Mapped here onto the Johnson net's names (`ENGSTROM_NET`): kernels to OIHW / ConvTranspose2d's
 * [in, out, h, w], norms to `inK.weight` (γ) and `inK.bias` (β).
 */

const CONV_KEYS = [
  'conv1', 'conv2', 'conv3',
  ...[1, 2, 3, 4, 5].flatMap((r) => [`res${r}.conv1`, `res${r}.conv2`]),
  'deconv1', 'deconv2', 'deconv3',
];

const variableName = (i: number) => (i === 0 ? 'Variable' : `Variable_${i}`);

/** [d0, d1, d2, d3] → the permutation `perm` of it, values moved accordingly. */
function permute4(t: WeightTensor, perm: [number, number, number, number]): { shape: number[]; data: Float32Array } {
  const shape = perm.map((p) => t.shape[p]!);
  const inStride = [t.shape[1]! * t.shape[2]! * t.shape[3]!, t.shape[2]! * t.shape[3]!, t.shape[3]!, 1];
  const data = new Float32Array(t.data.length);
  let o = 0;
  for (let a = 0; a < shape[0]!; a++)
    for (let b = 0; b < shape[1]!; b++)
      for (let c = 0; c < shape[2]!; c++)
        for (let d = 0; d < shape[3]!; d++) {
          const idx = [a, b, c, d];
          let src = 0;
          for (let k = 0; k < 4; k++) src += idx[k]! * inStride[perm[k]!]!;
          data[o++] = t.data[src]!;
        }
  return { shape, data };
}

export function johnsonWeightsFromEngstrom(checkpoint: TensorMap, subject: string): TensorMap {
  const shapes = transformerNetShapes(ENGSTROM_NET);
  const norms = transformerNetNorms(ENGSTROM_NET);
  const out: TensorMap = new Map();
  const take = (i: number, expected: number[]): WeightTensor => {
    const t = checkpoint.get(variableName(i));
    if (!t || t.shape.length !== expected.length || t.shape.some((d, k) => d !== expected[k])) {
      throw new AtelierError('E_WEIGHTS_INVALID', `The checkpoint does not hold Engstrom's fast-style network`, {
        subject,
        expected: `${variableName(i)} of shape [${expected.join(', ')}] (48 variables, 3 per layer)`,
        received: t ? `[${t.shape.join(', ')}]` : `no ${variableName(i)} among ${checkpoint.size} variables`,
      });
    }
    return t;
  };
  CONV_KEYS.forEach((key, layer) => {
    const transposed = key === 'deconv1' || key === 'deconv2';
    const name = transposed ? `${key}.conv_transpose.weight` : `${key}.conv2d.weight`;
    const [a, b, kh, kw] = shapes.get(name)!;
    // Ours: conv [out, in, h, w] from HWIO; transposed [in, out, h, w] from HWOI (= [h, w, out, in]).
    const moved = permute4(take(3 * layer, [kh!, kw!, b!, a!]), [3, 2, 0, 1]);
    out.set(name, { name, ...moved });
    const norm = norms[layer]!;
    const beta = take(3 * layer + 1, [norm.channels]);
    const gamma = take(3 * layer + 2, [norm.channels]);
    out.set(`${norm.key}.weight`, { name: `${norm.key}.weight`, shape: [norm.channels], data: gamma.data });
    out.set(`${norm.key}.bias`, { name: `${norm.key}.bias`, shape: [norm.channels], data: beta.data });
  });
  if (checkpoint.size !== 3 * CONV_KEYS.length) {
    throw new AtelierError('E_WEIGHTS_INVALID', 'The checkpoint has variables the fast-style network does not use', {
      subject,
      expected: `${3 * CONV_KEYS.length} variables`,
      received: `${checkpoint.size}`,
    });
  }
  return out;
}
