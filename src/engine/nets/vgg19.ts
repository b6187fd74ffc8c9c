import { AtelierError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import type { Graph, Tensor } from '../graph/graph.js';
import type { TensorMap, WeightTensor } from '../weights/tensor.js';

/**
 * VGG-19 (Simonyan & Zisserman 2015) as a feature extractor with named taps, in the two weight
 * layouts style transfer uses:
 * - 'torchvision': `features.N.weight/bias`, zero-padded 3×3 convs, input normalised by the
 *   ImageNet mean/std (torchvision.models.vgg19).
 * - 'normalised': the "normalised VGG" of AdaIN/WCT/CAP-VSTNet (`N.weight/bias` of one
 *   nn.Sequential): a leading 1×1 conv (RGB [0,1] → Caffe BGR, mean removed), reflection padding,
 *   max pooling with ceil mode. Input is RGB in [0, 1].
 */

export type VggLayout = 'torchvision' | 'normalised';

export const VGG_BLOCKS = [
  ['1_1', '1_2'],
  ['2_1', '2_2'],
  ['3_1', '3_2', '3_3', '3_4'],
  ['4_1', '4_2', '4_3', '4_4'],
  ['5_1', '5_2', '5_3', '5_4'],
] as const;

const CHANNELS = [64, 128, 256, 512, 512];

/** Every tap, in network order: convX_Y and reluX_Y. */
export const VGG_TAPS = VGG_BLOCKS.flat().flatMap((n) => [`conv${n}`, `relu${n}`]) as VggTap[];
export type VggTap = `${'conv' | 'relu'}${(typeof VGG_BLOCKS)[number][number]}`;

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

interface ConvSpec {
  /** e.g. '3_1' */
  name: string;
  key: string;
  cin: number;
  cout: number;
  /** A max pool follows this conv's ReLU. */
  poolAfter: boolean;
}

/** The 3×3 convs with their weight-file keys in a layout. */
export function vggConvs(layout: VggLayout): ConvSpec[] {
  const specs: ConvSpec[] = [];
  // torchvision: conv, relu per layer, a pool after each block. normalised: the 1×1 conv at 0, then
  // pad, conv, relu per layer and a pool after each block.
  let index = layout === 'torchvision' ? 0 : 1;
  let cin = 3;
  VGG_BLOCKS.forEach((block, b) => {
    block.forEach((name, i) => {
      const last = i === block.length - 1;
      if (layout === 'normalised') index += 1; // the reflection pad
      specs.push({ name, key: String(index), cin, cout: CHANNELS[b]!, poolAfter: last });
      cin = CHANNELS[b]!;
      index += 2; // conv, relu
      if (last) index += 1; // pool
    });
  });
  return specs;
}

const prefixFor = (layout: VggLayout) => (layout === 'torchvision' ? 'features.' : '');

/** The weight names and shapes a layout needs to reach `deepest` (for validation and random init). */
export function vggWeightShapes(layout: VggLayout, deepest: VggTap = 'relu5_4'): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const prefix = prefixFor(layout);
  if (layout === 'normalised') {
    shapes.set('0.weight', [3, 3, 1, 1]);
    shapes.set('0.bias', [3]);
  }
  for (const c of convsUpTo(layout, deepest)) {
    shapes.set(`${prefix}${c.key}.weight`, [c.cout, c.cin, 3, 3]);
    shapes.set(`${prefix}${c.key}.bias`, [c.cout]);
  }
  return shapes;
}

function convsUpTo(layout: VggLayout, deepest: VggTap): ConvSpec[] {
  const all = vggConvs(layout);
  const last = all.findIndex((c) => deepest.endsWith(c.name));
  return all.slice(0, last + 1);
}

export interface Vgg19Options {
  layout: VggLayout;
  /** Layers whose outputs are wanted; the network is built only as deep as the deepest. */
  taps: readonly VggTap[];
  /** 'avg' replaces max pooling by average pooling (Gatys et al. found smoother results). */
  pooling?: 'max' | 'avg';
  /**
   * The weight tensors of an earlier pass over the same graph, by key, filled on first use: a
   * second pass (another batch) then reads the same params or constants instead of declaring them again.
   */
  declared?: Map<string, Tensor>;
}

/**
 * Add VGG-19 to `g` reading `image` (N×3×H×W, RGB in [0, 1]); returns the requested taps.
 * Weights must hold the layout's names with the published shapes (E_WEIGHTS_INVALID otherwise).
 */
export function vgg19(g: Graph, image: Tensor, weights: TensorMap, options: Vgg19Options): Record<string, Tensor> {
  const { layout } = options;
  const wanted = new Set<string>(options.taps);
  const order = VGG_TAPS.filter((t) => wanted.has(t));
  if (order.length === 0) throw new AtelierError('E_INTERNAL', 'vgg19 needs at least one tap');
  const deepest = order.at(-1)!;
  const shapes = vggWeightShapes(layout, deepest);
  const w = (key: string) => {
    const t = weights.get(key);
    const shape = shapes.get(key)!;
    if (!t) {
      throw new AtelierError('E_WEIGHTS_INVALID', `VGG-19 weights lack ${key}`, {
        expected: `the ${layout} layout (${[...shapes.keys()].slice(0, 3).join(', ')}, …)`,
        received: `${weights.size} tensors (${[...weights.keys()].slice(0, 3).join(', ')}, …)`,
        hint: layout === 'torchvision' ? 'use the torchvision vgg19 state_dict' : 'use vgg_normalised.pth',
      });
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new AtelierError('E_WEIGHTS_INVALID', `VGG-19 weight ${key} has the wrong shape`, {
        expected: `[${shape.join(', ')}]`,
        received: `[${t.shape.join(', ')}]`,
      });
    }
    const known = options.declared?.get(key);
    if (known) return known;
    const p = g.param(key, shape, t.data);
    options.declared?.set(key, p);
    return p;
  };

  let h: Tensor;
  if (layout === 'torchvision') {
    const mean = g.constant(IMAGENET_MEAN, [1, 3, 1, 1]);
    const invStd = g.constant(IMAGENET_STD.map((s) => 1 / s), [1, 3, 1, 1]);
    h = g.mul(g.sub(image, mean), invStd);
  } else {
    h = g.conv(image, w('0.weight'), w('0.bias'));
  }
  const prefix = prefixFor(layout);
  const out: Record<string, Tensor> = {};
  for (const c of convsUpTo(layout, deepest)) {
    h = g.conv(h, w(`${prefix}${c.key}.weight`), w(`${prefix}${c.key}.bias`), {
      pad: 1,
      padMode: layout === 'normalised' ? 'reflect' : 'zeros',
    });
    if (wanted.has(`conv${c.name}`)) out[`conv${c.name}`] = h;
    h = g.relu(h);
    if (wanted.has(`relu${c.name}`)) out[`relu${c.name}`] = h;
    if (`relu${c.name}` === deepest || `conv${c.name}` === deepest) break;
    if (c.poolAfter) {
      const pool = { kernel: 2, stride: 2, ceil: layout === 'normalised' };
      h = options.pooling === 'avg' ? g.avgPool(h, { kernel: 2, stride: 2 }) : g.maxPool(h, pool);
    }
  }
  return out;
}

/**
 * Seeded random VGG-19 weights for `--weights random`: He-normal convs (fan-in, ReLU gain) and zero
 * biases, so activations keep their scale with depth. The normalised layout's 1×1 input conv is set
 * to centre [0,1] RGB rather than drawn at random.
 */
export function randomVgg19Weights(layout: VggLayout, seed: number, deepest: VggTap = 'relu5_1'): TensorMap {
  const rng = new Rng(seed);
  const map: TensorMap = new Map();
  const put = (name: string, shape: number[], data: Float32Array) => map.set(name, { name, shape, data } satisfies WeightTensor);
  for (const [name, shape] of vggWeightShapes(layout, deepest)) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (name === '0.weight') put(name, shape, Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]));
    else if (name === '0.bias') put(name, shape, new Float32Array([-0.5, -0.5, -0.5]));
    else if (name.endsWith('.bias')) put(name, shape, new Float32Array(size));
    else {
      const fanIn = shape[1]! * shape[2]! * shape[3]!;
      const std = Math.sqrt(2 / fanIn);
      const data = new Float32Array(size);
      for (let i = 0; i < size; i++) data[i] = rng.normal() * std;
      put(name, shape, data);
    }
  }
  return map;
}
