import { z } from 'zod';
import { AtelierError, isAtelierError, throwIfAborted } from '../../core/errors.js';
import { clampImage, Image } from '../../core/image.js';
import type { RunContext } from '../../core/registry.js';
import { defineMethod } from '../../core/registry.js';
import { resizeImage } from '../../core/resample.js';
import { cropSampling, samplePerspectiveCrops } from '../../engine/augment/perspective-crops.js';
import { textDirection } from '../../engine/losses/clip-directional.js';
import { loadClipWeights, type ClipTextWeights, type ClipVisionWeights } from '../../engine/nets/clip/checkpoint.js';
import { IMAGENET_TEMPLATES } from '../../engine/nets/clip/imagenet-templates.js';
import type { ClipTokenizer } from '../../engine/nets/clip/tokenizer.js';
import { clipStylerUnetSpecs } from '../../engine/nets/clipstyler-unet.js';
import { modelFilePath, readModelFile } from '../../engine/nets/model-files.js';
import { randomVgg19Weights } from '../../engine/nets/vgg19.js';
import { Adam } from '../../engine/optim/adam.js';
import { ParameterSet } from '../../engine/optim/parameter-set.js';
import { readWeights } from '../../engine/weights/read.js';
import type { TensorMap } from '../../engine/weights/tensor.js';
import { modelWeightBytes } from '../../engine/store/weight-bytes.js';

/**
 * CLIPstyler (Kwon & Ye, "CLIPstyler: Image Style Transfer with a Single Text Condition", CVPR
 * 2022): no style image, only a text. A small U-Net is trained from scratch for this one content
 * image and this one prompt, through our autodiff with Adam, so that CLIP sees the change from the
 * content to its output point the way the text moved from a neutral source text ("a Photo") to
 * the prompt — over the whole image (directional loss) and over randomly cropped and
 * perspective-warped patches, the ones already matching the text dropped (patch loss, threshold
 * τ) — while VGG features keep the content and a total-variation prior keeps it clean
 * (clipstyler-objective.ts has the terms and what differs from the paper: the content features).
 *
 * Defaults are the paper's (its released code's arguments): 200 steps of Adam at 5e-4, halved
 * after 100 (StepLR as their loop calls it); 64 crops of 128², distortion 0.5, τ 0.7; λ_patch 9000,
 * λ_dir 500, λ_c 150, λ_tv 2e-3; output contrast ×1.5 as their saved images. Each step runs CLIP
 * ViT-B/32 forward and backward on 65 images: minutes per step on two CPU cores, which is what the
 * quick preset is for.
 */

const CLIP_MODEL = 'clip-vit-b32';
const VGG_MODEL = 'vgg19-relu3_1';
const VGG_FILE = 'vgg_normalised_conv3_1.pth';
/** The content layer we can read (see clipstyler-objective.ts): the paper's are conv4_2 and conv5_2. */
const CONTENT_TAPS = ['conv3_1'] as const;
/** The stylisation network halves its size three times. */
const MULTIPLE = 8;

const params = z.object({
  prompt: z.string().trim().min(1).max(300).default('Fire').describe('The style, in words (e.g. "a watercolor painting with purple brush strokes"; default the paper\'s example, "Fire")'),
  source: z.string().trim().min(1).max(300).default('a Photo').describe('What the content is, in words: the text direction starts here (the paper\'s "a Photo")'),
  iterations: z.number().int().min(1).max(5000).default(200).describe('Adam steps of the stylisation network'),
  learningRate: z.number().min(1e-6).max(1e-1).default(5e-4).describe('Adam step size, halved every 100 steps'),
  crops: z.number().int().min(1).max(256).default(64).describe('Augmented patches per step for the patch CLIP loss'),
  cropSize: z.number().int().min(8).max(1024).default(128).describe('Side of the patches, in working pixels (smaller images use their short side)'),
  distortion: z.number().min(0).max(1).default(0.5).describe('Random perspective applied to each patch (0: none)'),
  threshold: z.number().min(0).max(2).default(0.7).describe('Patches whose loss is below this are dropped (τ: they already match the text)'),
  patchWeight: z.number().min(0).max(1e7).default(9000).describe('λ_patch: weight of the patch CLIP loss'),
  directionWeight: z.number().min(0).max(1e7).default(500).describe('λ_dir: weight of the whole-image directional CLIP loss'),
  contentWeight: z.number().min(0).max(1e7).default(150).describe('λ_c: weight of the VGG content loss'),
  tvWeight: z.number().min(0).max(1e3).default(2e-3).describe('λ_tv: weight of the total-variation prior'),
  contrast: z.number().min(0).max(4).default(1.5).describe('Contrast of the result about its mean grey (the paper saves its results at 1.5; 1 leaves it)'),
  weights: z
    .enum(['installed', 'random'])
    .default('installed')
    .describe("'installed': CLIP ViT-B/32 (clip-vit-b32) and the real VGG-19 to relu3_1; 'random': a tiny untrained CLIP and VGG, only to try the pipeline (the result follows no text)"),
});

type ClipStylerParams = z.output<typeof params>;

interface Networks {
  text: ClipTextWeights;
  vision: ClipVisionWeights;
  tokenizer: ClipTokenizer;
  vgg: TensorMap;
  label: string;
}

async function loadNetworks(p: ClipStylerParams, seed: number): Promise<Networks> {
  const [{ randomClip }, { ClipTokenizer }] = await Promise.all([import('../../engine/nets/clip/random-checkpoint.js'), import('../../engine/nets/clip/tokenizer.js')]);
  if (p.weights === 'random') {
    const clip = randomClip(seed);
    return { ...clip, vgg: randomVgg19Weights('normalised', seed, 'conv3_1'), label: `random (seed ${seed}; a tiny untrained CLIP and VGG, not ${CLIP_MODEL})` };
  }
  const needs = (model: string, what: string, e: unknown): never => {
    if (isAtelierError(e) && e.code === 'E_WEIGHTS_MISSING') {
      throw new AtelierError('E_WEIGHTS_MISSING', `neural.clipstyler needs ${what} (${model}), which is not installed`, {
        subject: model,
        hint: `run \`atelier models pull ${model}${model === VGG_MODEL ? ' --accept-licence' : ''}\`; or pass --weights random to try the pipeline with a tiny untrained CLIP (the result then follows no text)`,
        cause: e,
      });
    }
    throw e;
  };
  let clipFile: string;
  try {
    clipFile = modelFilePath(CLIP_MODEL, 'model.safetensors');
  } catch (e) {
    return needs(CLIP_MODEL, 'CLIP ViT-B/32', e);
  }
  const vgg = await readModelFile(VGG_MODEL, VGG_FILE).catch((e: unknown) => needs(VGG_MODEL, 'the real VGG-19 to relu3_1 for its content loss', e));
  const clip = loadClipWeights(await readWeights(clipFile), { subject: clipFile });
  const tokenizer = ClipTokenizer.fromFiles(modelFilePath(CLIP_MODEL, 'vocab.json'));
  return { text: clip.text!, vision: clip.vision!, tokenizer, vgg, label: `${CLIP_MODEL} + ${VGG_MODEL}` };
}

/** The content at a working size the network takes: each side down to a multiple of 8. */
function workingImage(content: Image): Image {
  const width = Math.max(MULTIPLE, Math.floor(content.width / MULTIPLE) * MULTIPLE);
  const height = Math.max(MULTIPLE, Math.floor(content.height / MULTIPLE) * MULTIPLE);
  const rgb = content.channels === 3 ? content : toRgb(content);
  return width === rgb.width && height === rgb.height ? rgb : resizeImage(rgb, width, height);
}

function toRgb(image: Image): Image {
  const out = new Image(image.width, image.height, 3);
  for (let c = 0; c < 3; c++) out.plane(c).set(image.plane(Math.min(c, image.channels - 1)));
  return out;
}

/** torchvision's adjust_contrast: blend with the mean of the image's grey (ITU-R 601 weights), clamped. */
function adjustContrast(image: Image, factor: number): Image {
  if (factor === 1) return image;
  const [r, g, b] = [image.plane(0), image.plane(1), image.plane(2)];
  let mean = 0;
  for (let i = 0; i < r.length; i++) mean += 0.2989 * r[i]! + 0.587 * g[i]! + 0.114 * b[i]!;
  mean /= r.length;
  for (let i = 0; i < image.data.length; i++) image.data[i] = Math.min(1, Math.max(0, factor * image.data[i]! + (1 - factor) * mean));
  return image;
}

/** The paper's schedule: StepLR(100, 0.5) stepped before each optimiser step, so step e uses lr·0.5^⌊(e+1)/100⌋. */
const learningRateAt = (p: ClipStylerParams, step: number) => p.learningRate * 0.5 ** Math.floor((step + 1) / 100);

async function train(ctx: RunContext, p: ClipStylerParams, work: Image, nets: Networks): Promise<{ params: ParameterSet; last?: Record<string, number>; cropSize: number }> {
  const [{ promptEnsembles }, { clipImageEmbedding, ClipStylerObjective }] = await Promise.all([import('../../engine/nets/clip/prompt-ensemble.js'), import('./clipstyler-objective.js')]);
  const setup = ctx.progress.sub(0, 0.05, 'encoding the texts and the content');
  setup.step(0, 2);
  const [target, source] = await promptEnsembles(nets.text, nets.tokenizer, [p.prompt, p.source], IMAGENET_TEMPLATES, ctx.threads);
  throwIfAborted(ctx.signal);
  const { width, height } = work;
  const sourceEmbedding = await clipImageEmbedding(nets.vision, work.data, height, width, ctx.threads);
  setup.step(1, 2);
  throwIfAborted(ctx.signal);
  const cropSize = Math.min(p.cropSize, width, height);
  const unet = ParameterSet.initialised(clipStylerUnetSpecs(), ctx.seed);
  const objective = await ClipStylerObjective.create(
    unet,
    work.data,
    height,
    width,
    {
      vision: nets.vision,
      vgg: nets.vgg,
      contentTaps: [...CONTENT_TAPS],
      source: sourceEmbedding,
      direction: textDirection(target!, source!),
      crops: p.crops,
      cropSize,
      threshold: p.threshold,
      weights: { patch: p.patchWeight, dir: p.directionWeight, content: p.contentWeight, tv: p.tvWeight },
    },
    ctx.threads,
  );
  setup.step(2, 2);
  const progress = ctx.progress.sub(0.05, 0.98, 'training the stylisation network');
  const adam = new Adam(unet.size, { learningRate: p.learningRate });
  let last: Record<string, number> | undefined;
  try {
    for (let step = 0; step < p.iterations; step++) {
      throwIfAborted(ctx.signal);
      const geometry = samplePerspectiveCrops(ctx.rng, width, height, cropSize, p.crops, p.distortion);
      const e = await objective.evaluate(cropSampling(geometry, width), p.crops, cropSize);
      if (!Number.isFinite(e.loss)) {
        throw new AtelierError('E_NUMERIC', `The CLIPstyler loss became non-finite at step ${step}`, { hint: 'lower learningRate or the loss weights' });
      }
      last = { loss: e.loss, ...e.parts };
      // The loss is the network's before this step's update (the curve the paper prints).
      progress.step(step, p.iterations, last);
      adam.step(unet.data, e.grad, learningRateAt(p, step));
    }
  } finally {
    await objective.release();
  }
  progress.step(p.iterations, p.iterations, last);
  return { params: unet, cropSize, ...(last && { last }) };
}

export const clipstyler = defineMethod({
  id: 'neural.clipstyler',
  family: 'neural',
  title: 'CLIPstyler (style from a text)',
  summary: 'Train a small network on the content so that, in CLIP, the image changes the way the prompt differs from "a Photo"',
  reference: 'Kwon & Ye, CLIPstyler: Image Style Transfer with a Single Text Condition, CVPR 2022',
  inputs: { style: 'none' },
  params,
  advanced: ['source', 'learningRate', 'distortion', 'threshold', 'patchWeight', 'directionWeight', 'contentWeight', 'tvWeight', 'contrast', 'weights'],
  presets: {
    // The paper's settings at 512² run CLIP on 65 images per step: hours on two CPU cores.
    'Quick (CPU)': { iterations: 100, crops: 16, cropSize: 96, maxSize: 256 },
    'Paper': { iterations: 200, crops: 64, cropSize: 128, maxSize: 512 },
  },
  defaultMaxSize: 512,
  weights: [
    { model: CLIP_MODEL, description: 'CLIP ViT-B/32 image and text towers with their vocabulary (the paper\'s CLIP)', when: { weights: ['installed'] } },
    { model: VGG_MODEL, description: 'the real VGG-19 to relu3_1, for the content loss', when: { weights: ['installed'] } },
  ],
  // Measured at three sizes (bench/memory.mjs 0.01 0.04 0.09, PARAMS {"iterations":2}, the tiny
  // random CLIP, threads 1, load 15): 578 / 993 / 1591 MB over the baseline at 100² / 200² / 300²,
  // growing with the pixels: the small network trained on the whole working image keeps its
  // activations and their gradients (~13 KB per pixel); the batch of crops through CLIP does not
  // grow. Fitted over the three with a little margin: the estimate lands at +5 / −1 / +2 %. (The
  // earlier profile, from 250² alone, put almost all of it in the load, 1269 MB + 1 KB per pixel:
  // 1.5 GB at the default 512², where this one gives 3.7 GB.) CLIP's and VGG's files are its weights.
  memory: {
    bytesPerPixel: 13300,
    loadBytes: 480 * 2 ** 20,
    weightBytes: (p) => {
      if (p.weights === 'random') return 0;
      const [clip, vgg] = [modelWeightBytes(CLIP_MODEL), modelWeightBytes(VGG_MODEL)];
      return clip === undefined || vgg === undefined ? undefined : clip + vgg;
    },
  },
  quickParams: { prompt: 'a watercolor painting', weights: 'random', iterations: 2, crops: 2, cropSize: 16 },
  async run(ctx, inputs, p) {
    if (ctx.controls.strength === 0) return { image: inputs.content.clone(), meta: { iterations: 0 } };
    const nets = await loadNetworks(p, ctx.seed);
    if (p.weights === 'random') ctx.log.warn('neural.clipstyler runs a tiny untrained CLIP (--weights random): the result follows no text');
    throwIfAborted(ctx.signal);
    const work = workingImage(inputs.content);
    const { params: trained, last, cropSize } = await train(ctx, p, work, nets);
    throwIfAborted(ctx.signal);
    const { renderClipStyler } = await import('./clipstyler-objective.js');
    const out = new Image(work.width, work.height, 3, await renderClipStyler(trained, work.data, work.height, work.width, ctx.threads));
    const { content } = inputs;
    const sized = out.width === content.width && out.height === content.height ? out : resizeImage(out, content.width, content.height);
    ctx.progress.sub(0.98, 1).step(1, 1);
    return {
      image: adjustContrast(clampImage(sized), p.contrast),
      meta: {
        iterations: p.iterations,
        losses: last,
        weights: nets.label,
        workingSize: `${work.width}×${work.height}`,
        cropSize,
        contentLayers: [...CONTENT_TAPS],
      },
    };
  },
});
