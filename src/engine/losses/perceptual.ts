import { AtelierError, isAtelierError } from '../../core/errors.js';
import type { Graph, Tensor } from '../graph/graph.js';
import { readModelFile } from '../nets/model-files.js';
import { randomVgg19Weights, vgg19, type VggTap } from '../nets/vgg19.js';
import { readWeights } from '../weights/read.js';
import type { TensorMap } from '../weights/tensor.js';
import { gram, meanSquaredError, totalVariation } from './style-losses.js';

/**
 * The perceptual losses of feed-forward style transfer (Johnson, Alahi & Fei-Fei 2016; Dumoulin et
 * al. 2017 train with the same objective) on the real ImageNet VGG-19 as far as relu3_1 — the
 * "normalised" encoder of AdaIN/WCT, one file of the `vgg19-relu3_1` model:
 *   content   = Σ_taps mean((φ(y) − φ(x))²)          φ: VGG features, y: stylised, x: content photo
 *   style     = Σ_taps mean((G(φ(y)) − G(φ(s)))²)    G: Gram matrix / (C·H·W), s: style image
 *   tv        = mean of squared neighbour differences of y
 *   total     = content·wc + style·ws + tv·wt
 * Images enter in [0, 1] RGB (the encoder's first 1×1 conv turns them into Caffe BGR).
 *
 * The stylised batch and the content batch take separate VGG passes over one set of weights (the
 * content pass needs no backward and stops at the deepest content tap). The style Grams are graph inputs: they depend on
 * the style image only and are computed once by `styleGramGraph`.
 */

export const PERCEPTUAL_VGG_MODEL = 'vgg19-relu3_1';
export const PERCEPTUAL_VGG_FILE = 'vgg_normalised_conv3_1.pth';
/** Every tap the relu3_1 encoder reaches. */
export const PERCEPTUAL_TAPS = ['relu1_1', 'relu1_2', 'relu2_1', 'relu2_2', 'relu3_1'] as const satisfies readonly VggTap[];
export type PerceptualTap = (typeof PERCEPTUAL_TAPS)[number];
/** Style at every ReLU from relu1_1 to relu3_1; content at relu2_2 (Johnson et al.'s content layer). */
export const DEFAULT_STYLE_TAPS: PerceptualTap[] = [...PERCEPTUAL_TAPS];
export const DEFAULT_CONTENT_TAPS: PerceptualTap[] = ['relu2_2'];

export interface PerceptualWeights {
  content: number;
  style: number;
  tv: number;
}

export interface PerceptualLossOptions {
  vgg: TensorMap;
  contentTaps: readonly PerceptualTap[];
  styleTaps: readonly PerceptualTap[];
  weights: PerceptualWeights;
}

export interface PerceptualLossTerms {
  content: Tensor;
  style: Tensor;
  tv: Tensor;
  /** The weighted sum that is optimised. */
  total: Tensor;
}

function tapsInOrder(options: Pick<PerceptualLossOptions, 'contentTaps' | 'styleTaps'>): PerceptualTap[] {
  const wanted = new Set<PerceptualTap>([...options.contentTaps, ...options.styleTaps]);
  return PERCEPTUAL_TAPS.filter((t) => wanted.has(t));
}

/** Channels of a tap's features. */
export function tapChannels(tap: PerceptualTap): number {
  return { relu1_1: 64, relu1_2: 64, relu2_1: 128, relu2_2: 128, relu3_1: 256 }[tap];
}

/** The graph input names of the style Gram targets, one per style tap: `styleGram.<tap>` [1, C, C]. */
export const styleGramInput = (tap: PerceptualTap) => `styleGram.${tap}`;

/**
 * Add the losses of stylised images `stylised` (N×3×H×W in [0, 1]) against content images
 * `content` (the same shape, [0, 1]) to `g`. The style targets are graph inputs
 * `styleGram.<tap>` of shape [1, C, C] (broadcast over the batch), or the given tensors.
 */
export function perceptualLoss(
  g: Graph,
  stylised: Tensor,
  content: Tensor,
  options: PerceptualLossOptions,
  styleGrams?: Partial<Record<PerceptualTap, Tensor>>,
): PerceptualLossTerms {
  // Two VGG passes sharing one set of weights: the stylised batch to every tap (the loss is
  // differentiated through it), the content batch only to its content taps, and the content pass
  // outside the backward graph. One pass over both concatenated (as before) made the backward run
  // over the content half too: VGG's data gradients cost as much as its forward, so this takes
  // a quarter of the loss network's work off every training step.
  const declared = new Map<string, Tensor>();
  const stylisedFeatures = vgg19(g, stylised, options.vgg, { layout: 'normalised', taps: tapsInOrder(options), declared });
  const contentFeatures = options.contentTaps.length > 0 ? vgg19(g, content, options.vgg, { layout: 'normalised', taps: tapsInOrder({ contentTaps: options.contentTaps, styleTaps: [] }), declared }) : {};
  const ofStylised = (t: PerceptualTap) => stylisedFeatures[t]!;
  const ofContent = (t: PerceptualTap) => contentFeatures[t]!;
  let contentLoss: Tensor | undefined;
  for (const t of options.contentTaps) {
    const term = meanSquaredError(g, ofStylised(t), ofContent(t));
    contentLoss = contentLoss ? g.add(contentLoss, term) : term;
  }
  let styleLoss: Tensor | undefined;
  for (const t of options.styleTaps) {
    const c = tapChannels(t);
    const target = styleGrams?.[t] ?? g.input(styleGramInput(t), [1, c, c]);
    const term = meanSquaredError(g, gram(g, ofStylised(t)), target);
    styleLoss = styleLoss ? g.add(styleLoss, term) : term;
  }
  const zero = g.scalar(0);
  const contentTerm = contentLoss ?? zero;
  const styleTerm = styleLoss ?? zero;
  const tv = totalVariation(g, stylised);
  const w = options.weights;
  const total = g.add(g.add(g.scale(contentTerm, w.content), g.scale(styleTerm, w.style)), g.scale(tv, w.tv));
  return { content: contentTerm, style: styleTerm, tv, total };
}

/**
 * A graph from one style image (`style`: 1×3×H×W in [0, 1], any size) to its Gram matrices at
 * `taps`, as outputs `styleGram.<tap>` [1, C, C] ready to feed `perceptualLoss`.
 */
export function styleGramGraph(g: Graph, style: Tensor, vgg: TensorMap, taps: readonly PerceptualTap[]): void {
  const features = vgg19(g, style, vgg, { layout: 'normalised', taps: tapsInOrder({ contentTaps: [], styleTaps: taps }) });
  for (const t of taps) g.output(styleGramInput(t), gram(g, features[t]!));
}

/**
 * The loss network's weights: 'installed' (the model store's `vgg19-relu3_1`, its relu3_1
 * encoder), 'random' (seeded He-normal weights of the same layout: for tests and trying the
 * pipeline only; their features carry no style) or a weight file of the normalised layout.
 */
export async function loadPerceptualVgg(source: string, seed = 1): Promise<{ weights: TensorMap; label: string }> {
  if (source === 'random') return { weights: randomVgg19Weights('normalised', seed, 'relu3_1'), label: `random VGG-19 (seed ${seed}; not a trained network)` };
  if (source === 'installed') {
    try {
      return { weights: await readModelFile(PERCEPTUAL_VGG_MODEL, PERCEPTUAL_VGG_FILE), label: `${PERCEPTUAL_VGG_MODEL} (${PERCEPTUAL_VGG_FILE})` };
    } catch (e) {
      if (isAtelierError(e) && e.code === 'E_WEIGHTS_MISSING') {
        throw new AtelierError('E_WEIGHTS_MISSING', `The perceptual losses need the real VGG-19 (${PERCEPTUAL_VGG_MODEL}), which is not installed`, {
          subject: PERCEPTUAL_VGG_MODEL,
          hint: `run \`atelier models pull ${PERCEPTUAL_VGG_MODEL} --accept-licence\` (academic use only); or pass --vgg random to try the pipeline with seeded random weights (the result then has no style)`,
          cause: e,
        });
      }
      throw e;
    }
  }
  return { weights: await readWeights(source), label: source };
}
