import { AtelierError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import type { Graph, Tensor } from '../graph/graph.js';
import type { TensorMap, WeightTensor } from '../weights/tensor.js';

/**
 * LPIPS v0.1 with the VGG-16 trunk (Zhang, Isola, Efros, Shechtman, Wang 2018, "The unreasonable
 * effectiveness of deep features as a perceptual metric"): both images, scaled to [-1, 1] and
 * shifted/scaled per channel, go through torchvision's VGG-16 `features`; at relu1_2, relu2_2,
 * relu3_3, relu4_3 and relu5_3 the features are unit-normalised along channels, their squared
 * difference is weighted per channel by the learned linear layer (a 1×1 conv to one channel, no
 * bias) and averaged over space; the distance is the sum over the five layers.
 *
 * Weights: the trunk is the torchvision `vgg16` state dict (`features.N.weight/bias`), the linear
 * layers are richzhang/PerceptualSimilarity's `vgg.pth` (`linK.model.1.weight`, shape 1×C×1×1).
 */

export const LPIPS_LAYERS = ['relu1_2', 'relu2_2', 'relu3_3', 'relu4_3', 'relu5_3'] as const;
/** The ScalingLayer constants of LPIPS (inputs in [-1, 1]). */
export const LPIPS_SHIFT = [-0.03, -0.088, -0.188];
export const LPIPS_SCALE = [0.458, 0.448, 0.45];
const NORM_EPS = 1e-10;

/** VGG-16 `features` convs: block channel widths, torchvision indices (conv, relu, …, pool per block). */
const VGG16_BLOCKS = [
  [64, 64],
  [128, 128],
  [256, 256, 256],
  [512, 512, 512],
  [512, 512, 512],
];

interface Vgg16Conv {
  key: string;
  cin: number;
  cout: number;
  /** This conv's ReLU ends an LPIPS slice (the last conv of a block). */
  tap: boolean;
}

function vgg16Convs(): Vgg16Conv[] {
  const convs: Vgg16Conv[] = [];
  let index = 0;
  let cin = 3;
  for (const block of VGG16_BLOCKS) {
    block.forEach((cout, i) => {
      convs.push({ key: `features.${index}`, cin, cout, tap: i === block.length - 1 });
      cin = cout;
      index += 2; // conv, relu
    });
    index += 1; // pool
  }
  return convs;
}

/** Names and shapes the trunk needs (a torchvision vgg16 state dict has these and the classifier). */
export function lpipsTrunkShapes(): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const c of vgg16Convs()) {
    shapes.set(`${c.key}.weight`, [c.cout, c.cin, 3, 3]);
    shapes.set(`${c.key}.bias`, [c.cout]);
  }
  return shapes;
}

/** Names and shapes of the linear layers (`vgg.pth` of LPIPS v0.1). */
export function lpipsLinearShapes(): Map<string, number[]> {
  const widths = VGG16_BLOCKS.map((b) => b[b.length - 1]!);
  return new Map(widths.map((c, k) => [`lin${k}.model.1.weight`, [1, c, 1, 1]]));
}

function weight(g: Graph, weights: TensorMap, key: string, shape: number[], what: string): Tensor {
  const t = weights.get(key);
  if (!t) {
    throw new AtelierError('E_WEIGHTS_INVALID', `${what} weights lack ${key}`, {
      expected: `${[...(what === 'LPIPS linear' ? lpipsLinearShapes() : lpipsTrunkShapes()).keys()].slice(0, 3).join(', ')}, …`,
      received: `${weights.size} tensors (${[...weights.keys()].slice(0, 3).join(', ')}, …)`,
    });
  }
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new AtelierError('E_WEIGHTS_INVALID', `${what} weight ${key} has the wrong shape`, { expected: `[${shape.join(', ')}]`, received: `[${t.shape.join(', ')}]` });
  }
  return g.param(key, shape, t.data);
}

/**
 * Add LPIPS to `g` for two images of one size (each 1×3×H×W, RGB in [0, 1]). Returns the distance
 * (shape [1, 1, 1, 1]) and each layer's term.
 */
export function lpipsDistance(g: Graph, a: Tensor, b: Tensor, trunk: TensorMap, linear: TensorMap): { total: Tensor; layers: Tensor[] } {
  const shift = g.constant(LPIPS_SHIFT, [1, 3, 1, 1]);
  const invScale = g.constant(LPIPS_SCALE.map((s) => 1 / s), [1, 3, 1, 1]);
  // Both images as one batch of two: one pass, one set of weights.
  const x = g.concat([a, b], 0);
  let h = g.mul(g.sub(g.sub(g.scale(x, 2), g.scalar(1)), shift), invScale);
  const linShapes = [...lpipsLinearShapes()];
  const layers: Tensor[] = [];
  const convs = vgg16Convs();
  for (const [i, c] of convs.entries()) {
    h = g.relu(g.conv(h, weight(g, trunk, `${c.key}.weight`, [c.cout, c.cin, 3, 3], 'VGG-16'), weight(g, trunk, `${c.key}.bias`, [c.cout], 'VGG-16'), { pad: 1 }));
    if (!c.tap) continue;
    const k = layers.length;
    const norm = g.add(g.sqrt(g.reduceSum(g.mul(h, h), [1], true)), g.scalar(NORM_EPS));
    const [n0, n1] = g.split(g.div(h, norm), 0, [1, 1]) as [Tensor, Tensor];
    const d = g.sub(n0, n1);
    const [key, shape] = linShapes[k]!;
    const weighted = g.conv(g.mul(d, d), weight(g, linear, key, shape, 'LPIPS linear'), undefined);
    layers.push(g.reduceMean(weighted, [2, 3], true));
    if (i < convs.length - 1) h = g.maxPool(h, { kernel: 2, stride: 2 });
  }
  let total = layers[0]!;
  for (const t of layers.slice(1)) total = g.add(total, t);
  return { total, layers };
}

/** Seeded random weights of the published names and shapes, for `--weights random` and tests. */
export function randomLpipsWeights(seed: number): { trunk: TensorMap; linear: TensorMap } {
  const rng = new Rng(seed);
  const trunk: TensorMap = new Map();
  const linear: TensorMap = new Map();
  const put = (map: TensorMap, name: string, shape: number[], data: Float32Array) => map.set(name, { name, shape, data } satisfies WeightTensor);
  for (const [name, shape] of lpipsTrunkShapes()) {
    const size = shape.reduce((p, q) => p * q, 1);
    const data = new Float32Array(size);
    if (name.endsWith('.weight')) {
      const std = Math.sqrt(2 / (shape[1]! * 9));
      for (let i = 0; i < size; i++) data[i] = rng.normal() * std;
    }
    put(trunk, name, shape, data);
  }
  // The published linear weights are non-negative (LPIPS clamps them in training).
  for (const [name, shape] of lpipsLinearShapes()) {
    const c = shape[1]!;
    put(linear, name, shape, Float32Array.from({ length: c }, () => (2 * rng.next()) / c));
  }
  return { trunk, linear };
}
