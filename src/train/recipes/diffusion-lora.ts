import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { AtelierError } from '../../core/errors.js';
import { readImage } from '../../core/io.js';
import { resizeImage } from '../../core/resample.js';
import { Rng } from '../../core/rng.js';
import { DIFFUSION_LORA_KIND } from '../../engine/diffusion/lora-file.js';
import { unetAttentionParams } from '../../engine/diffusion/lora-modules.js';
import { scaledLinearSchedule } from '../../engine/diffusion/noise-schedule.js';
import { Vae } from '../../engine/diffusion/vae.js';
import { ClipTextEncoder } from '../../engine/nets/clip/text-encoder.js';
import { checkTrainedName } from '../../engine/store.js';
import { claimTrainedModel } from '../../engine/store/trained.js';
import type { WeightTensor } from '../../engine/weights/tensor.js';
import { stableDiffusionParts } from '../../methods/diffusion/img2img.js';
import { loraCheckpoint, restoreLoraCheckpoint } from './lora-checkpoint.js';
import { defineTrainer, type TrainContext, type TrainingSession } from '../definition.js';
import { listTrainingImages } from '../training-images.js';
import { DiffusionLoraTrainer, kohyaUnetKey, type DiffusionBatch } from './diffusion-lora-trainer.js';

/**
 * A LoRA for Stable Diffusion 1.x's UNet from a few images (the report's experiment; the recipe of
 * kohya's sd-scripts train_network.py and diffusers' train_text_to_image_lora.py, Hu et al. 2021):
 * the images are centre-cropped to `size`, encoded once by the VAE (the posterior's mean and
 * variance are kept, and a latent is sampled from them per step, as those trainers sample
 * `latent_dist`), their captions (`<image>.txt` beside each image, else `caption`) encoded once
 * by the text encoder; each step noises latents at uniform random timesteps and trains the
 * attention projections' LoRA pairs (to_q, to_k, to_v, to_out.0 of self- and cross-attention by
 * default) on the noise-prediction loss, base frozen (diffusion-lora-trainer.ts). The result is a
 * kohya-layout file (`lora_unet_….lora_down.weight`, `.lora_up.weight`, `.alpha`) that
 * `diffusion.img2img --lora FILE[:weight]` and other tools read.
 */

const DEFAULT_TARGETS = ['attn1.to_q', 'attn1.to_k', 'attn1.to_v', 'attn1.to_out.0', 'attn2.to_q', 'attn2.to_k', 'attn2.to_v', 'attn2.to_out.0'];

const params = z.object({
  images: z.string().min(1).describe('Folder of the training images (1 to 50; an `<image>.txt` beside one is its caption)'),
  base: z.string().min(1).default('installed').describe("Stable Diffusion 1.x to adapt: 'installed' or 'sd15' (the store's sd15), or 'random' (a tiny untrained network, to try the pipeline). On the command line also a single .safetensors/.ckpt file or a diffusers folder"),
  caption: z.string().max(1000).default('a painting in sks style').describe('Caption of the images that have no .txt beside them'),
  rank: z.number().int().min(1).max(128).default(4).describe('LoRA rank r'),
  alpha: z.number().positive().optional().describe('LoRA scale α (ΔW = α/r · up·down; default: the rank)'),
  targets: z.array(z.string().min(1)).optional().describe(`Attention projections to adapt, as endings of their diffusers paths (default ${DEFAULT_TARGETS.join(',')}; e.g. attn2.to_k,attn2.to_v for cross-attention keys and values only)`),
  size: z.number().int().min(8).max(1024).default(512).describe('Side of the square training crops, in pixels (a multiple of the VAE and UNet downscaling: 64 for SD 1.x)'),
  batch: z.number().int().min(1).max(16).default(1).describe('Latents per step'),
  lr: z.number().positive().default(1e-4).describe('Adam learning rate'),
  flip: z.boolean().default(true).describe('Also train on the mirrored images'),
  eval: z.number().int().min(0).max(32).default(4).describe('Fixed (image, timestep, noise) samples whose loss is reported at each checkpoint'),
  name: z.string().min(1).optional().describe('Also store the LoRA under this name (`diffusion.img2img --lora NAME`)'),
});

const CHECKPOINT_FORMAT = 'atelier-diffusion-lora-training-1';

/** The kohya metadata other tools show (sd-scripts' `ss_` keys); facts of this run only. */
function kohyaMetadata(rank: number, alpha: number): Record<string, string> {
  return { ss_network_module: 'networks.lora', ss_network_dim: String(rank), ss_network_alpha: String(alpha), ss_base_model_version: 'sd_v1' };
}

/** Centre crop of the short side, scaled to size², as RGB planes in [−1, 1]; and its mirror. */
async function imagePlanes(file: string, size: number): Promise<{ planes: Float32Array; mirrored: Float32Array }> {
  const img = await readImage(file, { name: file });
  const side = Math.min(img.width, img.height);
  const square = resizeImage(img.crop(Math.floor((img.width - side) / 2), Math.floor((img.height - side) / 2), side, side), size, size);
  const n = size * size;
  const planes = new Float32Array(3 * n);
  const mirrored = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    const p = square.plane(Math.min(c, square.channels - 1));
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        planes[c * n + y * size + x] = p[y * size + x]! * 2 - 1;
        mirrored[c * n + y * size + x] = p[y * size + size - 1 - x]! * 2 - 1;
      }
    }
  }
  return { planes, mirrored };
}

function captionOf(file: string, fallback: string): string {
  const txt = file.replace(/\.[^.]+$/, '.txt');
  return existsSync(txt) ? readFileSync(txt, 'utf8').trim() : fallback;
}

/** Diffusers paths of the attention projections the patterns name (an ending after a dot, or `*` globs). */
export function chooseAttentionTargets(all: readonly string[], patterns: readonly string[]): string[] {
  const chosen: string[] = [];
  for (const p of patterns) {
    const re = new RegExp(`(^|\\.)${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    const hits = all.filter((a) => re.test(a));
    if (hits.length === 0) {
      throw new AtelierError('E_PARAM', `The target ${JSON.stringify(p)} names no attention projection of the UNet`, {
        subject: 'targets',
        expected: `endings of paths such as ${all.slice(0, 2).join(', ')} (attn1/attn2 . to_q, to_k, to_v, to_out.0)`,
        received: p,
      });
    }
    for (const h of hits) if (!chosen.includes(h)) chosen.push(h);
  }
  return all.filter((a) => chosen.includes(a));
}

export const diffusionLora = defineTrainer({
  id: 'diffusion-lora',
  title: 'LoRA for Stable Diffusion 1.x',
  summary: "Teach Stable Diffusion a style or subject from a few images: low-rank updates of the UNet's attention projections, base frozen, saved in kohya's layout",
  reference: 'Hu et al., LoRA: Low-Rank Adaptation of Large Language Models, 2021; Rombach et al., Latent Diffusion Models, CVPR 2022 (noise-prediction loss of Ho et al. 2020)',
  params,
  // Offered by the server's trainer and the studio's #train page like every recipe.
  studio: {
    images: { images: { role: 'style', min: 1, max: 20, description: 'The look to learn: 1 to 20 images of one style (captioned with the caption setting)' } },
    base: { param: 'base', choices: ['installed', 'random'] },
    basic: ['rank', 'lr', 'caption', 'size'],
    // 256² crops and no fixed evaluation samples: the cheapest steps that still train SD 1.5's attention.
    defaults: { size: 256, eval: 0 },
    iterations: 100,
  },
  async open(ctx, p) {
    if (p.name) checkTrainedName(p.name);
    const files = listTrainingImages(p.images, 'style', 'artistic');
    if (files.length > 50) throw new AtelierError('E_PARAM', `The LoRA trainer takes 1 to 50 images; ${p.images} holds ${files.length}`, { subject: 'images', hint: 'pick the images that show the style best' });
    // Claim the name first: a second training writing it is refused before any work.
    const claim = p.name ? await claimTrainedModel(DIFFUSION_LORA_KIND, p.name) : undefined;
    try {
      return await openSession(p, ctx, files, claim);
    } catch (e) {
      await claim?.release();
      throw e;
    }
  },
});

async function openSession(p: z.output<typeof params>, ctx: TrainContext, files: string[], claim: { release: () => Promise<void> } | undefined): Promise<TrainingSession> {
  const parts = await stableDiffusionParts(p.base, ctx.seed);
  const vae = await Vae.create(parts.vae, { threads: ctx.threads });
  const multiple = vae.downscale * 2 ** (parts.unet.config.multipliers.length - 1);
  if (p.size % multiple !== 0) {
    await vae.release();
    throw new AtelierError('E_PARAM', 'The training size must be a multiple of the VAE\'s and the UNet\'s downscaling', { subject: 'size', expected: `a multiple of ${multiple}`, received: String(p.size) });
  }
  const alpha = p.alpha ?? p.rank;
  const all = unetAttentionParams(parts.unet);
  const targets = chooseAttentionTargets(all.map((s) => s.path), p.targets ?? DEFAULT_TARGETS);
  const shapes = new Map(all.map((s) => [s.path, s.shape]));
  for (const t of targets) {
    const limit = Math.min(...shapes.get(t)!);
    if (p.rank > limit) throw new AtelierError('E_PARAM', `Rank ${p.rank} is larger than ${t} allows`, { subject: 'rank', expected: `at most ${limit} for a [${shapes.get(t)!.join(', ')}] weight`, received: String(p.rank) });
  }

  // Latents (posterior mean and standard deviation, unscaled) and captions, once.
  const latents: { mean: Float32Array; std: Float32Array; caption: number }[] = [];
  const captions: string[] = [];
  const scale = parts.vae.config.scalingFactor;
  let latentShape: number[] = [];
  try {
    for (const f of files) {
      const caption = captionOf(f, p.caption);
      if (!captions.includes(caption)) captions.push(caption);
      const { planes, mirrored } = await imagePlanes(f, p.size);
      for (const img of p.flip ? [planes, mirrored] : [planes]) {
        const e = await vae.encode(img, p.size, p.size);
        latentShape = e.shape;
        latents.push({ mean: e.mean, std: e.logvar.map((v) => Math.exp(0.5 * Math.min(20, Math.max(-30, v)))), caption: captions.indexOf(caption) });
      }
    }
  } finally {
    await vae.release();
  }
  const length = parts.text.config.contextLength;
  const text = await ClipTextEncoder.create(parts.text, { batch: 1, threads: ctx.threads });
  const contexts: Float32Array[] = [];
  try {
    for (const c of captions) contexts.push((await text.encode([parts.tokenizer.encode(c, { contextLength: length })])).hidden);
  } finally {
    await text.release();
  }
  const [, channels, h, w] = latentShape as [number, number, number, number];
  ctx.log.info(`diffusion-lora: ${files.length} image${files.length === 1 ? '' : 's'} (${latents.length} latents ${channels}×${h}×${w}), ${captions.length} caption${captions.length === 1 ? '' : 's'}; rank ${p.rank}, α ${alpha}, ${targets.length} attention projections`);

  // kohya's initialisation: down as PyTorch's Linear default (uniform ±1/√in), up zero.
  const rng = new Rng((ctx.seed ^ 0xd1ff) >>> 0);
  const init = new Map(
    targets.map((t) => {
      const [out, inn] = shapes.get(t)! as [number, number];
      const bound = 1 / Math.sqrt(inn);
      return [t, { down: Float32Array.from({ length: p.rank * inn }, () => rng.uniform(-bound, bound)), up: new Float32Array(out * p.rank) }] as const;
    }),
  );
  const trainer = await DiffusionLoraTrainer.create(parts.unet, { rank: p.rank, alpha, targets, init, height: h, width: w, contextLength: length, learningRate: p.lr, threads: ctx.threads });
  const schedule = scaledLinearSchedule();
  const steps = schedule.alphasCumprod.length;
  const size = channels * h * w;
  const contextSize = length * parts.text.config.width;

  /** A batch of (latent index, timestep) with noise from `rng`: z₀ sampled from the posterior, z_t = √ᾱ z₀ + √(1−ᾱ) ε. */
  const batchOf = (picks: { index: number; t: number }[], rng: Rng): DiffusionBatch => {
    const noisy = new Float32Array(picks.length * size);
    const noise = new Float32Array(picks.length * size);
    const context = new Float32Array(picks.length * contextSize);
    picks.forEach(({ index, t }, b) => {
      const l = latents[index]!;
      const a = Math.sqrt(schedule.alphasCumprod[t]!);
      const s = Math.sqrt(1 - schedule.alphasCumprod[t]!);
      for (let i = 0; i < size; i++) {
        const z0 = (l.mean[i]! + l.std[i]! * rng.normal()) * scale;
        const e = rng.normal();
        noise[b * size + i] = e;
        noisy[b * size + i] = a * z0 + s * e;
      }
      context.set(contexts[l.caption]!, b * contextSize);
    });
    return { noisy, noise, context, timesteps: picks.map((x) => x.t) };
  };
  const evalRng = new Rng((ctx.seed ^ 0x5eed5) >>> 0);
  const validation = p.eval > 0 ? batchOf(Array.from({ length: p.eval }, (_, i) => ({ index: i % latents.length, t: Math.floor(((i + 0.5) / p.eval) * steps) })), evalRng) : undefined;

  const exported = (): WeightTensor[] => {
    const out: WeightTensor[] = [];
    for (const t of targets) {
      const key = kohyaUnetKey(t);
      for (const part of ['lora_down', 'lora_up']) {
        const name = `${key}.${part}.weight`;
        out.push({ name, shape: trainer.trained.find((x) => x.name === name)!.shape, data: trainer.tensor(name) });
      }
      out.push({ name: `${key}.alpha`, shape: [], data: Float32Array.of(alpha) });
    }
    return out;
  };
  return {
    get iteration() {
      return trainer.iteration;
    },
    checkpointFormat: CHECKPOINT_FORMAT,
    curves: [{ key: 'loss', label: 'noise-prediction loss' }],
    curveTitle: `LoRA r${p.rank} on ${p.base === 'installed' ? 'sd15' : path.basename(p.base)}, ${files.length} image${files.length === 1 ? '' : 's'}`,
    summary: { base: p.base, rank: p.rank, alpha, targets, trainableParameters: trainer.parameterCount, images: files, captions, size: p.size, batch: p.batch, flip: p.flip },
    async step(rng) {
      const picks = Array.from({ length: p.batch }, () => ({ index: rng.int(latents.length), t: rng.int(steps) }));
      const r = await trainer.step(batchOf(picks, rng));
      return { values: { loss: r.loss, gradientNorm: r.gradientNorm } };
    },
    async validate() {
      return validation ? { loss: await trainer.evaluate(validation) } : undefined;
    },
    checkpoint() {
      return loraCheckpoint(trainer, { base: p.base, rank: p.rank, alpha, targets });
    },
    restore(tensors, metadata, iteration) {
      restoreLoraCheckpoint(trainer, { base: p.base, rank: p.rank, alpha, targets }, tensors, metadata, iteration);
    },
    exportWeights() {
      const weights = p.base === 'installed' ? 'installed' : p.base;
      return {
        fileName: `${p.name ?? `diffusion-lora-r${p.rank}`}.safetensors`,
        tensors: exported(),
        metadata: {
          ...kohyaMetadata(p.rank, alpha),
          trainer: 'atelier train diffusion-lora',
          base: p.base,
          steps: String(trainer.iteration),
          images: JSON.stringify(files.map((f) => path.basename(f))),
          captions: JSON.stringify(captions),
          size: String(p.size),
        },
        ...(p.name && { install: { kind: DIFFUSION_LORA_KIND, name: p.name } }),
        usage: `--method diffusion.img2img --weights ${weights} --lora FILE`,
        use: { method: 'diffusion.img2img', param: 'lora', params: { weights } },
      };
    },
    async close() {
      await claim?.release();
      await trainer.release();
    },
  };
}
