import { AtelierError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import type { Graph, Tensor } from '../graph/graph.js';
import type { KerasWeights } from '../weights/keras-hdf5.js';
import type { TensorMap } from '../weights/tensor.js';

/**
 * The LPIPS computation (Zhang et al. 2018) on SqueezeNet 1.1 features, with the weights the
 * model store has (`lpips-squeeze`): LPIPS's `squeeze` linear heads and a Keras SqueezeNet 1.1.
 *
 * WHAT THIS IS NOT: the published LPIPS-squeeze. Those heads were trained on torchvision's
 * `squeezenet1_1`, whose weights were trained from scratch in PyTorch (pytorch/vision PR #49,
 * 2017). The Keras file (rcmalli/keras-squeezenet, forked by DeepCognition) holds the original
 * Caffe SqueezeNet v1.1 weights converted (its README: "converted from original caffe network";
 * BGR input, mean 104.006/116.669/122.679 subtracted, 0–255). Same architecture, different
 * training run: channel k of one network has nothing to do with channel k of the other, so the
 * heads weight features they were not fitted to. The result is a deterministic, image-sensitive
 * perceptual distance, but not calibrated to human judgements and not comparable with published
 * LPIPS numbers. The metric built on it says so.
 *
 * Architecture (SqueezeNet v1.1, as Caffe and torchvision define it): conv1 3×3 stride 2 (no
 * padding) + ReLU; max pools 3×3 stride 2 with ceil rounding (Caffe's pooling rounds up and
 * torchvision uses ceil_mode=True; the Keras port's 'valid' pooling rounds down, a deviation of the
 * port we do not copy); fire modules: 1×1 squeeze + ReLU, then 1×1 and 3×3 (pad 1) expands + ReLU,
 * concatenated [1×1, 3×3]. LPIPS taps (its `squeezenet` slices): relu after conv1 (64), fire3
 * (128), fire5 (256), fire6 (384), fire7 (384), fire8 (512), fire9 (512).
 *
 * Input: the Caffe network's own preprocessing (RGB [0,1] → BGR × 255 − mean), folded into conv1
 * (exact: conv1 has no padding), so the graph takes RGB in [0, 1]. LPIPS's ScalingLayer belongs to
 * the torchvision trunk and is not applied.
 */

/** Caffe SqueezeNet v1.1 BGR means (from the Keras port's README). */
export const SQUEEZENET_CAFFE_MEAN_BGR = [104.006, 116.669, 122.679];
const NORM_EPS = 1e-10;

/** Fire modules: name, squeeze width, each expand width; `pool` before it, `tap` after it. */
const FIRES: { name: string; squeeze: number; expand: number; pool: boolean; tap: boolean }[] = [
  { name: 'fire2', squeeze: 16, expand: 64, pool: true, tap: false },
  { name: 'fire3', squeeze: 16, expand: 64, pool: false, tap: true },
  { name: 'fire4', squeeze: 32, expand: 128, pool: true, tap: false },
  { name: 'fire5', squeeze: 32, expand: 128, pool: false, tap: true },
  { name: 'fire6', squeeze: 48, expand: 192, pool: true, tap: true },
  { name: 'fire7', squeeze: 48, expand: 192, pool: false, tap: true },
  { name: 'fire8', squeeze: 64, expand: 256, pool: false, tap: true },
  { name: 'fire9', squeeze: 64, expand: 256, pool: false, tap: true },
];

export const LPIPS_SQUEEZE_LAYERS = ['relu1', 'fire3', 'fire5', 'fire6', 'fire7', 'fire8', 'fire9'] as const;
const TAP_WIDTHS = [64, 128, 256, 384, 384, 512, 512];

/** SqueezeNet 1.1 trunk weights in OIHW, keyed `conv1.weight`, `fire2.squeeze.weight`, … */
export type SqueezeTrunk = TensorMap;

/**
 * Map the Keras file's layers (kernel HWIO, bias) onto the trunk, folding the Caffe
 * preprocessing into conv1. Refuses a file without the expected layers or shapes.
 */
export function squeezeTrunkFromKeras(keras: KerasWeights): SqueezeTrunk {
  const trunk: SqueezeTrunk = new Map();
  const layer = (name: string, cin: number, cout: number, k: number) => {
    const l = keras.layers.find((x) => x.name === name);
    const [kernel, bias] = l?.weights ?? [];
    const want = [k, k, cin, cout];
    if (!kernel || !bias || kernel.shape.join() !== want.join() || bias.shape.join() !== String(cout)) {
      throw new AtelierError('E_WEIGHTS_INVALID', `The SqueezeNet weights lack layer ${name} of the expected shape`, {
        subject: keras.file,
        expected: `kernel [${want.join(', ')}] and bias [${cout}]`,
        received: l ? l.weights.map((w) => `[${w.shape.join(', ')}]`).join(' and ') || 'no weights' : 'no such layer',
      });
    }
    // HWIO → OIHW
    const oihw = new Float32Array(cout * cin * k * k);
    for (let h = 0; h < k; h++) for (let w = 0; w < k; w++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) {
      oihw[((o * cin + i) * k + h) * k + w] = kernel.data[((h * k + w) * cin + i) * cout + o]!;
    }
    return { oihw, bias: Float32Array.from(bias.data) };
  };
  const put = (key: string, shape: number[], data: Float32Array) => trunk.set(key, { name: key, shape, data });

  // conv1 sees BGR×255 − mean: take RGB [0,1] instead (reverse input channels, ×255, mean into the bias)
  const c1 = layer('conv1', 3, 64, 3);
  const w1 = new Float32Array(c1.oihw.length);
  const b1 = Float32Array.from(c1.bias);
  for (let o = 0; o < 64; o++) {
    for (let bgr = 0; bgr < 3; bgr++) {
      const rgb = 2 - bgr;
      for (let t = 0; t < 9; t++) {
        const v = c1.oihw[(o * 3 + bgr) * 9 + t]!;
        w1[(o * 3 + rgb) * 9 + t] = 255 * v;
        b1[o] = b1[o]! - v * SQUEEZENET_CAFFE_MEAN_BGR[bgr]!;
      }
    }
  }
  put('conv1.weight', [64, 3, 3, 3], w1);
  put('conv1.bias', [64], b1);
  let cin = 64;
  for (const f of FIRES) {
    const parts: [string, number, number, number][] = [
      ['squeeze1x1', cin, f.squeeze, 1],
      ['expand1x1', f.squeeze, f.expand, 1],
      ['expand3x3', f.squeeze, f.expand, 3],
    ];
    for (const [part, i, o, k] of parts) {
      const l = layer(`${f.name}/${part}`, i, o, k);
      put(`${f.name}.${part}.weight`, [o, i, k, k], l.oihw);
      put(`${f.name}.${part}.bias`, [o], l.bias);
    }
    cin = 2 * f.expand;
  }
  return trunk;
}

/** The heads' names and shapes (`squeeze.pth` of LPIPS v0.1 or v0.0). */
export function lpipsSqueezeHeadShapes(): Map<string, number[]> {
  return new Map(TAP_WIDTHS.map((c, k) => [`lin${k}.model.1.weight`, [1, c, 1, 1]]));
}

function param(g: Graph, weights: TensorMap, key: string, shape: number[], what: string): Tensor {
  const t = weights.get(key);
  if (!t || t.shape.join() !== shape.join()) {
    throw new AtelierError('E_WEIGHTS_INVALID', `${what} weight ${key} is ${t ? 'mis-shaped' : 'missing'}`, {
      expected: `[${shape.join(', ')}]`,
      received: t ? `[${t.shape.join(', ')}]` : `${weights.size} tensors (${[...weights.keys()].slice(0, 3).join(', ')}, …)`,
    });
  }
  return g.param(key, shape, t.data);
}

/**
 * Add the distance to `g` for two images of one size (1×3×H×W, RGB in [0, 1], at least 16 px a
 * side). Returns the total ([1,1,1,1]) and each tap's term.
 */
export function lpipsSqueezeDistance(g: Graph, a: Tensor, b: Tensor, trunk: SqueezeTrunk, heads: TensorMap): { total: Tensor; layers: Tensor[] } {
  let h = g.concat([a, b], 0);
  const conv = (x: Tensor, key: string, cin: number, cout: number, k: number, stride = 1) =>
    g.relu(g.conv(x, param(g, trunk, `${key}.weight`, [cout, cin, k, k], 'SqueezeNet'), param(g, trunk, `${key}.bias`, [cout], 'SqueezeNet'), { stride, pad: k === 3 && stride === 1 ? 1 : 0 }));
  const layers: Tensor[] = [];
  const headShapes = [...lpipsSqueezeHeadShapes()];
  const tap = (x: Tensor) => {
    const norm = g.add(g.sqrt(g.reduceSum(g.mul(x, x), [1], true)), g.scalar(NORM_EPS));
    const [n0, n1] = g.split(g.div(x, norm), 0, [1, 1]) as [Tensor, Tensor];
    const d = g.sub(n0, n1);
    const [key, shape] = headShapes[layers.length]!;
    layers.push(g.reduceMean(g.conv(g.mul(d, d), param(g, heads, key, shape, 'LPIPS squeeze head'), undefined), [2, 3], true));
  };
  h = conv(h, 'conv1', 3, 64, 3, 2);
  tap(h);
  let cin = 64;
  for (const f of FIRES) {
    if (f.pool) h = g.maxPool(h, { kernel: 3, stride: 2, ceil: true });
    const s = conv(h, `${f.name}.squeeze1x1`, cin, f.squeeze, 1);
    h = g.concat([conv(s, `${f.name}.expand1x1`, f.squeeze, f.expand, 1), conv(s, `${f.name}.expand3x3`, f.squeeze, f.expand, 3)], 1);
    cin = 2 * f.expand;
    if (f.tap) tap(h);
  }
  let total = layers[0]!;
  for (const t of layers.slice(1)) total = g.add(total, t);
  return { total, layers };
}

/** Seeded random trunk and heads of the same names and shapes, for `--weights random` and tests. */
export function randomLpipsSqueezeWeights(seed: number): { trunk: SqueezeTrunk; heads: TensorMap } {
  const rng = new Rng(seed);
  const trunk: SqueezeTrunk = new Map();
  const heads: TensorMap = new Map();
  const put = (map: TensorMap, key: string, shape: number[], fill: (i: number) => number) =>
    map.set(key, { name: key, shape, data: Float32Array.from({ length: shape.reduce((p, q) => p * q, 1) }, (_, i) => fill(i)) });
  const convShapes: [string, number, number, number][] = [['conv1', 3, 64, 3]];
  let cin = 64;
  for (const f of FIRES) {
    convShapes.push([`${f.name}.squeeze1x1`, cin, f.squeeze, 1], [`${f.name}.expand1x1`, f.squeeze, f.expand, 1], [`${f.name}.expand3x3`, f.squeeze, f.expand, 3]);
    cin = 2 * f.expand;
  }
  for (const [key, i, o, k] of convShapes) {
    const std = Math.sqrt(2 / (i * k * k));
    put(trunk, `${key}.weight`, [o, i, k, k], () => rng.normal() * std);
    put(trunk, `${key}.bias`, [o], () => 0);
  }
  for (const [key, shape] of lpipsSqueezeHeadShapes()) put(heads, key, shape, () => (2 * rng.next()) / shape[1]!);
  return { trunk, heads };
}
