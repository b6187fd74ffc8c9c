import { AtelierError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import type { Graph, Tensor } from '../graph/graph.js';
import type { TensorMap, WeightTensor } from '../weights/tensor.js';
import { vgg19, type VggTap } from './vgg19.js';

/**
 * The encoder/decoder pairs of universal style transfer (Li et al., NeurIPS 2017, "Universal Style
 * Transfer via Feature Transforms"): encoder K is VGG-19 from the image up to reluK_1; decoder K
 * was trained to invert it (pixel + feature reconstruction loss). Two published sets:
 *
 * - `vgg19`: the real normalised VGG-19 (`vgg_normalised_conv{K}_1.pth`, the AdaIN/WCT variant:
 *   a 1×1 conv turning RGB [0, 1] into Caffe BGR×255 minus the ImageNet mean, reflection pad 1
 *   before every 3×3 conv, 2×2 max pooling in ceil mode) and Li et al.'s decoders
 *   (`feature_invertor_conv{K}_1.pth`), K = 1…3. Both are nn.Sequential state dicts, so a tensor's
 *   name is its module index: each decoder conv is pad (i), conv (i+1), ReLU (i+2), and each ×2
 *   nearest upsampling takes one index; the decoder's last conv has no ReLU.
 * - `cd16x`: Collaborative Distillation (Wang et al., CVPR 2020) encoders distilled to ¼ width
 *   (`{K}SE.pth`, names `conv0`, `conv11` … `conv51`; the `*_aux` 1×1 layers were only for
 *   training and are ignored) and their decoders (`{K}SD.pth`), K = 1…5. The input layer is the
 *   same 1×1 conv; max pooling is floor mode; every decoder conv is followed by a ReLU, the last
 *   one included (the authors' `SmallDecoder*_16x.forward`).
 *
 * Decoders mirror their encoder: the encoder's convs in reverse order with input and output
 * channels swapped, a nearest ×2 upsampling where the encoder pooled.
 */

export type WctNetwork = 'vgg19' | 'cd16x';

/** Model-store names of the two sets. */
export const WCT_MODELS: Record<WctNetwork, string> = { vgg19: 'vgg19-relu3_1', cd16x: 'wct-cd16x' };
export const WCT_LEVELS: Record<WctNetwork, number> = { vgg19: 3, cd16x: 5 };

interface ConvLayer {
  /** VGG naming, e.g. '3_1'. */
  name: string;
  cin: number;
  cout: number;
}
type TrunkLayer = ConvLayer | 'pool';

function trunk(widths: number[], firstWidth = widths[0]!): TrunkLayer[] {
  const blocks = [['1_1', '1_2'], ['2_1', '2_2'], ['3_1', '3_2', '3_3', '3_4'], ['4_1', '4_2', '4_3', '4_4'], ['5_1']];
  const out: TrunkLayer[] = [];
  let cin = 3;
  blocks.forEach((block, b) => {
    if (b > 0) out.push('pool');
    for (const name of block) {
      const cout = name === '1_1' ? firstWidth : widths[b]!;
      out.push({ name, cin, cout });
      cin = cout;
    }
  });
  return out;
}

/** The encoder layers up to reluK_1 (level K). */
function trunkTo(network: WctNetwork, level: number): TrunkLayer[] {
  const all = network === 'vgg19' ? trunk([64, 128, 256, 512, 512]) : trunk([16, 32, 64, 128, 128], level === 1 ? 24 : 16);
  const end = all.findIndex((l) => l !== 'pool' && l.name === `${level}_1`);
  return all.slice(0, end + 1);
}

export interface WctLevelSpec {
  network: WctNetwork;
  level: number;
  /** Channels of the reluK_1 features. */
  channels: number;
  /** Feature pixels per image pixel along each axis (2^(K−1)); input sides must be multiples of it. */
  stride: number;
  encoderFile: string;
  decoderFile: string;
}

export function wctLevelSpec(network: WctNetwork, level: number): WctLevelSpec {
  const max = WCT_LEVELS[network];
  if (!Number.isInteger(level) || level < 1 || level > max) {
    throw new AtelierError('E_PARAM', `The ${network} autoencoders have levels 1 to ${max}`, { received: String(level), subject: 'levels' });
  }
  const last = trunkTo(network, level).at(-1) as ConvLayer;
  return {
    network,
    level,
    channels: last.cout,
    stride: 2 ** (level - 1),
    encoderFile: network === 'vgg19' ? `vgg_normalised_conv${level}_1.pth` : `${level}SE.pth`,
    decoderFile: network === 'vgg19' ? `feature_invertor_conv${level}_1.pth` : `${level}SD.pth`,
  };
}

function convKey(name: string): string {
  return `conv${name.replace('_', '')}`;
}

/** Decoder layers with their weight names: the encoder reversed. */
function decoderLayers(network: WctNetwork, level: number): ({ key: string; cin: number; cout: number; relu: boolean } | 'up')[] {
  const layers = trunkTo(network, level).reverse();
  const out: ({ key: string; cin: number; cout: number; relu: boolean } | 'up')[] = [];
  let index = 0;
  layers.forEach((l, i) => {
    if (l === 'pool') {
      out.push('up');
      index += 1;
      return;
    }
    const last = i === layers.length - 1;
    const relu = network === 'cd16x' || !last;
    out.push({ key: network === 'vgg19' ? String(index + 1) : convKey(l.name), cin: l.cout, cout: l.cin, relu });
    index += relu ? 3 : 2;
  });
  return out;
}

/** The weight names and shapes an encoder needs. */
export function wctEncoderShapes(network: WctNetwork, level: number): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  if (network === 'vgg19') {
    shapes.set('0.weight', [3, 3, 1, 1]).set('0.bias', [3]);
    let index = 1;
    for (const l of trunkTo(network, level)) {
      if (l === 'pool') {
        index += 1;
        continue;
      }
      shapes.set(`${index + 1}.weight`, [l.cout, l.cin, 3, 3]).set(`${index + 1}.bias`, [l.cout]);
      index += 3;
    }
    return shapes;
  }
  shapes.set('conv0.weight', [3, 3, 1, 1]).set('conv0.bias', [3]);
  for (const l of trunkTo(network, level)) {
    if (l === 'pool') continue;
    const k = convKey(l.name);
    shapes.set(`${k}.weight`, [l.cout, l.cin, 3, 3]).set(`${k}.bias`, [l.cout]);
  }
  return shapes;
}

export function wctDecoderShapes(network: WctNetwork, level: number): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const l of decoderLayers(network, level)) {
    if (l === 'up') continue;
    shapes.set(`${l.key}.weight`, [l.cout, l.cin, 3, 3]).set(`${l.key}.bias`, [l.cout]);
  }
  return shapes;
}

function paramFrom(g: Graph, weights: TensorMap, key: string, shape: number[], what: string, prefix: string): Tensor {
  const t = weights.get(key);
  if (!t) {
    throw new AtelierError('E_WEIGHTS_INVALID', `The ${what} weights lack ${key}`, {
      expected: `a state dict with ${key} ${JSON.stringify(shape)}`,
      received: `${weights.size} tensors (${[...weights.keys()].slice(0, 4).join(', ')}, …)`,
    });
  }
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new AtelierError('E_WEIGHTS_INVALID', `The ${what} weight ${key} has the wrong shape`, {
      expected: JSON.stringify(shape),
      received: JSON.stringify(t.shape),
    });
  }
  return g.param(`${prefix}${key}`, shape, t.data);
}

/**
 * Encoder K on `image` (N×3×H×W, RGB in [0, 1]): the reluK_1 features. `prefix` keeps parameter
 * names unique when several networks share one graph.
 */
export function wctEncoder(g: Graph, image: Tensor, weights: TensorMap, network: WctNetwork, level: number, prefix = ''): Tensor {
  if (network === 'vgg19') {
    // The real VGG: the existing builder (its names are the Sequential's; one VGG per graph).
    const tap = `relu${level}_1` as VggTap;
    return vgg19(g, image, weights, { layout: 'normalised', taps: [tap] })[tap]!;
  }
  const what = `wct-cd16x encoder ${level}SE`;
  const shapes = wctEncoderShapes(network, level);
  const p = (key: string) => paramFrom(g, weights, key, shapes.get(key)!, what, prefix);
  let h = g.conv(image, p('conv0.weight'), p('conv0.bias'));
  for (const l of trunkTo(network, level)) {
    if (l === 'pool') {
      h = g.maxPool(h, { kernel: 2, stride: 2 });
      continue;
    }
    const k = convKey(l.name);
    h = g.relu(g.conv(h, p(`${k}.weight`), p(`${k}.bias`), { pad: 1, padMode: 'reflect' }));
  }
  return h;
}

/** Decoder K: reluK_1 features back to an RGB image (not clamped). */
export function wctDecoder(g: Graph, features: Tensor, weights: TensorMap, network: WctNetwork, level: number, prefix = ''): Tensor {
  const what = network === 'vgg19' ? `feature_invertor_conv${level}_1` : `wct-cd16x decoder ${level}SD`;
  const shapes = wctDecoderShapes(network, level);
  const p = (key: string) => paramFrom(g, weights, key, shapes.get(key)!, what, prefix);
  let h = features;
  for (const l of decoderLayers(network, level)) {
    if (l === 'up') {
      h = g.resize(h, 2, 'nearest');
      continue;
    }
    h = g.conv(h, p(`${l.key}.weight`), p(`${l.key}.bias`), { pad: 1, padMode: 'reflect' });
    if (l.relu) h = g.relu(h);
  }
  return h;
}

/**
 * Seeded random weights of the given shapes (He-normal convs, zero biases; a 1×1 input conv that
 * centres [0, 1] RGB), to try a pipeline without the published files.
 */
export function randomWeights(shapes: Map<string, number[]>, seed: number): TensorMap {
  const rng = new Rng(seed);
  const map: TensorMap = new Map();
  for (const [name, shape] of shapes) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (shape.length === 4 && shape[0] === 3 && shape[1] === 3 && shape[2] === 1) data.set([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    else if (name.endsWith('.bias')) data.fill(shape[0] === 3 && /^(conv)?0\./.test(name) ? -0.5 : 0);
    else {
      const std = Math.sqrt(2 / (shape[1]! * (shape[2] ?? 1) * (shape[3] ?? 1)));
      for (let i = 0; i < size; i++) data[i] = rng.normal() * std;
    }
    map.set(name, { name, shape, data } satisfies WeightTensor);
  }
  return map;
}
