import { existsSync } from 'node:fs';
import { z } from 'zod';
import { AtelierError } from '../../core/errors.js';
import { Image, clampImage } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import { resizeImage } from '../../core/resample.js';
import { readDiffusionLoraStack, type WeightedDiffusionLora } from '../../engine/diffusion/lora-file.js';
import { mergeDiffusionLoras } from '../../engine/diffusion/lora-merge.js';
import { DiffusionPipeline, type DiffusionParts } from '../../engine/diffusion/pipeline.js';
import { randomStableDiffusion, readStableDiffusion } from '../../engine/diffusion/stable-diffusion-files.js';
import { modelFiles } from '../../engine/store.js';

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
 */

export const SD15_MODEL = 'sd15';

const params = z.object({
  prompt: z.string().max(2000).default('an oil painting with thick brush strokes').describe('What the picture should become'),
  negativePrompt: z.string().max(2000).default('').describe('What to steer away from (classifier-free guidance against it)'),
  denoise: z.number().min(0.05).max(1).default(0.6).describe('How much of the schedule is run: 0.05 keeps the content, 1 ignores it'),
  steps: z.number().int().min(1).max(150).default(25).describe('Sampler steps over the whole schedule (denoise × steps are run)'),
  guidance: z.number().min(1).max(30).default(7.5).describe('Classifier-free guidance scale'),
  sampler: z.enum(['dpmpp-2m', 'ddim']).default('dpmpp-2m').describe('DPM-Solver++(2M) or DDIM (η = 0)'),
  size: z.number().int().min(64).max(2048).default(512).describe('Long side the image is processed at (SD 1.x is trained at 512)'),
  weights: z.string().min(1).default('installed').describe("'installed' (the store's sd15), a single .safetensors/.ckpt file or a diffusers folder, or 'random' (tiny untrained network, to try the pipeline)"),
  lora: z
    .array(z.string().min(1))
    .max(8)
    .optional()
    .describe('LoRA files for SD 1.x to stack, FILE or FILE:WEIGHT (repeat or comma-separate; kohya, diffusers/PEFT or older diffusers keys, or a name from `atelier train diffusion-lora --name`; docs/lora.md)'),
});

const MAX_CACHED = 1;
const cache = new Map<string, Promise<DiffusionPipeline>>();

function partsFor(source: string, seed: number): Promise<DiffusionParts> {
  if (source === 'random') return Promise.resolve(randomStableDiffusion(seed));
  if (source === 'installed') return readStableDiffusion(modelFiles(SD15_MODEL).file('v1-5-pruned-emaonly.safetensors'));
  if (!existsSync(source)) {
    throw new AtelierError('E_FILE_NOT_FOUND', 'No Stable Diffusion weights there', {
      subject: source,
      expected: "'installed', 'random', a .safetensors/.ckpt single file or a diffusers folder",
    });
  }
  return readStableDiffusion(source);
}

function pipelineFor(source: string, seed: number, threads: number, lora: { stack: WeightedDiffusionLora[]; key: string }): Promise<DiffusionPipeline> {
  const key = `${source}|${source === 'random' ? seed : ''}|${threads}|${lora.key}`;
  let pending = cache.get(key);
  if (!pending) {
    pending = partsFor(source, seed).then((parts) => DiffusionPipeline.create(mergeDiffusionLoras(parts, lora.stack, source === 'installed' ? SD15_MODEL : source), { threads }));
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
  summary: 'Repaints the content after a text prompt with Stable Diffusion 1.5 (SDEdit: noise it part-way, denoise under the prompt)',
  reference: 'Rombach et al., High-Resolution Image Synthesis with Latent Diffusion Models, CVPR 2022; Meng et al., SDEdit, ICLR 2022',
  inputs: { style: 'none' },
  params,
  weights: [{ model: SD15_MODEL, description: 'Stable Diffusion 1.5 single file and CLIP vocabulary (CreativeML OpenRAIL-M: accept with --accept-licence)', when: { weights: ['installed'] } }],
  quickParams: { weights: 'random', steps: 4, size: 64 },
  advanced: ['negativePrompt', 'sampler', 'size', 'weights'],
  async run(ctx, { content }, p) {
    if (p.weights === 'random') ctx.log.warn('diffusion.img2img runs a tiny untrained network (--weights random): the result is noise, not the published model\'s');
    // Adapters are read (and checked) on every run; the key holds their sizes and times, so an edited file is never served from the cache.
    const lora = await readDiffusionLoraStack(p.lora ?? []);
    const pipeline = await pipelineFor(p.weights, ctx.seed, ctx.threads, lora);
    const factor = pipeline.sizeMultiple;
    const scale = p.size / Math.max(content.width, content.height);
    const round = (v: number) => Math.max(factor, Math.round((v * scale) / factor) * factor);
    const width = round(content.width);
    const height = round(content.height);
    const rgb = content.channels === 3 ? content : Image.fromPlanes(content.width, content.height, [0, 1, 2].map((c) => content.plane(Math.min(c, content.channels - 1))));
    const work = resizeImage(rgb, width, height);
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
      signal: ctx.signal,
      onStep: (step, total) => ctx.progress.step(step, total),
    });
    const image = clampImage(resizeImage(fromPlanes(out, width, height), content.width, content.height));
    return {
      image,
      meta: {
        weights: p.weights === 'random' ? `random (seed ${ctx.seed})` : p.weights === 'installed' ? SD15_MODEL : p.weights,
        size: `${width}×${height}`,
        ...(lora.stack.length > 0 && { lora: lora.stack.map((s) => `${s.lora.source} ×${s.weight} (${s.lora.layers.length} layers, ${s.lora.layouts.join('+')})`) }),
      },
    };
  },
});
