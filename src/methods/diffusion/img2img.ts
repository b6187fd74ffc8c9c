import { existsSync } from 'node:fs';
import { z } from 'zod';
import { AtelierError } from '../../core/errors.js';
import { Image, clampImage } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import { resizeImage } from '../../core/resample.js';
import { readDiffusionLoraStack, type WeightedDiffusionLora } from '../../engine/diffusion/lora-file.js';
import { mergeDiffusionLoras } from '../../engine/diffusion/lora-merge.js';
import { readIpAdapterFiles, type ReferenceWeights } from '../../engine/diffusion/ip-adapter-files.js';
import type { DiffusionPipeline, DiffusionParts } from '../../engine/diffusion/pipeline.js';
import { randomIpAdapter } from '../../engine/diffusion/random-ip-adapter.js';
import { clipImagePixels } from '../../engine/nets/clip/preprocess.js';
import { modelFiles } from '../../engine/store.js';
import { weightSourceBytes } from '../../engine/store/weight-bytes.js';
import { TINY_SD } from '../../engine/diffusion/random-checkpoint.js';

/**
 * Text-guided image-to-image with Stable Diffusion 1.x (Rombach et al. 2022; SDEdit, Meng et al.
 * 2022): the content is encoded by the VAE, noised to the point `denoise` of the schedule, and
 * denoised under the prompt with classifier-free guidance. `denoise` 0 would return the content,
 * 1 ignores it. The image is processed at a long side of `size` (sides rounded to multiples of 64)
 * and brought back to the content's size.
 *
 * Weights: 'installed' (the model store's sd15: the published single file and CLIP's vocabulary;
 * its CreativeML OpenRAIL-M licence must be accepted when installing), a path to a single file or
 * a diffusers folder, or 'random' (a tiny untrained network of the same architecture, to try the
 * pipeline: the result is noise, not a picture).
 *
 * With a style image (the report's DEADiff experiment, reference-image style with text control):
 * the style image's CLIP embedding is injected through IP-Adapter's decoupled cross-attention
 * (Ye et al. 2023) with one strength for the fine, high-resolution layers (`styleStrength`) and one
 * for the coarse layers around the bottleneck (`contentStrength`), split as DEADiff (Qi et al. 2024)
 * conditions SD 1.5 (engine/diffusion/decoupled-cross-attention.ts). The defaults 1 / 0 carry the
 * reference's look and leave the subject to the prompt. `styleNoise` starts from noise with the
 * style image's latent statistics ("Diffusion in Style", Everaert et al. 2023). `adapter`:
 * 'installed' (the store's ip-adapter-sd15: h94/IP-Adapter's ip-adapter_sd15 and its OpenCLIP
 * ViT-H/14 image tower), an adapter file with image_encoder/ beside it, or 'random' (tiny, untrained,
 * to go with --weights random).
 *
 * DEADiff's own checkpoint (`--weights deadiff`, the store's, or a path to deadiff_v1.ckpt) brings
 * its reference path: the style image through its two Q-Formers (the words "style" and "content")
 * into its joint cross-attention, style tokens in the fine layers and content tokens in the coarse
 * ones, each times its strength (DEADiff's img_weight); a group at 0 gets zero tokens, as DEADiff's
 * "style"-only and "content"-only modes do. `--adapter` is then not used. 'random-deadiff' is a
 * tiny untrained DEADiff, to try that path.
 */

export const SD15_MODEL = 'sd15';
export const IP_ADAPTER_MODEL = 'ip-adapter-sd15';
export const DEADIFF_MODEL = 'deadiff';
export const BERT_VOCABULARY_MODEL = 'bert-base-uncased';
const CLIP_L14_MODEL = 'clip-vit-l14';

const params = z.object({
  prompt: z.string().max(2000).default('an oil painting with thick brush strokes').describe('What the picture should become'),
  negativePrompt: z.string().max(2000).default('').describe('What to steer away from (classifier-free guidance against it)'),
  denoise: z.number().min(0.05).max(1).default(0.6).describe('How much of the schedule is run: 0.05 keeps the content, 1 ignores it'),
  steps: z.number().int().min(1).max(150).default(25).describe('Sampler steps over the whole schedule (denoise × steps are run)'),
  guidance: z.number().min(1).max(30).default(7.5).describe('Classifier-free guidance scale'),
  sampler: z.enum(['dpmpp-2m', 'ddim']).default('dpmpp-2m').describe('DPM-Solver++(2M) or DDIM (η = 0)'),
  size: z.number().int().min(64).max(2048).default(512).describe('Long side the image is processed at (SD 1.x is trained at 512)'),
  weights: z
    .string()
    .min(1)
    .default('installed')
    .describe("'installed' (the store's sd15), 'deadiff' (the store's DEADiff: a style image goes through its Q-Formers), 'random' or 'random-deadiff' (tiny untrained networks, to try the pipeline). On the command line also a single .safetensors/.ckpt file (SD 1.x or deadiff_v1.ckpt) or a diffusers folder"),
  lora: z
    .array(z.string().min(1))
    .max(8)
    .optional()
    .describe('LoRA adapters for SD 1.x to stack, each NAME or NAME:WEIGHT: made by `atelier train diffusion-lora --name NAME` or the studio\'s trainer. On the command line also LoRA files, FILE or FILE:WEIGHT (repeat or comma-separate; kohya, diffusers/PEFT or older diffusers keys; docs/lora.md)'),
  styleStrength: z.number().min(0).max(2).default(1).describe('With a style image: its strength in the fine, high-resolution cross-attention layers (colours, strokes, texture; 0 = none)'),
  contentStrength: z.number().min(0).max(2).default(0).describe('With a style image: its strength in the coarse layers around the bottleneck (layout and objects; 0 leaves the subject to the prompt)'),
  styleNoise: z.boolean().default(false).describe('"Diffusion in Style": starting noise with the style image\'s latent mean and spread per channel'),
  adapter: z.string().min(1).default('installed').describe("With a style image: 'installed' or 'ip-adapter-sd15' (the store's), or 'random' (tiny untrained adapter, with --weights random). On the command line also an IP-Adapter file with image_encoder/ beside it"),
});

const MAX_CACHED = 1;

/**
 * One VAE pass (the encode before sampling, the decode after it) in guided UNet steps, for the
 * progress layout: 0.27 measured on the tiny random pipeline at 128 (CPU time, one thread: encode
 * 0.13 s, decode 0.12 s, a UNet step 0.46–0.50 s); SD 1.5's decoder weighs more against its UNet
 * (a larger share of its work runs at full resolution), so a value between the two.
 */
const VAE_PASS_STEPS = 0.5;
const cache = new Map<string, Promise<DiffusionPipeline>>();

/** SD 1.x's parts from a `weights` value: 'installed' (or the store's name, sd15), 'random' (seeded) or a file or folder (also what `atelier train diffusion-lora --base` reads). */
export async function stableDiffusionParts(source: string, seed: number): Promise<DiffusionParts> {
  const { randomDeadiff, randomStableDiffusion, readStableDiffusion } = await import('../../engine/diffusion/stable-diffusion-files.js');
  if (source === 'random') return randomStableDiffusion(seed);
  if (source === 'random-deadiff') return randomDeadiff(seed);
  if (source === 'installed' || source === SD15_MODEL) return readStableDiffusion(modelFiles(SD15_MODEL).file('v1-5-pruned-emaonly.safetensors'));
  if (source === DEADIFF_MODEL) return readStableDiffusion(modelFiles(DEADIFF_MODEL).file('deadiff_v1.ckpt'), deadiffHelpers());
  if (!existsSync(source)) {
    throw new AtelierError('E_FILE_NOT_FOUND', 'No Stable Diffusion weights there', {
      subject: source,
      expected: "'installed', 'deadiff', 'random', 'random-deadiff', a .safetensors/.ckpt single file or a diffusers folder",
    });
  }
  return readStableDiffusion(source, deadiffHelpers());
}

/** What a DEADiff file may need from the store (used only when the file is DEADiff's and lacks it). */
function deadiffHelpers(): { wordPieceVocabulary?: string; clipVisionTower?: string } {
  const vocabulary = installedFile(BERT_VOCABULARY_MODEL, 'vocab.txt');
  const tower = installedFile(CLIP_L14_MODEL, 'model.safetensors');
  return { ...(vocabulary && { wordPieceVocabulary: vocabulary }), ...(tower && { clipVisionTower: tower }) };
}

/**
 * A store file when its model is installed: a DEADiff file reads bert-base-uncased's vocab.txt when
 * it has none beside it, and CLIP ViT-L/14 when it was saved without its Q-Formers' image towers.
 */
function installedFile(model: string, file: string): string | undefined {
  try {
    return modelFiles(model).file(file);
  } catch {
    return undefined;
  }
}

/** Sources that are plain SD 1.x (no DEADiff parts), whose adapter files can be checked before the base model is read. */
const PLAIN_SOURCES = new Set(['installed', SD15_MODEL, 'random']);

function referenceFor(adapter: string, seed: number, parts: DiffusionParts): Promise<ReferenceWeights> {
  if (adapter === 'random') return Promise.resolve(randomIpAdapter(seed + 1, parts.unet.config));
  const file = adapter === 'installed' || adapter === IP_ADAPTER_MODEL ? modelFiles(IP_ADAPTER_MODEL).file('ip-adapter_sd15.safetensors') : adapter;
  return readIpAdapterFiles(file, parts.unet.config);
}

/** `adapter` undefined: no reference-image injection (the adapter is not loaded). */
function pipelineFor(source: string, adapter: string | undefined, seed: number, threads: number, lora: { stack: WeightedDiffusionLora[]; key: string }): Promise<DiffusionPipeline> {
  const key = `${source}|${adapter ?? ''}|${source === 'random' || adapter === 'random' ? seed : ''}|${threads}|${lora.key}`;
  let pending = cache.get(key);
  if (!pending) {
    // the adapter's files are checked before the gigabytes of the base model are read (a DEADiff checkpoint needs none)
    if ((adapter === 'installed' || adapter === IP_ADAPTER_MODEL) && PLAIN_SOURCES.has(source)) modelFiles(IP_ADAPTER_MODEL);
    pending = stableDiffusionParts(source, seed)
      .then(async (parts): Promise<DiffusionParts> => (adapter === undefined || parts.deadiff ? parts : { ...parts, reference: await referenceFor(adapter, seed, parts) }))
      .then(async (parts) => (await import('../../engine/diffusion/pipeline.js')).DiffusionPipeline.create(mergeDiffusionLoras(parts, lora.stack, source === 'installed' ? SD15_MODEL : source), { threads }));
    pending.catch(() => cache.delete(key));
    cache.set(key, pending);
    while (cache.size > MAX_CACHED) {
      const oldest = cache.keys().next().value!;
      const evicted = cache.get(oldest)!;
      cache.delete(oldest);
      void evicted.then((p) => p.release()).catch(() => {});
    }
  }
  return pending;
}

/**
 * Self-attention over the latent's tokens materialises its score maps whole, and each session's
 * arena keeps its peak: measured on the tiny random pipeline (bench/memory.mjs, content 0.06 MP,
 * size 64 / 128 / 192: 115 / 876 / 4197 MB over the baseline, sessions in 'arena' memory), growing
 * as T² with 51 bytes per T², T the latent's tokens: five score maps of about 10 bytes per score
 * (the product and the softmax, with a partial copy), the UNet's heads × the guidance batch of
 * two, and the VAE's mid-block; 10.5 leaves a margin (the estimates land 4–7 % above those peaks).
 * With ORT's memory pattern the second run planned a block of its own: 153 / 1432 / 6901 MB, 17
 * bytes per score. SD 1.5: 8 heads, latent 1/8 (CompVis v1-inference.yaml: num_heads 8; the VAE's
 * ch_mult [1, 2, 4, 4] downsamples three times), so 17 score maps: 3.0 GB at size 512. The tiny
 * random one: TINY_SD's heads, latent 1/2.
 */
const ATTENTION_BYTES_PER_SCORE = 10.5;
function attentionBytes(weights: string, size: number): number {
  const tiny = weights === 'random';
  const heads = tiny ? TINY_SD.unet.heads : 8;
  const factor = tiny ? 2 ** (TINY_SD.vae.multipliers.length - 1) : 8;
  const tokens = (size / factor) ** 2;
  return ATTENTION_BYTES_PER_SCORE * (2 * heads + 1) * tokens * tokens;
}

/** A grey (or grey + alpha) image as RGB; RGB as it is. */
function asRgb(img: Image): Image {
  return img.channels === 3 ? img : Image.fromPlanes(img.width, img.height, [0, 1, 2].map((c) => img.plane(Math.min(c, img.channels - 1))));
}

/** Interleaved RGB in [0, 1] → planes in [−1, 1], and back. */
function toPlanes(img: Image): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    const plane = img.plane(c);
    for (let i = 0; i < n; i++) out[c * n + i] = plane[i]! * 2 - 1;
  }
  return out;
}

function fromPlanes(data: Float32Array, width: number, height: number): Image {
  const n = width * height;
  const planes = [0, 1, 2].map((c) => Float32Array.from(data.subarray(c * n, (c + 1) * n), (v) => (v + 1) / 2));
  return Image.fromPlanes(width, height, planes);
}

export const img2img = defineMethod({
  id: 'diffusion.img2img',
  family: 'diffusion',
  title: 'Stable Diffusion image-to-image',
  summary: "Repaints the content after a text prompt with Stable Diffusion 1.5 (SDEdit: noise it part-way, denoise under the prompt); a style image's look is injected through IP-Adapter's decoupled cross-attention, or DEADiff's Q-Formers with its checkpoint, with strengths for the style and the content layers",
  reference: 'Rombach et al., High-Resolution Image Synthesis with Latent Diffusion Models, CVPR 2022; Meng et al., SDEdit, ICLR 2022; Ye et al., IP-Adapter, 2023; Qi et al., DEADiff, CVPR 2024; Everaert et al., Diffusion in Style, ICCV 2023',
  inputs: { style: 'optional' },
  params,
  weights: [
    { model: SD15_MODEL, description: 'Stable Diffusion 1.5 single file and CLIP vocabulary (CreativeML OpenRAIL-M: accept with --accept-licence)', when: { weights: ['installed'] } },
    { model: IP_ADAPTER_MODEL, description: 'IP-Adapter for SD 1.5 and its OpenCLIP ViT-H/14 image tower (only with a style image)', when: { adapter: ['installed'] } },
    { model: DEADIFF_MODEL, description: "DEADiff: SD 1.5 with its two Q-Formers, CLIP's and BERT's vocabularies (a use-restricted licence: accept with --accept-licence)", when: { weights: [DEADIFF_MODEL] } },
  ],
  memory: {
    // The VAE decoder at full resolution dominates the linear part: its widest stage holds three
    // tensors of 128 channels (SD 1.5's ch 128) of 4 bytes per pixel. From the architecture:
    // sd15 is not in ../shared, so the whole pipeline at 512² was not measured here.
    bytesPerPixel: 1536,
    // The tiny random pipeline at size 64 (bench/memory.mjs): 153 MB, of which ~90 MB attention.
    loadBytes: 64 * 2 ** 20,
    // The image is processed at a long side of `size`, whatever the content's size.
    pixelsAtOnce: (p) => p.size * p.size,
    sizeParam: 'size',
    extraBytes: (p) => attentionBytes(p.weights, p.size),
    // The adapter is read only with a style image that is injected.
    weightBytes: (p, run) => {
      const base = weightSourceBytes(p.weights === SD15_MODEL ? 'installed' : p.weights, SD15_MODEL);
      const adapter = run.styles === 0 || p.adapter === 'random' || (p.styleStrength === 0 && p.contentStrength === 0) ? 0 : weightSourceBytes(p.adapter === IP_ADAPTER_MODEL ? 'installed' : p.adapter, IP_ADAPTER_MODEL);
      return base === undefined ? undefined : base + (adapter ?? 0);
    },
  },
  quickParams: { weights: 'random', steps: 4, size: 64, adapter: 'random' },
  trainedModels: { lora: { kind: 'diffusion-lora', trainer: 'diffusion-lora', stack: true, weighted: true, trainerParams: { base: { param: 'weights' } } } },
  advanced: ['negativePrompt', 'sampler', 'size', 'weights', 'adapter'],
  async run(ctx, { content, style }, p) {
    if (p.weights === 'random') ctx.log.warn('diffusion.img2img runs a tiny untrained network (--weights random): the result is noise, not the published model\'s');
    if (p.styleNoise && !style) {
      throw new AtelierError('E_INPUT_MISSING', '--style-noise takes its statistics from a style image, and none was given', { hint: 'give a style image (the second path, or -s), or leave out --style-noise' });
    }
    const inject = style !== undefined && (p.styleStrength > 0 || p.contentStrength > 0);
    if (style && !inject && !p.styleNoise) ctx.log.warn('the style image is not used: --style-strength and --content-strength are 0 and --style-noise is off');
    // Adapters are read (and checked) on every run; the key holds their sizes and times, so an edited file is never served from the cache.
    const lora = await readDiffusionLoraStack(p.lora ?? []);
    const pipeline = await pipelineFor(p.weights, inject ? p.adapter : undefined, ctx.seed, ctx.threads, lora);
    const factor = pipeline.sizeMultiple;
    const scale = p.size / Math.max(content.width, content.height);
    const round = (v: number) => Math.max(factor, Math.round((v * scale) / factor) * factor);
    const width = round(content.width);
    const height = round(content.height);
    const rgb = asRgb(content);
    const work = resizeImage(rgb, width, height);
    const styleRgb = style && asRgb(style);
    // The one-off setup (the pipeline's sessions built, or found in the cache) ends here: step 0
    // starts the clock of time left (core/time-left.ts). The VAE's encode before the UNet's steps
    // and its decode after them are counted as VAE_PASS_STEPS steps each, so the first steps are
    // not read as the whole run's pace.
    const unetSteps = pipeline.stepCount(p.steps, p.denoise);
    const units = unetSteps + 2 * VAE_PASS_STEPS;
    ctx.progress.step(0, unetSteps);
    const sampling = ctx.progress.sub(VAE_PASS_STEPS / units, (VAE_PASS_STEPS + unetSteps) / units);
    const out = await pipeline.generate({
      prompt: p.prompt,
      negativePrompt: p.negativePrompt,
      steps: p.steps,
      guidance: p.guidance,
      sampler: p.sampler,
      seed: ctx.seed,
      width,
      height,
      init: { image: toPlanes(work), strength: p.denoise },
      ...(inject && styleRgb && { reference: { pixels: clipImagePixels(styleRgb, pipeline.referenceSize!, pipeline.referenceFit), strengths: { style: p.styleStrength, content: p.contentStrength } } }),
      ...(p.styleNoise && styleRgb && { styleNoise: { image: toPlanes(resizeImage(styleRgb, width, height)), width, height } }),
      signal: ctx.signal,
      onStep: (step, total) => sampling.step(step, total),
    });
    const image = clampImage(resizeImage(fromPlanes(out, width, height), content.width, content.height));
    return {
      image,
      meta: {
        weights: p.weights === 'random' ? `random (seed ${ctx.seed})` : p.weights === 'installed' ? SD15_MODEL : p.weights,
        size: `${width}×${height}`,
        ...(lora.stack.length > 0 && { lora: lora.stack.map((s) => `${s.lora.source} ×${s.weight} (${s.lora.layers.length} layers, ${s.lora.layouts.join('+')})`) }),
        ...(inject && { reference: `${pipeline.injectionKind === 'deadiff' ? "DEADiff's Q-Formers" : p.adapter === 'installed' ? IP_ADAPTER_MODEL : p.adapter}, style ${p.styleStrength}, content ${p.contentStrength}` }),
        ...(p.styleNoise && { noise: 'style (Diffusion in Style)' }),
      },
    };
  },
});
