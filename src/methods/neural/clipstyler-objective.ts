import { AtelierError } from '../../core/errors.js';
import { resizeByMatrices } from '../../engine/augment/interpolation-matrix.js';
import { perspectiveCropsGraph, type CropSampling } from '../../engine/augment/perspective-crops.js';
import { grad } from '../../engine/autodiff/grad.js';
import { Graph, type Tensor } from '../../engine/graph/graph.js';
import { directionalLossRows, thresholdedMean, unitVector } from '../../engine/losses/clip-directional.js';
import { meanSquaredError, totalVariationNorms } from '../../engine/losses/style-losses.js';
import type { ClipVisionWeights } from '../../engine/nets/clip/checkpoint.js';
import { buildClipImageGraph, clipPixelNormalization } from '../../engine/nets/clip/image-encoder.js';
import { clipStylerUnet } from '../../engine/nets/clipstyler-unet.js';
import { vgg19, type VggTap } from '../../engine/nets/vgg19.js';
import type { ParameterSet } from '../../engine/optim/parameter-set.js';
import { compile, type Runner, type TensorValue } from '../../engine/runtime.js';
import type { TensorMap } from '../../engine/weights/tensor.js';

/**
 * CLIPstyler's objective (Kwon & Ye 2022, eq. 6) as engine graphs:
 *
 *   total = λ_patch·L_patch + λ_dir·L_dir + λ_c·L_content + λ_tv·L_tv
 *
 * - L_dir: the directional CLIP loss of the whole output (resized to CLIP's input size, bicubic,
 *   as their `clip_normalize` does) against the content, along the text direction;
 * - L_patch: the same per augmented crop (random crop, random perspective, bilinear resize to
 *   CLIP's size), crops whose loss is below τ zeroed, then averaged;
 * - L_content: mean squared VGG-19 feature difference from the content. The paper's code reads
 *   conv4_2 and conv5_2 of torchvision's VGG-19; Atelier has the real VGG-19 only as far as relu3_1
 *   (vgg19-relu3_1, Caffe-normalised, input 0–255 BGR), so it reads conv3_1 (its deepest pre-ReLU
 *   features, pre-ReLU as the paper's) and divides the squared differences by (255·0.226)²: the
 *   Caffe network reads a unit of pixel value as 255 where torchvision's mean/std normalisation
 *   reads it as 1/0.226 (0.226 the mean ImageNet std), and features scale with the input, so the
 *   paper's λ_c keeps roughly its weight (an approximation, stated as one). Shallower features keep more of the content's texture
 *   than the paper's, so results lean toward the content;
 * - L_tv: their image prior, the sum of the norms of the differences along four directions.
 *
 * The crops' gather positions and weights are inputs of the step graph, so one compiled session
 * takes fresh crops at every step; the stylisation network's weights are inputs too (Adam updates
 * them outside the graph).
 */

export interface ClipStylerLossWeights {
  patch: number;
  dir: number;
  content: number;
  tv: number;
}

export interface ClipStylerLossOptions {
  vision: ClipVisionWeights;
  vgg: TensorMap;
  contentTaps: readonly VggTap[];
  /** unit CLIP embedding of the content image [E]. */
  source: ArrayLike<number>;
  /** unit text direction ΔT [E]. */
  direction: ArrayLike<number>;
  crops: number;
  cropSize: number;
  threshold: number;
  weights: ClipStylerLossWeights;
}

/** The Caffe VGG's features are this many times the torchvision VGG's for the same image (see above). */
export const CAFFE_FEATURE_SCALE = 255 * 0.226;

export interface ClipStylerTerms {
  patch: Tensor;
  dir: Tensor;
  content: Tensor;
  tv: Tensor;
  total: Tensor;
}

/** Graph input names of the crops' sampling (see `cropSampling`). */
export const CROP_INDEX = 'crop_index';
export const CROP_WEIGHT = 'crop_weight';

/** The CLIP embedding of images [N, 3, S, S] in [0, 1] (S the tower's input size). */
function clipEmbeds(g: Graph, vision: ClipVisionWeights, pixels01: Tensor, batch: number): Tensor {
  const out = buildClipImageGraph(g, vision, clipPixelNormalization(g, pixels01), batch);
  if (!out.embeds) {
    throw new AtelierError('E_WEIGHTS_INVALID', 'The CLIP image tower has no projection', {
      expected: 'a CLIP checkpoint with the visual projection (the joint image–text space)',
      hint: 'use a full CLIP checkpoint such as clip-vit-b32',
    });
  }
  return out.embeds;
}

/** Record the weighted terms for `output` [1, 3, H, W] against `content` (the same shape) on `g`. */
export function clipStylerLoss(g: Graph, output: Tensor, content: Tensor, o: ClipStylerLossOptions): ClipStylerTerms {
  const size = o.vision.config.imageSize;
  const k = o.crops;
  const perCrop = k * o.cropSize * o.cropSize;
  const index = g.input(CROP_INDEX, [4 * perCrop], 'int64');
  const weight = g.input(CROP_WEIGHT, [4, perCrop]);
  const crops = resizeByMatrices(g, perspectiveCropsGraph(g, output, k, o.cropSize, index, weight), size, size, 'bilinear');
  const whole = resizeByMatrices(g, output, size, size, 'bicubic');
  const embeds = clipEmbeds(g, o.vision, g.concat([crops, whole], 0), k + 1);
  const width = o.source.length;
  const rows = directionalLossRows(g, embeds, g.constant(o.source, [1, width]), g.constant(o.direction, [1, width]));
  const patch = thresholdedMean(g, g.slice(rows, [0], [0], [k]), o.threshold);
  const dir = g.reshape(g.slice(rows, [0], [k], [k + 1]), []);
  const n = output.shape[0] as number;
  const features = vgg19(g, g.concat([output, content], 0), o.vgg, { layout: 'normalised', taps: o.contentTaps });
  let contentLoss: Tensor = g.scalar(0);
  for (const tap of o.contentTaps) {
    const f = features[tap]!;
    const term = meanSquaredError(g, g.slice(f, [0], [0], [n]), g.slice(f, [0], [n], [2 * n]));
    contentLoss = g.add(contentLoss, g.scale(term, 1 / CAFFE_FEATURE_SCALE ** 2));
  }
  const tv = totalVariationNorms(g, output);
  const w = o.weights;
  const total = g.add(g.add(g.scale(patch, w.patch), g.scale(dir, w.dir)), g.add(g.scale(contentLoss, w.content), g.scale(tv, w.tv)));
  return { patch, dir, content: contentLoss, tv, total };
}

/** The unit CLIP embedding of an image [3, H, W] in [0, 1], resized to CLIP's input as the loss resizes the output. */
export async function clipImageEmbedding(vision: ClipVisionWeights, image: Float32Array, height: number, width: number, threads: number): Promise<Float64Array> {
  const g = new Graph();
  const size = vision.config.imageSize;
  const x = g.constant(image, [1, 3, height, width]);
  g.output('embeds', clipEmbeds(g, vision, resizeByMatrices(g, x, size, size, 'bicubic'), 1));
  const runner = await compile(g, { threads, cache: false });
  try {
    const out = await runner.run({});
    return unitVector(out.embeds!.data as Float32Array);
  } finally {
    await runner.release();
  }
}

export interface ClipStylerEvaluation {
  loss: number;
  /** Weighted terms: patch, dir, content, tv. */
  parts: Record<string, number>;
  grad: Float32Array;
}

/**
 * One compiled training step of the stylisation network on one content image: weights and crops
 * in, weighted losses and d(total)/d(weights) out.
 */
export class ClipStylerObjective {
  private constructor(
    private readonly runner: Runner,
    private readonly params: ParameterSet,
  ) {}

  static async create(params: ParameterSet, content: Float32Array, height: number, width: number, options: ClipStylerLossOptions, threads: number): Promise<ClipStylerObjective> {
    const g = new Graph();
    const c = g.constant(content, [1, 3, height, width]);
    const output = clipStylerUnet(g, c, params.graphParams(g));
    const terms = clipStylerLoss(g, output, c, options);
    const w = options.weights;
    g.output('patch', g.scale(terms.patch, w.patch));
    g.output('dir', g.scale(terms.dir, w.dir));
    g.output('content', g.scale(terms.content, w.content));
    g.output('tv', g.scale(terms.tv, w.tv));
    g.output('loss', terms.total);
    const trainable = g.params.filter((t) => params.specs.some((s) => s.name === t.name));
    const grads = grad(g, g.reshape(terms.total, [1]), trainable);
    trainable.forEach((t, i) => g.output(`grad:${t.name}`, grads[i]!));
    const names = new Set(params.specs.map((s) => s.name));
    const runner = await compile(g, { threads, cache: false, paramsAsInputs: (name) => names.has(name), optimization: 'extended' });
    return new ClipStylerObjective(runner, params);
  }

  async evaluate(sampling: CropSampling, crops: number, cropSize: number): Promise<ClipStylerEvaluation> {
    const perCrop = crops * cropSize * cropSize;
    const feeds: Record<string, TensorValue> = {
      ...this.params.feeds(),
      [CROP_INDEX]: { data: sampling.index, shape: [4 * perCrop] },
      [CROP_WEIGHT]: { data: sampling.weight, shape: [4, perCrop] },
    };
    const out = await this.runner.run(feeds);
    const parts: Record<string, number> = {};
    for (const name of ['patch', 'dir', 'content', 'tv']) parts[name] = Number(out[name]!.data[0]);
    return { loss: Number(out.loss!.data[0]), parts, grad: this.params.gatherGradients(out) };
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}

/** The trained network on an image [3, H, W] (H, W multiples of 8) → the stylised image [3, H, W]. */
export async function renderClipStyler(params: ParameterSet, image: Float32Array, height: number, width: number, threads: number): Promise<Float32Array> {
  const g = new Graph();
  const x = g.input('image', [1, 3, height, width]);
  g.output('out', clipStylerUnet(g, x, params.graphParams(g)));
  const runner = await compile(g, { threads, cache: false });
  try {
    const out = await runner.run({ image: { data: image, shape: [1, 3, height, width] } });
    return out.out!.data as Float32Array;
  } finally {
    await runner.release();
  }
}
