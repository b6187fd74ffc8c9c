import { AtelierError } from '../../core/errors.js';
import type { Graph, Tensor } from '../graph/graph.js';
import type { TensorMap } from '../weights/tensor.js';

/**
 * MicroAST (Wang et al., AAAI 2023, "MicroAST: Towards Super-Fast Ultra-Resolution Arbitrary Style
 * Transfer"): two tiny encoders (content, style), a modulator and a decoder, 472 k parameters, no
 * VGG at inference. Architecture facts from the paper and the authors' `net_microAST.py` (tensor
 * names as in their four `*_iter_160000.pth.tar` state dicts):
 *
 * - every conv is `ConvLayer`: reflection pad k//2, then `conv_layer` (bias, optional groups);
 * - encoder `enc1`: 9×9 conv 3→16, ReLU (0, 1); 3×3 stride-2 conv 16→32 in 16 groups (2), ReLU;
 *   1×1 32→32 (4), ReLU; 3×3 stride-2 conv 32→64 in 32 groups (6), ReLU; 1×1 64→64 (8), ReLU;
 *   a residual block (10); `enc2`: one residual block (0). Outputs [enc1, enc2] at ¼ resolution;
 * - residual block: x + conv2(relu(conv1(x))), 3×3 convs 64→64. In the decoder the block is
 *   "filter-modulated" by a per-channel weight w and bias b from the style:
 *   y1 = w·conv1(x) + b·x, y2 = w·conv2(relu(y1)) + b·relu(y1), out = x + y2;
 * - modulator: w1, b1 from style enc1 features, w2, b2 from style enc2 features, each a 3×3
 *   depthwise conv (64 groups) followed by a global average (AdaptiveAvgPool2d(1));
 * - decoder: AdaIN (unbiased variance + 1e-5) of content enc2 features to style enc2 statistics,
 *   blended with the content by α; `dec1` modulated by (w2, b2); AdaIN to style enc1 statistics,
 *   α-blended; `dec2` modulated by (w1, b1); `dec3`: bilinear ×2 (align_corners false), 3×3 conv
 *   64→32 in 32 groups (1), ReLU, 1×1 32→32 (3), ReLU, bilinear ×2, 3×3 conv 32→16 in 16 groups
 *   (6), ReLU, 1×1 16→16 (8), ReLU, 9×9 conv 16→3 (10). Input and output RGB [0, 1] (the output
 *   is clamped when saved).
 *
 * The graphs here are cut where AdaIN needs whole-image statistics (computed outside, in float64,
 * so large images can be processed in tiles): encoder, modulator, `dec1`, `dec2` + `dec3`.
 */

export const MICROAST_MODEL = 'microast';
export const MICROAST_FILES = {
  contentEncoder: 'content_encoder_iter_160000.pth.tar',
  styleEncoder: 'style_encoder_iter_160000.pth.tar',
  modulator: 'modulator_iter_160000.pth.tar',
  decoder: 'decoder_iter_160000.pth.tar',
} as const;
export type MicroAstPart = keyof typeof MICROAST_FILES;
export type MicroAstWeights = Record<MicroAstPart, TensorMap>;

/** Features are at ¼ resolution: inputs are padded to multiples of 4. */
export const MICROAST_STRIDE = 4;
export const MICROAST_CHANNELS = 64;

interface ConvSpec {
  key: string;
  cin: number;
  cout: number;
  k: number;
  stride?: number;
  groups?: number;
}

const residualSpecs = (key: string): ConvSpec[] => [
  { key: `${key}.conv1`, cin: 64, cout: 64, k: 3 },
  { key: `${key}.conv2`, cin: 64, cout: 64, k: 3 },
];

const ENCODER: ConvSpec[] = [
  { key: 'enc1.0', cin: 3, cout: 16, k: 9 },
  { key: 'enc1.2', cin: 16, cout: 32, k: 3, stride: 2, groups: 16 },
  { key: 'enc1.4', cin: 32, cout: 32, k: 1 },
  { key: 'enc1.6', cin: 32, cout: 64, k: 3, stride: 2, groups: 32 },
  { key: 'enc1.8', cin: 64, cout: 64, k: 1 },
  ...residualSpecs('enc1.10'),
  ...residualSpecs('enc2.0'),
];
const MODULATOR: ConvSpec[] = ['weight1', 'bias1', 'weight2', 'bias2'].map((n) => ({ key: `${n}.0`, cin: 64, cout: 64, k: 3, groups: 64 }));
const DEC3: ConvSpec[] = [
  { key: 'dec3.1', cin: 64, cout: 32, k: 3, groups: 32 },
  { key: 'dec3.3', cin: 32, cout: 32, k: 1 },
  { key: 'dec3.6', cin: 32, cout: 16, k: 3, groups: 16 },
  { key: 'dec3.8', cin: 16, cout: 16, k: 1 },
  { key: 'dec3.10', cin: 16, cout: 3, k: 9 },
];
const DECODER: ConvSpec[] = [...residualSpecs('dec1'), ...residualSpecs('dec2'), ...DEC3];

const SPECS: Record<MicroAstPart, ConvSpec[]> = { contentEncoder: ENCODER, styleEncoder: ENCODER, modulator: MODULATOR, decoder: DECODER };

/** Weight names and shapes of one part (for validation and random weights). */
export function microAstShapes(part: MicroAstPart): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const s of SPECS[part]) {
    shapes.set(`${s.key}.conv_layer.weight`, [s.cout, s.cin / (s.groups ?? 1), s.k, s.k]);
    shapes.set(`${s.key}.conv_layer.bias`, [s.cout]);
  }
  return shapes;
}

/** Adds the convs of one part to a graph, checking the names and shapes of its weights. */
class PartBuilder {
  private readonly specs: Map<string, ConvSpec>;
  constructor(
    private readonly g: Graph,
    private readonly weights: TensorMap,
    private readonly part: MicroAstPart,
  ) {
    this.specs = new Map(SPECS[part].map((s) => [s.key, s]));
  }

  private param(name: string, shape: number[]): Tensor {
    const t = this.weights.get(name);
    if (!t || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new AtelierError('E_WEIGHTS_INVALID', `The MicroAST ${this.part} weights lack ${name} ${JSON.stringify(shape)}`, {
        expected: `the state dict of ${MICROAST_FILES[this.part]}`,
        received: t ? `shape ${JSON.stringify(t.shape)}` : `${this.weights.size} tensors (${[...this.weights.keys()].slice(0, 3).join(', ')}, …)`,
      });
    }
    return this.g.param(`${this.part}.${name}`, shape, t.data);
  }

  conv(x: Tensor, key: string): Tensor {
    const s = this.specs.get(key)!;
    const groups = s.groups ?? 1;
    const w = this.param(`${key}.conv_layer.weight`, [s.cout, s.cin / groups, s.k, s.k]);
    const b = this.param(`${key}.conv_layer.bias`, [s.cout]);
    const p = Math.floor(s.k / 2);
    return this.g.conv(x, w, b, { pad: p, padMode: 'reflect', stride: s.stride ?? 1, groups });
  }

  residual(x: Tensor, key: string, mod?: { w: Tensor; b: Tensor }): Tensor {
    const g = this.g;
    if (!mod) return g.add(x, this.conv(g.relu(this.conv(x, `${key}.conv1`)), `${key}.conv2`));
    const y1 = g.add(g.mul(mod.w, this.conv(x, `${key}.conv1`)), g.mul(mod.b, x));
    const r = g.relu(y1);
    const y2 = g.add(g.mul(mod.w, this.conv(r, `${key}.conv2`)), g.mul(mod.b, r));
    return g.add(x, y2);
  }
}

/** Content or style encoder: image (RGB [0, 1], sides multiples of 4) → [enc1, enc2] features. */
export function microAstEncoder(g: Graph, image: Tensor, weights: TensorMap, part: 'contentEncoder' | 'styleEncoder'): { f1: Tensor; f2: Tensor } {
  const b = new PartBuilder(g, weights, part);
  let h = image;
  for (const key of ['enc1.0', 'enc1.2', 'enc1.4', 'enc1.6', 'enc1.8']) h = g.relu(b.conv(h, key));
  const f1 = b.residual(h, 'enc1.10');
  const f2 = b.residual(f1, 'enc2.0');
  return { f1, f2 };
}

/** The modulator: per-channel filter weights and biases [1, 64, 1, 1] from the style features. */
export function microAstModulator(g: Graph, s1: Tensor, s2: Tensor, weights: TensorMap): { w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor } {
  const b = new PartBuilder(g, weights, 'modulator');
  const head = (x: Tensor, key: string) => g.reduceMean(b.conv(x, key), [2, 3], true);
  return { w1: head(s1, 'weight1.0'), b1: head(s1, 'bias1.0'), w2: head(s2, 'weight2.0'), b2: head(s2, 'bias2.0') };
}

/** One filter-modulated decoder residual block ('dec1' or 'dec2'). */
export function microAstModulatedBlock(g: Graph, x: Tensor, weights: TensorMap, block: 'dec1' | 'dec2', w: Tensor, bias: Tensor): Tensor {
  return new PartBuilder(g, weights, 'decoder').residual(x, block, { w, b: bias });
}

/** `dec3`: ¼-resolution features → RGB image (not clamped). */
export function microAstUpsampler(g: Graph, x: Tensor, weights: TensorMap): Tensor {
  const b = new PartBuilder(g, weights, 'decoder');
  let h = g.resize(x, 2, 'linear');
  h = g.relu(b.conv(h, 'dec3.1'));
  h = g.relu(b.conv(h, 'dec3.3'));
  h = g.resize(h, 2, 'linear');
  h = g.relu(b.conv(h, 'dec3.6'));
  h = g.relu(b.conv(h, 'dec3.8'));
  return b.conv(h, 'dec3.10');
}

/**
 * AdaIN in the graph, as the authors' `calc_mean_std` computes it: per sample and channel, the
 * spatial mean and the unbiased variance plus 1e-5 (so it matches engine/features/adain.ts, which
 * the tiled stylizer uses in float64). `style` statistics broadcast over `content`'s batch.
 */
function adainGraph(g: Graph, content: Tensor, style: Tensor): Tensor {
  const moments = (x: Tensor) => {
    const n = (x.shape[2] as number) * (x.shape[3] as number);
    const mean = g.reduceMean(x, [2, 3], true);
    const centred = g.sub(x, mean);
    const std = g.sqrt(g.add(g.scale(g.reduceSum(g.square(centred), [2, 3], true), 1 / (n - 1)), g.scalar(1e-5)));
    return { mean, centred, std };
  };
  const c = moments(content);
  const s = moments(style);
  return g.add(g.mul(g.div(c.centred, c.std), s.std), s.mean);
}

/**
 * The whole network in one graph at α = 1 (the published forward pass): content N×3×H×W and style
 * 1×3×h×w in [0, 1] (sides multiples of 4) → the stylised batch (not clamped). What a LoRA training
 * step differentiates; the tiled stylizer computes the same in pieces.
 */
export function microAstNetwork(g: Graph, content: Tensor, style: Tensor, weights: MicroAstWeights): Tensor {
  const { f1: s1, f2: s2 } = microAstEncoder(g, style, weights.styleEncoder, 'styleEncoder');
  const m = microAstModulator(g, s1, s2, weights.modulator);
  const c2 = microAstEncoder(g, content, weights.contentEncoder, 'contentEncoder').f2;
  const y1 = microAstModulatedBlock(g, adainGraph(g, c2, s2), weights.decoder, 'dec1', m.w2, m.b2);
  const y2 = microAstModulatedBlock(g, adainGraph(g, y1, s1), weights.decoder, 'dec2', m.w1, m.b1);
  return microAstUpsampler(g, y2, weights.decoder);
}
