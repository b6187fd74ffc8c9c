import { z } from 'zod';
import { defineMethod } from '../../core/registry.js';
import type { CapVstMode } from '../../engine/nets/capvst/architecture.js';
import type { CapVstStylizer } from '../../engine/nets/capvst/stylizer.js';
import { CAPVST_MODELS, loadCapVstWeights, type CapVstVariant } from '../../engine/nets/capvst/weights.js';
import { weightSourceBytes } from '../../engine/store/weight-bytes.js';

/**
 * CAP-VSTNet (Wen, Gao & Zou, CVPR 2023): a reversible residual network maps the content and
 * style images to features without losing information; cWCT gives the content features the
 * style's mean and covariance; the same network run backwards turns them into the image. The
 * photorealistic model was trained with a Matting Laplacian loss, so photos stay photos.
 */
const params = z.object({
  mode: z
    .enum(['photoreal', 'artistic'])
    .default('photoreal')
    .describe('photoreal: photo-to-photo colour and tone (photo_*.pt); artistic: painting styles (art_*.pt)'),
  alpha: z
    .number()
    .min(0)
    .max(1)
    .default(1)
    .describe('Style strength in feature space: 1 takes the style statistics, 0 keeps the content'),
  variant: z
    .enum(['image', 'video'])
    .default('image')
    .describe('Which published checkpoint: image, or video (fine-tuned for temporal stability)'),
  weights: z
    .string()
    .min(1)
    .default('installed')
    .describe("'installed' (the store's checkpoint for the mode and variant), 'random' (seeded, to try the pipeline), or a model-store name (capvstnet_art_image, one trained here, …). On the command line also a checkpoint file path"),
  tileSize: z
    .number()
    .int()
    .min(64)
    .max(8192)
    .default(768)
    .describe('Largest tile side the network processes at once; larger images are tiled with cross-faded overlaps to bound memory'),
});

const MAX_CACHED = 2;
const stylizers = new Map<string, Promise<CapVstStylizer>>();

async function stylizerFor(source: string, mode: CapVstMode, variant: CapVstVariant, seed: number, threads: number): Promise<CapVstStylizer> {
  const key = `${source}|${mode}|${variant}|${source === 'random' ? seed : ''}|${threads}`;
  let pending = stylizers.get(key);
  if (!pending) {
    pending = (async () => {
      const { CapVstStylizer } = await import('../../engine/nets/capvst/stylizer.js');
      return CapVstStylizer.create(await loadCapVstWeights(source, mode, variant, seed), threads);
    })();
    pending.catch(() => stylizers.delete(key));
    stylizers.set(key, pending);
    while (stylizers.size > MAX_CACHED) stylizers.delete(stylizers.keys().next().value!);
  }
  return pending;
}

export const capvst = defineMethod({
  id: 'neural.capvst',
  family: 'neural',
  title: 'CAP-VSTNet',
  summary: 'Reversible network + Cholesky WCT: photorealistic or artistic transfer that keeps content affinity',
  reference: 'Wen, Gao & Zou, CAP-VSTNet: Content Affinity Preserved Versatile Style Transfer, CVPR 2023',
  inputs: { style: 'required', multiStyle: true },
  params,
  advanced: ['variant', 'tileSize'],
  presets: { 'Photo': { mode: 'photoreal' }, 'Painting': { mode: 'artistic' }, 'Half way': { alpha: 0.5 } },
  regions: 'native',
  defaultMaxSize: 1280,
  // Videos use the checkpoint the authors fine-tuned for temporal stability, unless another is asked for.
  video: { temporal: 'flow', carry: 'output', params: { variant: 'video' } },
  weights: (Object.entries(CAPVST_MODELS) as [CapVstMode, Record<CapVstVariant, string>][]).flatMap(([mode, byVariant]) =>
    (Object.entries(byVariant) as [CapVstVariant, string][]).map(([variant, model]) => ({
      model,
      description: `CAP-VSTNet checkpoint ${model}`,
      // 'installed' loads the one for the mode and variant; naming a model loads that one.
      when: { mode: [mode], variant: [variant], weights: ['installed', model] },
    })),
  ),
  // Measured (bench/memory.mjs, random weights of the same size, style as large as the content,
  // threads 1): 265 MB to load, 992 MB per MP of a tile (0.06 → 0.25 MP, below the 768² tile);
  // at 1 MP in tiles the whole image added no more than the measurement's noise, so neural.fast's
  // tiled figure (84 bytes per pixel: input, output and blend weights) stands for it.
  memory: {
    bytesPerPixel: 1040,
    loadBytes: 265 * 2 ** 20,
    pixelsAtOnce: (p, n) => Math.min(n, p.tileSize ** 2),
    sizeParam: 'tileSize',
    wholeBytesPerPixel: 84,
    weightBytes: (p) => weightSourceBytes(p.weights, CAPVST_MODELS[p.mode as CapVstMode][p.variant as CapVstVariant]),
  },
  quickParams: { weights: 'random' },
  async run(ctx, { content, styles, style, regions }, p) {
    if (p.weights === 'random') ctx.log.warn('neural.capvst runs with seeded random weights: the result is not the published model\'s');
    const stylizer = await stylizerFor(p.weights, p.mode, p.variant, ctx.seed, ctx.threads);
    const list = styles ?? [{ image: style!, weight: 1 }];
    const image = await stylizer.stylize(
      content,
      list.map((s, i) => ({ image: s.image, weight: s.weight, ...(i === 0 && regions && { labels: regions.style }) })),
      {
        alpha: p.alpha,
        ...(regions && { contentLabels: regions.content }),
        maxTilePixels: p.tileSize * p.tileSize,
        signal: ctx.signal,
        onProgress: (done, total) => ctx.progress.step(done, total),
      },
    );
    return {
      image,
      meta: {
        weights: p.weights === 'random' ? `random (seed ${ctx.seed}; not a published checkpoint)` : p.weights === 'installed' ? CAPVST_MODELS[p.mode][p.variant] : p.weights,
        mode: p.mode,
      },
    };
  },
});
