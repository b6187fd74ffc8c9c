import { z } from 'zod';
import { clampImage } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import type { TransferStyle } from '../../engine/nets/autoencoder-transfer.js';
import { WCT_MODELS } from '../../engine/nets/wct-autoencoders.js';
import { weightSourceBytes } from '../../engine/store/weight-bytes.js';

/**
 * AdaIN (Huang & Belongie, ICCV 2017, "Arbitrary Style Transfer in Real-time with Adaptive Instance
 * Normalization"): encode content and style with the real normalised VGG-19 to relu3_1, give each
 * content channel the style's mean and standard deviation, decode with the relu3_1 decoder of
 * `vgg19-relu3_1` (Li et al.'s, identical to LinearStyleTransfer's `dec_r31`; the paper's own
 * decoder inverts relu4_1, which no published file here covers). α blends with the content in
 * feature space; several styles interpolate their AdaIN outputs with their weights (paper §7);
 * masks give each content region its paired style region's statistics.
 */

const params = z.object({
  alpha: z.number().min(0).max(1).default(1).describe('Content–style trade-off in feature space: 1 takes the style statistics, 0 keeps the content'),
  weights: z
    .string()
    .min(1)
    .default('installed')
    .describe("'installed' (the model store's vgg19-relu3_1) or 'random' (seeded, to try the pipeline). On the command line also a folder holding the published files"),
  tileSize: z.number().int().min(128).max(8192).default(1024).describe('Largest tile side the networks process at once; larger images are tiled with cross-faded overlaps and whole-image statistics'),
});

export const adain = defineMethod({
  id: 'neural.adain',
  family: 'neural',
  title: 'AdaIN (adaptive instance normalisation)',
  summary: "Give the content's VGG relu3_1 features the style's channel means and deviations, then decode: any style in one pass",
  reference: 'Huang & Belongie, Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization, ICCV 2017',
  inputs: { style: 'required', multiStyle: true },
  params,
  regions: 'native',
  weights: [{ model: WCT_MODELS.vgg19, description: 'normalised VGG-19 to relu3_1 and its decoder (Li et al. 2017)' }],
  // Measured (bench/memory.mjs, random weights of the same size, style as large as the content,
  // threads 1): 75 MB to load, 877 MB per MP of a tile, 21 MB per MP of the whole image a tiled run keeps (128² tiles).
  memory: {
    bytesPerPixel: 920,
    loadBytes: 75 * 2 ** 20,
    pixelsAtOnce: (p, n) => Math.min(n, p.tileSize ** 2),
    sizeParam: 'tileSize',
    wholeBytesPerPixel: 22,
    weightBytes: (p) => weightSourceBytes(p.weights, WCT_MODELS.vgg19),
  },
  quickParams: { weights: 'random' },
  async run(ctx, { content, style, styles, regions }, p) {
    if (p.weights === 'random') ctx.log.warn('neural.adain runs with seeded random weights: the result is not the published networks\'');
    const [{ adainTransform }, { levelSessionMemory, levelTileCount, transferLevel }, { loadWctLevel, openWctCascade, openWctLevel }] = await Promise.all([
      import('../../engine/features/adain.js'),
      import('../../engine/nets/autoencoder-transfer.js'),
      import('../../engine/nets/wct-runners.js'),
    ]);
    const models = await loadWctLevel('vgg19', 3, p.weights, ctx.seed);
    const list: TransferStyle[] = (styles ?? [{ image: style!, weight: 1 }]).map((s, i) => ({
      image: s.image,
      weight: s.weight,
      ...(i === 0 && regions && { labels: regions.style }),
    }));
    const options = {
      alpha: p.alpha,
      build: adainTransform,
      // AdaIN reads only each channel's variance.
      covariance: false,
      ...(regions && { contentLabels: regions.content }),
      maxTilePixels: p.tileSize * p.tileSize,
      margin: 32,
      signal: ctx.signal,
    };
    const total = levelTileCount(models, content, list, options);
    let done = 0;
    // In 'arena' memory the level's session is kept between runs (wct-runners.ts openWctCascade).
    const memory = levelSessionMemory(models, content, options);
    const level = memory === 'arena' ? (await openWctCascade([models], ctx.threads)).levels[0]! : await openWctLevel(models, ctx.threads, memory);
    let image;
    try {
      image = await transferLevel(level, content, list, { ...options, tick: () => ctx.progress.step(++done, total) });
    } finally {
      await level.release();
    }
    return { image: clampImage(image), meta: { weights: p.weights === 'random' ? `random (seed ${ctx.seed})` : p.weights === 'installed' ? WCT_MODELS.vgg19 : p.weights } };
  },
});
