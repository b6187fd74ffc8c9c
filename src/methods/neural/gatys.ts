import { z } from 'zod';
import { AtelierError, throwIfAborted } from '../../core/errors.js';
import { Image, clampImage } from '../../core/image.js';
import type { PreviousFrame, RunContext } from '../../core/registry.js';
import { defineMethod } from '../../core/registry.js';
import { resizeImage } from '../../core/resample.js';
import { Adam } from '../../engine/optim/adam.js';
import { Lbfgs } from '../../engine/optim/lbfgs.js';
import { VGG_TAPS, randomVgg19Weights, type VggLayout, type VggTap } from '../../engine/nets/vgg19.js';
import type { GatysEvaluation, GatysObjective, GatysTargets } from './gatys-objective.js';
import { loadVggWeights, VGG_MODELS, type VggModel } from '../../engine/nets/vgg19-weights.js';
import { readModelFile } from '../../engine/nets/model-files.js';
import { WCT_MODELS } from '../../engine/nets/wct-autoencoders.js';
import { isModelInstalled, pullCommand } from '../../engine/store.js';
import { findModel, loadManifest } from '../../engine/store/manifest.js';
import { modelWeightBytes } from '../../engine/store/weight-bytes.js';

/**
 * Gatys, Ecker & Bethge 2016, "Image Style Transfer Using Convolutional Neural Networks": optimise
 * the pixels of an image so that its VGG-19 features match the content's at one layer and its Gram
 * matrices match the style's at several, plus a total-variation smoothness term. L-BFGS by default
 * (as in the paper), Adam optionally; coarse-to-fine over an image pyramid so large images converge
 * in fewer fine-scale iterations.
 */

const tap = z.enum(VGG_TAPS as [VggTap, ...VggTap[]]);
const DEFAULT_STYLE_LAYERS: VggTap[] = ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'];
/** The real VGG-19 to relu3_1 (AdaIN/WCT's normalised encoder, one file of `vgg19-relu3_1`). */
const RELU3_1_MODEL = WCT_MODELS.vgg19;
const RELU3_1_FILE = 'vgg_normalised_conv3_1.pth';
const RELU3_1_STYLE_LAYERS: VggTap[] = ['relu1_1', 'relu2_1', 'relu3_1'];
const GATYS_NETWORKS = ['auto', RELU3_1_MODEL, ...VGG_MODELS] as const;
type GatysNetwork = (typeof GATYS_NETWORKS)[number];

/**
 * The loss network `auto` stands for: the first installed of vgg19-relu3_1, vgg19, vgg_normalised
 * (with random weights, the torchvision layout, as before the real weights existed). None installed: E_WEIGHTS_MISSING naming the
 * default and how to install it.
 */
function resolveNetwork(network: GatysNetwork, weights: 'installed' | 'random'): Exclude<GatysNetwork, 'auto'> {
  if (network !== 'auto') return network;
  if (weights === 'random') return 'vgg19';
  const found = [RELU3_1_MODEL, ...VGG_MODELS].find((m) => isModelInstalled(m));
  if (found) return found;
  throw new AtelierError('E_WEIGHTS_MISSING', 'neural.gatys needs a VGG-19 loss network and none is installed', {
    subject: RELU3_1_MODEL,
    hint: `run \`${pullCommand(findModel(loadManifest(), RELU3_1_MODEL))}\` (the real VGG-19 to relu3_1; academic use only), or \`atelier models pull vgg19\` for the full torchvision VGG-19; or pass --weights random to try the method with seeded random weights`,
  });
}

/** The deepest style layer needs a few pixels left after four poolings. */
const MIN_SIDE = 16;

const params = z.object({
  iterations: z.number().int().min(1).max(10000).default(200).describe('Optimiser iterations at each pyramid level'),
  size: z.number().int().min(MIN_SIDE).max(4096).default(512).describe('Long side of the finest working size; larger content is optimised at this size and upsampled'),
  pyramid: z.number().int().min(1).max(5).default(2).describe('Coarse-to-fine levels, each half the size of the next (1: the working size only)'),
  contentWeight: z.number().min(0).max(1e12).default(1).describe('Weight of the content loss (mean squared feature difference)'),
  styleWeight: z.number().min(0).max(1e15).default(1e6).describe('Weight of the style loss (mean squared Gram difference, summed over layers)'),
  tvWeight: z.number().min(0).max(1e12).default(10).describe('Weight of the total-variation loss (smoothness of the result)'),
  contentLayer: tap.optional().describe('VGG layer whose features carry the content (default conv4_2; relu3_1 on vgg19-relu3_1)'),
  styleLayers: z.array(tap).min(1).max(16).optional().describe('VGG layers whose Gram matrices carry the style (default relu1_1…relu5_1; relu1_1…relu3_1 on vgg19-relu3_1)'),
  styleLayerWeights: z.array(z.number().min(0).max(1e6)).max(16).optional().describe('One weight per style layer (default: equal, summing to 1)'),
  init: z.enum(['content', 'style', 'noise']).default('content').describe('Starting image: the content, the style resized to it, or seeded noise'),
  optimizer: z.enum(['lbfgs', 'adam']).default('lbfgs').describe('L-BFGS with line search (the paper) or Adam'),
  learningRate: z.number().min(1e-6).max(1).default(0.02).describe('Adam step size (image values are in [0, 1])'),
  pooling: z.enum(['max', 'avg']).default('max').describe('VGG pooling: max (trained), or average (smoother, as the paper suggests)'),
  network: z
    .enum(GATYS_NETWORKS)
    .default('auto')
    .describe('Loss network: auto (the real VGG-19 to relu3_1, vgg19-relu3_1, when installed, else vgg19, else vgg_normalised), or one of them by name'),
  weights: z.enum(['installed', 'random']).default('installed').describe('Use the installed weights, or seeded random ones (for trying the pipeline without a download)'),
});

type GatysParams = z.output<typeof params>;

export const gatys = defineMethod({
  id: 'neural.gatys',
  family: 'neural',
  title: 'Gatys neural style (optimisation)',
  summary: "Optimise the image's pixels so its VGG-19 features match the content and its Gram matrices the style",
  reference: 'Gatys, Ecker & Bethge, Image Style Transfer Using Convolutional Neural Networks, CVPR 2016',
  inputs: { style: 'required', multiStyle: true },
  params,
  advanced: ['pyramid', 'tvWeight', 'contentLayer', 'styleLayers', 'styleLayerWeights', 'optimizer', 'learningRate', 'pooling', 'network'],
  presets: { 'Quick look': { iterations: 60, size: 256 }, 'Standard': { iterations: 200, size: 512 }, 'More style': { styleWeight: 10000000 } },
  // Strength is folded into the content/style weight ratio rather than blended afterwards.
  controls: { strength: false },
  weights: [
    // Any one of these serves network 'auto' (the first installed, in this order); a named network needs that one.
    { model: RELU3_1_MODEL, description: 'the real normalised VGG-19 to relu3_1 (network: auto, the default when installed)', when: { network: ['auto', RELU3_1_MODEL], weights: ['installed'] }, anyOf: 'auto' },
    { model: 'vgg19', description: 'torchvision VGG-19 (network: vgg19)', when: { network: ['auto', 'vgg19'], weights: ['installed'] }, anyOf: 'auto' },
    { model: 'vgg_normalised', description: 'normalised VGG-19 of AdaIN (network: vgg_normalised)', when: { network: ['auto', 'vgg_normalised'], weights: ['installed'] }, anyOf: 'auto' },
  ],
  // In a video the previous result, moved by the flow, starts the next optimisation (Ruder et al. 2016).
  video: { temporal: 'flow', carry: 'init' },
  // Measured at three sizes (bench/memory.mjs 0.01 0.04 0.09, PARAMS {"iterations":2}, random
  // VGG-19 of the same size, threads 1, load 15): 352 / 401 / 565 MB over the baseline at 100² /
  // 200² / 300². Per pixel the slope of the two largest (3.4 KB: VGG-19's activations kept for the
  // backward pass and their gradients), the load what is left at the smallest; the estimate lands
  // at +0 / +13 / +9 % of those peaks. (The earlier profile, from 250² alone, read 200 MB + 4 KB.)
  memory: {
    bytesPerPixel: 3450,
    loadBytes: 320 * 2 ** 20,
    pixelsAtOnce: (p, n) => Math.min(n, p.size * p.size),
    sizeParam: 'size',
    weightBytes: (p) => {
      try {
        return p.weights === 'random' ? 0 : modelWeightBytes(resolveNetwork(p.network as GatysNetwork, p.weights));
      } catch {
        return undefined; // none installed: the run stops on that first
      }
    },
  },
  quickParams: { weights: 'random', iterations: 3, size: 32, pyramid: 1, styleLayers: ['relu1_1', 'relu2_1', 'relu3_1'], contentLayer: 'relu2_1' },
  async run(ctx, inputs, p) {
    const { GatysObjective } = await import('./gatys-objective.js');
    const strength = ctx.controls.strength;
    if (strength === 0) return { image: inputs.content.clone(), meta: { iterations: 0 } };
    const network = resolveNetwork(p.network, p.weights);
    const shallow = network === RELU3_1_MODEL;
    const styleLayers = p.styleLayers ?? (shallow ? RELU3_1_STYLE_LAYERS : DEFAULT_STYLE_LAYERS);
    const contentLayer = p.contentLayer ?? (shallow ? 'relu3_1' : 'conv4_2');
    if (shallow) {
      const tooDeep = [contentLayer, ...styleLayers].filter((t) => VGG_TAPS.indexOf(t) > VGG_TAPS.indexOf('relu3_1'));
      if (tooDeep.length > 0) {
        throw new AtelierError('E_PARAM', `The ${RELU3_1_MODEL} network stops at relu3_1`, {
          subject: p.contentLayer && tooDeep.includes(p.contentLayer) ? 'contentLayer' : 'styleLayers',
          received: tooDeep.join(', '),
          hint: 'use layers up to relu3_1, or --network vgg19 for the deeper layers',
        });
      }
    }
    const styleLayerWeights = p.styleLayerWeights ?? styleLayers.map(() => 1 / styleLayers.length);
    if (styleLayerWeights.length !== styleLayers.length) {
      throw new AtelierError('E_PARAM', 'styleLayerWeights must give one weight per style layer', {
        subject: 'styleLayerWeights',
        expected: `${styleLayers.length} numbers (styleLayers: ${styleLayers.join(', ')})`,
        received: `${styleLayerWeights.length}`,
      });
    }
    const layout: VggLayout = network === 'vgg19' ? 'torchvision' : 'normalised';
    const deepest = VGG_TAPS.filter((t) => t === contentLayer || styleLayers.includes(t)).at(-1)!;
    if (p.weights === 'random') ctx.log.warn('neural.gatys runs with seeded random VGG-19 weights: the result is not the published model\'s');
    const styles = inputs.styles ?? [{ image: inputs.style!, weight: 1 }];
    const sizes = levelSizes(inputs.content.width, inputs.content.height, p.size, p.pyramid);
    const levels = sizes.map(({ width, height }) => ({
      width,
      height,
      content: resizeImage(inputs.content, width, height),
      styles: styles.map((s) => ({ image: fitLongSide(s.image, Math.max(width, height)), weight: s.weight })),
    }));
    const { objective, targets } = await GatysObjective.create(
      {
        weights:
          p.weights === 'random'
            ? randomVgg19Weights(layout, ctx.seed, deepest)
            : shallow
              ? await readModelFile(RELU3_1_MODEL, RELU3_1_FILE)
              : await loadVggWeights(network as VggModel),
        layout,
        pooling: p.pooling,
        contentLayer,
        styleLayers,
        styleLayerWeights: styleLayerWeights.map((w) => w * p.styleWeight * strength),
        contentWeight: p.contentWeight,
        tvWeight: p.tvWeight,
        threads: ctx.threads,
      },
      levels,
    );
    throwIfAborted(ctx.signal);
    const pyramid = levels.map((l, i) => ({ ...l, targets: targets[i]! }));
    // Started from the previous frame's result the coarse levels have nothing left to find:
    // only the finest is optimised (as Ruder et al. do).
    const start = inputs.previous && startFromPrevious(inputs.previous, inputs.content, pyramid.at(-1)!);
    const result = await optimisePyramid(ctx, objective, start ? pyramid.slice(-1) : pyramid, p, start);
    const { content } = inputs;
    const image = result.image.width === content.width && result.image.height === content.height ? result.image : resizeImage(result.image, content.width, content.height);
    return {
      image: clampImage(image),
      meta: {
        iterations: result.iterations,
        levels: result.levels,
        losses: result.last?.parts,
        network,
        weights: p.weights === 'random' ? `random (seed ${ctx.seed}; not the published ${network} weights)` : network,
      },
    };
  },
});

function levelSizes(width: number, height: number, size: number, levels: number): { width: number; height: number }[] {
  const long = Math.max(width, height);
  // Never upscale the content, but keep at least MIN_SIDE on the short side.
  const finest = Math.max(Math.min(size, long), Math.ceil((MIN_SIDE * long) / Math.min(width, height)));
  const out: { width: number; height: number }[] = [];
  for (let l = levels - 1; l >= 0; l--) {
    const s = finest / 2 ** l;
    const w = Math.round((width / long) * s);
    const h = Math.round((height / long) * s);
    if (Math.min(w, h) >= MIN_SIDE) out.push({ width: w, height: h });
  }
  return out;
}

function fitLongSide(img: Image, long: number): Image {
  const s = long / Math.max(img.width, img.height);
  const w = Math.max(MIN_SIDE, Math.round(img.width * s));
  const h = Math.max(MIN_SIDE, Math.round(img.height * s));
  return resizeImage(img, w, h);
}

function initialImage(ctx: RunContext, kind: GatysParams['init'], content: Image, style: Image): Image {
  if (kind === 'content') return content.clone();
  if (kind === 'style') return resizeImage(style, content.width, content.height).clone();
  const noise = new Image(content.width, content.height, 3);
  for (let i = 0; i < noise.data.length; i++) noise.data[i] = ctx.rng.next();
  return noise;
}

/** The previous result where the flow is trusted, the content elsewhere, at the level's size (Ruder et al.'s initialisation). */
function startFromPrevious(previous: PreviousFrame, content: Image, level: { width: number; height: number }): Image {
  const mixed = content.clone();
  const n = content.pixels;
  for (let c = 0; c < 3; c++) {
    const dst = mixed.plane(c);
    const src = previous.image.plane(c);
    for (let i = 0; i < n; i++) dst[i] = previous.valid[i]! * src[i]! + (1 - previous.valid[i]!) * dst[i]!;
  }
  return resizeImage(mixed, level.width, level.height).clone();
}

interface Level {
  width: number;
  height: number;
  content: Image;
  styles: { image: Image; weight: number }[];
  targets: GatysTargets;
}

async function optimisePyramid(
  ctx: RunContext,
  objective: GatysObjective,
  levels: Level[],
  p: GatysParams,
  start?: Image,
): Promise<{ image: Image; iterations: number; levels: string[]; last?: GatysEvaluation }> {
  let x: Image | undefined;
  let iterations = 0;
  let last: GatysEvaluation | undefined;
  for (const [l, { width, height, content, styles, targets }] of levels.entries()) {
    const progress = ctx.progress.sub(l / levels.length, (l + 1) / levels.length);
    x = x ? resizeImage(x, width, height).clone() : (start ?? initialImage(ctx, p.init, content, styles[0]!.image));
    const pixels = x.data;
    const evaluate = async (v: Float32Array) => {
      throwIfAborted(ctx.signal);
      last = await objective.evaluate(v, width, height, targets);
      if (!Number.isFinite(last.loss)) {
        throw new AtelierError('E_NUMERIC', 'The Gatys loss became non-finite', { hint: 'lower styleWeight or learningRate' });
      }
      return last;
    };
    const report = (i: number, e: GatysEvaluation) => progress.step(i, p.iterations, { loss: e.loss, ...e.parts });
    if (p.optimizer === 'lbfgs') {
      const opt = new Lbfgs(pixels, evaluate);
      report(0, await opt.evaluation());
      for (let i = 1; i <= p.iterations; i++) {
        const s = await opt.step();
        iterations++;
        last = await opt.evaluation();
        report(i, last);
        if (!s.progressed) {
          progress.step(p.iterations, p.iterations);
          break;
        }
      }
    } else {
      const adam = new Adam(pixels.length, { learningRate: p.learningRate });
      for (let i = 0; i < p.iterations; i++) {
        // Reported loss is at the start of iteration i (Adam evaluates before it steps).
        const e = await evaluate(pixels);
        report(i, e);
        adam.step(pixels, e.grad);
        iterations++;
      }
      last = await evaluate(pixels);
      report(p.iterations, last);
    }
  }
  return { image: x!, iterations, levels: levels.map((s) => `${s.width}×${s.height}`), ...(last && { last }) };
}
