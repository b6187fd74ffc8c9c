import { z } from 'zod';
import { defineMethod } from '../../core/registry.js';
import { CARTOON_VARIANTS } from '../../engine/nets/gan-stylizer-models.js';
import { weightSourceBytes } from '../../engine/store/weight-bytes.js';

/**
 * White-box Cartoonization (Wang & Yu, CVPR 2020): a U-Net generator trained against surface,
 * structure and texture representations of cartoons, followed by a guided filter that keeps the
 * photo's edges. The published TFLite generator is imported into an engine graph and runs at any
 * size (sides padded to multiples of 4); large images are tiled with feathered overlaps.
 */
const params = z.object({
  variant: z
    .enum(['dr', 'int8', 'fp16'])
    .default('dr')
    .describe('Which published variant: dr (dynamic-range int8 weights), int8 (fully quantised, run in float), fp16 (half-precision weights)'),
  weights: z
    .string()
    .min(1)
    .default('installed')
    .describe("'installed' (the model store's whitebox-cartoon) or 'random' (a seeded stand-in to try the pipeline). On the command line also a folder holding the .tflite files"),
  tileSize: z.number().int().min(128).max(8192).default(1024).describe('Largest tile side the network processes at once; larger images are tiled with feathered overlaps'),
  lora: z
    .array(z.string().min(1))
    .max(8)
    .optional()
    .describe('LoRA adapters to stack on the generator\'s convolutions, each NAME or NAME:WEIGHT, by the name they were installed under (no recipe here trains them for this network yet). On the command line also adapter files, FILE or FILE:WEIGHT (repeat or comma-separate; keys are the TFLite tensor names, docs/lora.md)'),
});

export const cartoon = defineMethod({
  id: 'neural.cartoon',
  family: 'neural',
  title: 'White-box cartoonization',
  summary: 'Cartoon look from a GAN trained on surface, structure and texture representations (non-commercial weights)',
  reference: 'Wang & Yu, Learning to Cartoonize Using White-box Cartoon Representations, CVPR 2020',
  inputs: { style: 'none' },
  params,
  weights: [{ model: 'whitebox-cartoon', description: `White-box Cartoonization generator, TFLite dr/int8/fp16 (${CARTOON_VARIANTS.dr.licence})`, variantParam: 'variant' }],
  // Measured with the published generator (dr): 72 MB to load (bench/memory.mjs --installed, threads
  // 1), 1243 MB per MP of a tile (bench/results/imported-gan.json: 1486 MB at 1024², quiet; the
  // smaller sizes' 631 MB/MP understates it), and multistyle's 84 MB per MP of the whole image in tiles.
  memory: {
    bytesPerPixel: 1303,
    loadBytes: 72 * 2 ** 20,
    pixelsAtOnce: (p, n) => Math.min(n, p.tileSize ** 2),
    sizeParam: 'tileSize',
    wholeBytesPerPixel: 88,
    weightBytes: (p) => weightSourceBytes(p.weights, CARTOON_VARIANTS[p.variant].model, { variant: CARTOON_VARIANTS[p.variant].variant }),
  },
  quickParams: { weights: 'random' },
  // No recipe trains adapters for White-box's generator (the lora trainer's bases leave it out).
  trainedModels: { lora: { kind: 'lora', stack: true, weighted: true } },
  async run(ctx, { content }, p) {
    const { runGanStylizer } = await import('../../engine/nets/gan-stylizers.js');
    return runGanStylizer(CARTOON_VARIANTS[p.variant], content, {
      weights: p.weights,
      tileSize: p.tileSize,
      seed: ctx.seed,
      threads: ctx.threads,
      signal: ctx.signal,
      onProgress: (d, t) => ctx.progress.step(d, t),
      ...(p.lora && { lora: p.lora }),
      warn: (m) => ctx.log.warn(`neural.cartoon: ${m}`),
    });
  },
});
