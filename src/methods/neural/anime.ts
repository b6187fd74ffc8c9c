import { z } from 'zod';
import { defineMethod } from '../../core/registry.js';
import { ANIME_HAYAO, ANIME_MERGED_KIND } from '../../engine/nets/gan-stylizer-models.js';
import { weightSourceBytes } from '../../engine/store/weight-bytes.js';

/**
 * AnimeGANv2 (Chen, Liu & Chen 2020), Hayao style: a light generator (inverted residual blocks,
 * layer norm) trained adversarially on frames of Miyazaki's films, with grayscale style, colour
 * and content losses. The published int8 TFLite generator is imported into an engine graph (weights
 * dequantised, run in float) at any size (multiples of 4); large images are tiled with feathered
 * overlaps. Its layer norm takes statistics over the whole input, so very large tiles match the
 * whole-image result best.
 */
const params = z.object({
  weights: z
    .string()
    .min(1)
    .default('installed')
    .describe("'installed' (the model store's animeganv2-hayao), 'random' (a seeded stand-in to try the pipeline), or a generator made by `atelier lora merge --base animeganv2-hayao` (its name). On the command line also a folder holding the .tflite file"),
  // 576: a 1024² image is exactly 2×2 tiles overlapping by twice the 64-px margin (512 made 3×3,
  // 2.25× the pixels); a 576² tile peaks at 0.8 GB, a whole 1024² image at 2.8 GB.
  tileSize: z.number().int().min(128).max(8192).default(576).describe('Largest tile side the network processes at once; larger images are tiled with feathered overlaps (576: about 1 GB peak at any size, a 1024² image in 2×2 tiles; a whole 1024² image takes 2.8 GB)'),
  lora: z
    .array(z.string().min(1))
    .max(8)
    .optional()
    .describe('LoRA adapters to stack on the generator\'s convolutions, each NAME or NAME:WEIGHT: made by `atelier train lora --base animeganv2-hayao --name NAME` or the studio\'s trainer. On the command line also adapter files, FILE or FILE:WEIGHT (repeat or comma-separate; keys are the TFLite tensor names, docs/lora.md)'),
});

export const anime = defineMethod({
  id: 'neural.anime',
  family: 'neural',
  title: 'AnimeGANv2 (Hayao)',
  summary: 'Photo to anime in the style of Miyazaki\'s films, from a GAN generator (non-commercial weights)',
  reference: 'Chen, Liu & Chen, AnimeGAN: a novel lightweight GAN for photo animation, ISICA 2019; AnimeGANv2 (2020)',
  inputs: { style: 'none' },
  params,
  weights: [{ model: ANIME_HAYAO.model, description: `AnimeGANv2 Hayao generator, TFLite int8 (${ANIME_HAYAO.licence})` }],
  // Measured with the published generator: 92 MB to load (bench/memory.mjs --installed, threads 1),
  // 2522 MB per MP of a tile: a whole 1024² image peaks at 2848 MB in arena sessions (commit 28e84b3,
  // bench/imported.mjs --gan), less 110 MB of process and the load; the default 576² tile is then
  // counted at 0.9 GB (measured 0.8 GB). Multistyle's 84 MB per MP of the whole image in tiles.
  memory: {
    bytesPerPixel: 2645,
    loadBytes: 92 * 2 ** 20,
    pixelsAtOnce: (p, n) => Math.min(n, p.tileSize ** 2),
    sizeParam: 'tileSize',
    wholeBytesPerPixel: 88,
    weightBytes: (p) => weightSourceBytes(p.weights, ANIME_HAYAO.model),
  },
  quickParams: { weights: 'random' },
  trainedModels: { lora: { kind: 'lora', trainer: 'lora', stack: true, weighted: true, trainerParams: { base: 'animeganv2-hayao' } } },
  async run(ctx, { content }, p) {
    const { runGanStylizer } = await import('../../engine/nets/gan-stylizers.js');
    return runGanStylizer(ANIME_HAYAO, content, {
      weights: p.weights,
      tileSize: p.tileSize,
      seed: ctx.seed,
      threads: ctx.threads,
      signal: ctx.signal,
      onProgress: (d, t) => ctx.progress.step(d, t),
      ...(p.lora && { lora: p.lora }),
      mergedKind: ANIME_MERGED_KIND,
      warn: (m) => ctx.log.warn(`neural.anime: ${m}`),
    });
  },
});
