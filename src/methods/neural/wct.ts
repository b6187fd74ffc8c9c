import { z } from 'zod';
import { AtelierError, throwIfAborted } from '../../core/errors.js';
import { clampImage, type Image } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import type { TransferOptions, TransferStyle } from '../../engine/nets/autoencoder-transfer.js';
import { WCT_LEVELS, WCT_MODELS, type WctNetwork } from '../../engine/nets/wct-autoencoders.js';
import { guidedFilter } from '../../imaging/guided-filter.js';
import { weightSourceBytes } from '../../engine/store/weight-bytes.js';

/**
 * Universal style transfer (Li, Fang, Yang, Wang, Lu & Yang, NeurIPS 2017): the content goes through
 * encoder K (VGG-19 to reluK_1), its features are whitened and coloured with the style's
 * statistics, and decoder K turns them back into an image, which is the content of the next,
 * shallower level (coarse to fine: deep levels move shapes and textures, shallow ones colours and
 * fine strokes). The transform is the float64 Cholesky WCT of CAP-VSTNet (engine/features/cwct.ts):
 * like Li et al.'s eigen-based ZCA it gives the features exactly the style's mean and covariance
 * (the two differ by a rotation of the whitened features), and it shares one implementation with
 * neural.capvst. With masks, each content region takes its paired style region's statistics.
 */

/** Photoreal smoothing defaults, chosen on the dev photorealistic pairs (SSIM/PSNR to the content against color.mkl; bench/results/photoreal-wct.json). */
const SMOOTH_RADIUS = 8;
const SMOOTH_EPS = 1e-3;

const params = z.object({
  mode: z
    .enum(['artistic', 'photoreal'])
    .default('artistic')
    .describe('artistic: every level; photoreal (the PhotoWCT idea): the shallow levels only (default 2, 1), then edge-aware smoothing guided by the content, so the result stays a photo'),
  network: z
    .enum(['cd16x', 'vgg19'])
    .default('cd16x')
    .describe('Encoders/decoders: cd16x (Collaborative Distillation, VGG-19 distilled to ¼ width, levels 1–5, MIT) or vgg19 (the real VGG-19 and Li et al.’s decoders, levels 1–3, academic use only)'),
  levels: z
    .array(z.number().int().min(1).max(5))
    .min(1)
    .max(5)
    .optional()
    .describe('Levels to run, deepest first (e.g. [5,4,3,2,1]); default: every level of the network (photoreal: 2, 1)'),
  alpha: z.number().min(0).max(1).default(1).describe('Style strength in feature space at each level: 1 takes the style statistics, 0 keeps the content'),
  weights: z
    .string()
    .min(1)
    .default('installed')
    .describe("'installed' (the model store's files) or 'random' (seeded, to try the pipeline). On the command line also a folder holding the published files"),
  smoothRadius: z.number().int().min(1).max(64).default(SMOOTH_RADIUS).describe('photoreal: window radius of the guided filter, in pixels at a 512-px long side (scaled with the image)'),
  smoothEps: z.number().min(1e-6).max(1).default(SMOOTH_EPS).describe('photoreal: guided filter regularisation (larger: smoother, less of the content\'s edges)'),
  tileSize: z.number().int().min(128).max(8192).default(1024).describe('Largest tile side the networks process at once; larger images are tiled with cross-faded overlaps and whole-image statistics'),
});

export const wct = defineMethod({
  id: 'neural.wct',
  family: 'neural',
  title: 'Universal style transfer (WCT)',
  summary: 'Whitening and colouring of VGG features, level by level through pretrained decoders: any style, no training',
  reference: 'Li et al., Universal Style Transfer via Feature Transforms, NeurIPS 2017; Wang et al., Collaborative Distillation, CVPR 2020',
  inputs: { style: 'required', multiStyle: true },
  params,
  regions: 'native',
  weights: [
    { model: WCT_MODELS.cd16x, description: 'Collaborative Distillation 16× encoders/decoders 1SE…5SE, 1SD…5SD (network: cd16x)' },
    { model: WCT_MODELS.vgg19, description: 'normalised VGG-19 to relu1_1…relu3_1 and Li et al.’s decoders (network: vgg19)' },
  ],
  // Measured (bench/memory.mjs, random weights of the same size, style as large as the content,
  // threads 1): cd16x's five levels 141 MB to load and 467 MB per MP of a tile; vgg19's three
  // levels are taken as AdaIN's (the same encoder to relu3_1 and decoders): 877 MB per MP. A tiled
  // run keeps each level's whole-image result: 120 bytes per pixel, bounded by the 4K runs (cd16x
  // under 2 GB, vgg19 1248 MB: bench/style-nets.mjs, commits be25b36 and 1b98876); 128² tiles
  // measured 361 MB/MP, but their margins more than double the pixels run, which 1024² tiles do not.
  memory: {
    bytesPerPixel: (p) => (p.network === 'vgg19' ? 920 : 490),
    loadBytes: 141 * 2 ** 20,
    pixelsAtOnce: (p, n) => Math.min(n, p.tileSize ** 2),
    sizeParam: 'tileSize',
    wholeBytesPerPixel: 120,
    weightBytes: (p) => weightSourceBytes(p.weights, WCT_MODELS[p.network as WctNetwork]),
  },
  quickParams: { weights: 'random' },
  async run(ctx, { content, style, styles, regions }, p) {
    const network = p.network as WctNetwork;
    const max = WCT_LEVELS[network];
    const photoreal = p.mode === 'photoreal';
    const levels = p.levels ?? (photoreal ? [2, 1] : Array.from({ length: max }, (_, i) => max - i));
    const bad = levels.find((l) => l > max);
    if (bad !== undefined) {
      throw new AtelierError('E_PARAM', `The ${network} network has levels 1 to ${max}`, { subject: 'levels', received: JSON.stringify(levels), hint: network === 'vgg19' ? 'use network cd16x for levels 4 and 5' : undefined });
    }
    if (p.weights === 'random') ctx.log.warn('neural.wct runs with seeded random weights: the result is not the published networks\'');
    const [{ cwctTransform }, { Float64Products }, { levelSessionMemory, levelTileCount, transferLevel }, { loadWctLevel, openWctCascade, openWctLevel }] = await Promise.all([
      import('../../engine/features/cwct.js'),
      import('../../engine/features/float64-products.js'),
      import('../../engine/nets/autoencoder-transfer.js'),
      import('../../engine/nets/wct-runners.js'),
    ]);
    const list: TransferStyle[] = (styles ?? [{ image: style!, weight: 1 }]).map((s, i) => ({
      image: s.image,
      weight: s.weight,
      ...(i === 0 && regions && { labels: regions.style }),
    }));
    // Loading (or, with random weights, initialising) a level's encoder and decoder took about as
    // long as running it over one 384² image (measured, threads 1), while the transfer runs each
    // level over the content twice and each style once: loading is that share of the progress,
    // so the time left is right from the start (issue 20: within 2× after 10 %).
    const LOAD_PIXELS = 384 * 384;
    const transferPixels = 2 * content.pixels + list.reduce((a, s) => a + s.image.pixels, 0);
    const loadShare = LOAD_PIXELS / (LOAD_PIXELS + transferPixels);
    const runners = [];
    const loading = ctx.progress.sub(0, loadShare);
    // The first level loaded also starts the engine's session: it took most of the loading time.
    const loadUnits = 2 * levels.length - 1;
    for (const l of levels) {
      runners.push(await loadWctLevel(network, l, p.weights, ctx.seed));
      loading.step(levels.length + runners.length - 1, loadUnits);
    }
    const margin = (r: { stride: number }) => Math.max(32, 8 * r.stride);
    const maxTilePixels = p.tileSize * p.tileSize;
    // Levels whose sessions use an arena run in one session kept between runs (wct-runners.ts
    // openWctCascade), with the transforms' products; otherwise (tiled contents too large to keep
    // their features: 4K and up) one level's lean sessions at a time, released before the next
    // level's open, and the products in sessions of their own.
    const arena = runners.every((r) => levelSessionMemory(r, content, { maxTilePixels, margin: margin(r) }) === 'arena');
    const cascade = arena ? await openWctCascade(runners, ctx.threads) : undefined;
    let image: Image = content;
    try {
      const base: Omit<TransferOptions, 'margin'> = {
        alpha: p.alpha,
        build: cwctTransform,
        products: cascade?.products ?? (await Float64Products.get(ctx.threads)),
        ...(regions && { contentLabels: regions.content }),
        maxTilePixels,
        signal: ctx.signal,
      };
      const options = runners.map((r) => ({ ...base, margin: margin(r) }));
      const total = runners.reduce((a, r, i) => a + levelTileCount(r, content, list, options[i]!), 0);
      const transfer = ctx.progress.sub(loadShare, 1);
      let done = 0;
      for (const [i, r] of runners.entries()) {
        const level = cascade?.levels[i] ?? (await openWctLevel(r, ctx.threads, levelSessionMemory(r, image, options[i]!)));
        try {
          image = clampImage(await transferLevel(level, image, list, { ...options[i]!, tick: () => transfer.step(++done, total) }));
        } finally {
          if (!cascade) await level.release();
        }
      }
    } finally {
      await cascade?.levels[0]!.release();
    }
    if (photoreal) {
      // PhotoWCT's second step (Li et al. 2018) with He et al.'s guided filter instead of their
      // matting-affinity smoothing: the result becomes locally an affine function of the content,
      // which removes the decoders' distortions while keeping the transferred colours.
      throwIfAborted(ctx.signal);
      const scale = Math.max(content.width, content.height) / 512;
      image = clampImage(guidedFilter(content, image, { radius: Math.max(1, Math.round(p.smoothRadius * scale)), eps: p.smoothEps, subsample: scale > 2 ? Math.floor(scale) : 1 }));
    }
    return { image, meta: { mode: p.mode, network, levels, weights: p.weights === 'random' ? `random (seed ${ctx.seed})` : p.weights === 'installed' ? WCT_MODELS[network] : p.weights } };
  },
});
