import { z } from 'zod';
import { clampImage } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import { MICROAST_MODEL } from '../../engine/nets/microast.js';
import type { MicroAstStylizer } from '../../engine/nets/microast-stylizer.js';
import { weightSourceBytes } from '../../engine/store/weight-bytes.js';

/**
 * MicroAST (Wang, Zhao, Xing, Li, Zhang & Huang, AAAI 2023): arbitrary style in one pass of a
 * 472 k-parameter network, no VGG at inference. A style encoder and modulator turn the style into
 * AdaIN statistics and per-channel filter modulations; the content encoder's features are
 * normalised to them twice, in two modulated residual blocks, and decoded. `alpha` interpolates
 * the style code with the content's own (identity interpolation): the authors' blend of features
 * saturates to a flat colour for any α < 1 with the published weights (engine/nets/microast-stylizer.ts).
 */

const params = z.object({
  alpha: z.number().min(0).max(1).default(1).describe('Style strength: identity interpolation of the AdaIN statistics and filter modulations between the content’s own style code (0) and the style’s (1, the published network)'),
  weights: z
    .string()
    .min(1)
    .default('installed')
    .describe("'installed' (the model store's microast) or 'random' (seeded, to try the pipeline). On the command line also a folder holding the four published files"),
  tileSize: z.number().int().min(128).max(8192).default(1536).describe('Largest tile side processed at once (larger images are tiled; the AdaIN statistics stay whole-image)'),
  styleSize: z.number().int().min(64).max(4096).default(1024).describe('Long side the style image is brought down to before its statistics are taken'),
  lora: z
    .array(z.string().min(1))
    .optional()
    .describe('LoRA adapters to stack on its convolutions, each NAME or NAME:WEIGHT: made by `atelier train lora --base microast --name NAME` or the studio\'s trainer. On the command line also adapter files, FILE or FILE:WEIGHT (repeat or comma-separate; keys `<part>.<state-dict key>`, docs/lora.md)'),
});

const MAX_CACHED = 2;
const cache = new Map<string, Promise<MicroAstStylizer>>();

async function adaptedStylizer(source: string, seed: number, threads: number, lora: readonly string[], warn: (m: string) => void): Promise<MicroAstStylizer> {
  // Not cached: the files may change between runs, and building the pieces costs milliseconds.
  const [{ MicroAstStylizer }, { loadMicroAstWeights }, { loadLoraStack }, { runtimeLora }] = await Promise.all([
    import('../../engine/nets/microast-stylizer.js'),
    import('../../engine/nets/microast-weights.js'),
    import('../../engine/lora/adapter.js'),
    import('../../engine/lora/graph-adapter.js'),
  ]);
  const adapters = runtimeLora(await loadLoraStack(lora), source === 'installed' ? MICROAST_MODEL : source);
  const stylizer = await MicroAstStylizer.create(await loadMicroAstWeights(source, seed), threads, adapters.hook);
  for (const m of adapters.finish()) warn(`the LoRA ${m.source} was trained on other weights than these (base fingerprint differs): applied anyway`);
  return stylizer;
}

function stylizerFor(source: string, seed: number, threads: number): Promise<MicroAstStylizer> {
  const key = `${source}|${source === 'random' ? seed : ''}|${threads}`;
  let pending = cache.get(key);
  if (!pending) {
    pending = (async () => {
      const [{ MicroAstStylizer }, { loadMicroAstWeights }] = await Promise.all([import('../../engine/nets/microast-stylizer.js'), import('../../engine/nets/microast-weights.js')]);
      return MicroAstStylizer.create(await loadMicroAstWeights(source, seed), threads);
    })();
    pending.catch(() => cache.delete(key));
    cache.set(key, pending);
    while (cache.size > MAX_CACHED) {
      const oldest = cache.keys().next().value!;
      const evicted = cache.get(oldest)!;
      cache.delete(oldest);
      setTimeout(() => void evicted.then((s) => s.release()).catch(() => {}), 60_000).unref();
    }
  }
  return pending;
}

export const microast = defineMethod({
  id: 'neural.microast',
  family: 'neural',
  title: 'MicroAST',
  summary: 'Arbitrary style in one pass of a tiny network (472 k parameters, no VGG): fast at any resolution',
  reference: 'Wang et al., MicroAST: Towards Super-Fast Ultra-Resolution Arbitrary Style Transfer, AAAI 2023',
  inputs: { style: 'required' },
  params,
  weights: [{ model: MICROAST_MODEL, description: 'MicroAST content/style encoders, modulator and decoder (EndyWon/MicroAST, MIT)' }],
  // Measured (bench/memory.mjs, random weights of the same size, style as large as the content,
  // threads 1): 57 MB to load, 440 MB per MP of a tile, 47 MB per MP of the whole image a tiled run keeps (128² tiles).
  memory: {
    bytesPerPixel: 461,
    loadBytes: 57 * 2 ** 20,
    pixelsAtOnce: (p, n) => Math.min(n, p.tileSize ** 2),
    sizeParam: 'tileSize',
    wholeBytesPerPixel: 49,
    weightBytes: (p) => weightSourceBytes(p.weights, MICROAST_MODEL),
  },
  quickParams: { weights: 'random' },
  trainedModels: { lora: { kind: 'lora', trainer: 'lora', stack: true, weighted: true, trainerParams: { base: 'microast' } } },
  async run(ctx, { content, style }, p) {
    if (p.weights === 'random') ctx.log.warn('neural.microast runs with seeded random weights: the result is not the published network\'s');
    const adapted = p.lora && p.lora.length > 0;
    const stylizer = adapted ? await adaptedStylizer(p.weights, ctx.seed, ctx.threads, p.lora!, (m) => ctx.log.warn(m)) : await stylizerFor(p.weights, ctx.seed, ctx.threads);
    const maxTilePixels = p.tileSize * p.tileSize;
    const { MicroAstStylizer } = await import('../../engine/nets/microast-stylizer.js');
    const total = MicroAstStylizer.steps(content, maxTilePixels);
    let done = 0;
    // An adapted stylizer serves this run only: its session goes with it.
    const image = await stylizer
      .stylize(content, style!, {
        alpha: p.alpha,
        maxTilePixels,
        styleSide: p.styleSize,
        signal: ctx.signal,
        tick: () => ctx.progress.step(++done, total),
      })
      .finally(() => adapted && stylizer.release());
    return {
      image: clampImage(image),
      meta: { weights: p.weights === 'random' ? `random (seed ${ctx.seed})` : p.weights === 'installed' ? MICROAST_MODEL : p.weights, ...(p.lora && p.lora.length > 0 && { lora: p.lora }) },
    };
  },
});
