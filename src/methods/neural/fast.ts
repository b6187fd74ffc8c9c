import { z } from 'zod';
import { Image } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import { resizeImage } from '../../core/resample.js';
import { FAST_STYLE_MODELS, FAST_STYLE_MODEL_NAMES, FAST_STYLE_SOURCES, fastStyleModel, locateInstalled, readFastStyleWeights } from '../../engine/nets/fast-style/models.js';
import type { FastStyleStylizer } from '../../engine/nets/fast-style/stylizer.js';
import type { JohnsonNetSpec } from '../../engine/nets/transformer-net.js';
import { FAST_TRAINED_KIND, readTrainedFastHeader } from '../../engine/nets/fast-style/trained.js';
import { readSafetensors } from '../../engine/weights/safetensors.js';
import { resolveTrainedModel } from '../../engine/store/trained.js';
import type { TensorMap } from '../../engine/weights/tensor.js';
import { loadLoraStack, parseLoraSpec, baseFingerprint } from '../../engine/lora/adapter.js';
import type { Logger } from '../../core/registry.js';
import { weightSourceBytes } from '../../engine/store/weight-bytes.js';

/**
 * Fast neural style transfer, one network per style (the report's PSPM; Johnson, Alahi & Fei-Fei
 * 2016, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution"): a feed-forward
 * network trained for one painting turns any photo into that style in a single pass. `--model`
 * picks one of the published networks (the style is in the weights: no style image). The networks
 * were trained on ~256 px crops, so their strokes have a fixed size in pixels; `strokeScale` runs
 * the network at a scaled resolution and resamples back, so one network serves small and large prints.
 */
const params = z.object({
  model: z
    .union([z.enum(FAST_STYLE_MODEL_NAMES), z.string().min(1)])
    .default('fst-pytorch-mosaic')
    .describe('The per-style network, by name: a published one (`atelier methods neural.fast` lists them with their source; `atelier models pull NAME` or the studio\'s Models installs one) or one trained here (`atelier train fast --name NAME` or the studio\'s trainer). On the command line also a .safetensors file it wrote'),
  strokeScale: z
    .number()
    .min(0.25)
    .max(4)
    .default(1)
    .describe('Stroke size: 2 paints strokes twice as large (the network runs at half the resolution, the result is upsampled); 0.5 finer ones'),
  weights: z
    .enum(['installed', 'random'])
    .default('installed')
    .describe("'installed' (the model store's network) or 'random' (seeded random weights of the same architecture, to try the pipeline)"),
  tileSize: z
    .number()
    .int()
    .min(64)
    .max(8192)
    .default(1536)
    .describe('Largest tile side the network runs at once; larger images run in cross-faded tiles sharing whole-image statistics'),
  lora: z
    .array(z.string().min(1))
    .max(8)
    .optional()
    .describe('LoRA adapters to stack on the network, each NAME or NAME:WEIGHT (weight 1 when left out): adapters made for it by `atelier train lora --base MODEL --name NAME` or the studio\'s trainer. On the command line also adapter files, FILE or FILE:WEIGHT (repeat the flag or separate by commas)'),
});

const MAX_CACHED = 3;
const stylizers = new Map<string, Promise<FastStyleStylizer>>();

const isPublished = (name: string) => (FAST_STYLE_MODEL_NAMES as readonly string[]).includes(name);

/** A published network, or one trained with `atelier train fast` (its file's mtime in the key: retraining a name reloads it). */
async function networkFor(name: string): Promise<{ key: string; spec: JohnsonNetSpec; source: string; load: () => Promise<TensorMap> }> {
  if (isPublished(name)) {
    const model = fastStyleModel(name);
    return { key: name, spec: model.spec, source: FAST_STYLE_SOURCES[model.source], load: () => readFastStyleWeights(model, locateInstalled(model)) };
  }
  let file: string;
  try {
    // A fast network made here (by `atelier train fast`, a server training job or `atelier lora merge`), or a file.
    file = resolveTrainedModel(FAST_TRAINED_KIND, name);
  } catch (e) {
    fastStyleModel(name); // neither published nor trained: the published names, with the nearest
    throw e;
  }
  const trained = await readTrainedFastHeader(file);
  return { key: `${name}@${trained.stamp}`, spec: trained.spec, source: `trained here (atelier train fast, ${trained.iterations} iterations)`, load: () => readSafetensors(file) };
}

async function stylizerFor(name: string, weights: 'installed' | 'random', seed: number, threads: number, lora: readonly string[], log: Logger): Promise<FastStyleStylizer> {
  const net = await networkFor(name);
  // Adapters are read (and checked) on every run, so an edited file is never served from the cache.
  const stack = await loadLoraStack(lora);
  const key = `${net.key}|${weights}|${weights === 'random' ? seed : ''}|${threads}|${stack.map((s) => `${s.source}:${s.weight}`).join(',')}`;
  let pending = stylizers.get(key);
  if (!pending) {
    pending = (async () => {
      const [{ FastStyleStylizer }, { randomTransformerNetWeights }, { checkStackFits, mergeLora }] = await Promise.all([
        import('../../engine/nets/fast-style/stylizer.js'),
        import('../../engine/nets/transformer-net.js'),
        import('../../engine/lora/merge.js'),
      ]);
      let w = weights === 'random' ? randomTransformerNetWeights(seed, net.spec) : await net.load();
      if (stack.length > 0) {
        const shapes = new Map([...w].map(([k, t]) => [k, t.shape]));
        for (const m of checkStackFits(stack, { name, shapes, data: w })) {
          log.warn(`the LoRA ${m.source} was trained on ${m.adapter.base} (weights ${m.adapter.baseSha256.slice(0, 12)}…), not on these weights (${baseFingerprint(m.adapter.layers.map((l) => w.get(l.name)!)).slice(0, 12)}…): applied anyway`);
        }
        w = mergeLora(w, stack, name);
      }
      return FastStyleStylizer.create(w, net.spec, threads);
    })();
    pending.catch(() => stylizers.delete(key));
    stylizers.set(key, pending);
    while (stylizers.size > MAX_CACHED) stylizers.delete(stylizers.keys().next().value!);
  }
  return pending;
}

export const fast = defineMethod({
  id: 'neural.fast',
  family: 'neural',
  title: 'Fast style transfer (one network per style)',
  summary: 'A pretrained feed-forward network per painting: any photo in that style in one pass, at any size',
  reference: 'Johnson, Alahi & Fei-Fei, Perceptual Losses for Real-Time Style Transfer and Super-Resolution, ECCV 2016; Ulyanov et al., Instance Normalization, 2016',
  inputs: { style: 'none' },
  params,
  // Each network is needed only when chosen (the studio names only what the settings need).
  weights: FAST_STYLE_MODELS.map((m) => ({ model: m.name, description: `${m.style}: ${FAST_STYLE_SOURCES[m.source]}`, when: { model: [m.name], weights: ['installed'] } })),
  // The studio's gallery: each published network pictured by itself on a shipped sample, once installed.
  styleGallery: {
    param: 'model',
    items: FAST_STYLE_MODELS.map((m) => ({ value: m.name, label: `${m.style.replace(/[_-]/g, ' ')} · ${m.source}`, model: m.name, source: FAST_STYLE_SOURCES[m.source] })),
  },
  // Measured (bench/memory.mjs, random weights of the same size, threads 1): 93 MB to load, 281 MB
  // per MP the network runs at once (a tile at most), 84 B per pixel of the whole image a tiled run keeps (80 MB/MP with 128² tiles).
  memory: {
    bytesPerPixel: 295,
    loadBytes: 93 * 2 ** 20,
    pixelsAtOnce: (p, n) => Math.min(n / p.strokeScale ** 2, p.tileSize ** 2),
    sizeParam: 'tileSize',
    wholeBytesPerPixel: 84,
    weightBytes: (p) => (p.weights === 'random' ? 0 : weightSourceBytes(p.model)),
  },
  quickParams: { weights: 'random' },
  // Adapters are trained on the network the form holds: a LoRA fits the base it was made for.
  trainedModels: { lora: { kind: 'lora', trainer: 'lora', stack: true, weighted: true, trainerParams: { base: { param: 'model' } } } },
  async run(ctx, { content }, p) {
    if (p.weights === 'random') ctx.log.warn("neural.fast runs with seeded random weights: the result is not the published network's");
    // Validate the model (and find its files) before any work.
    const stylizer = await stylizerFor(p.model, p.weights, ctx.seed, ctx.threads, p.lora ?? [], ctx.log);
    const w = Math.max(4, Math.round(content.width / p.strokeScale));
    const h = Math.max(4, Math.round(content.height / p.strokeScale));
    // Loading the network (and starting the engine's session) took about as long as running it
    // over 192² pixels (measured at 384² and 1024², threads 1): that share of the progress, so
    // that the time left is right from the start (issue 20: within 2× after 10 %).
    const LOAD_PIXELS = 192 * 192;
    const loadShare = LOAD_PIXELS / (LOAD_PIXELS + w * h);
    ctx.progress.sub(0, loadShare).step(1, 1);
    const tiles = ctx.progress.sub(loadShare, 1);
    const input = w === content.width && h === content.height ? content : resizeImage(content, w, h);
    const rgb = input.channels === 3 ? input : Image.fromPlanes(w, h, [input.plane(0), input.plane(0), input.plane(0)]);
    const data = await stylizer.stylize(rgb.data, w, h, {
      maxTilePixels: p.tileSize * p.tileSize,
      signal: ctx.signal,
      onProgress: (done, total) => tiles.step(done, total),
    });
    let image = new Image(w, h, 3, data);
    if (w !== content.width || h !== content.height) image = resizeImage(image, content.width, content.height);
    // Resampling can overshoot [0, 1] by a hair.
    for (let i = 0; i < image.data.length; i++) image.data[i] = Math.min(1, Math.max(0, image.data[i]!));
    return {
      image,
      meta: {
        model: p.weights === 'random' ? `random ${stylizer.spec.width}-wide architecture (seed ${ctx.seed}; not a published network)` : p.model,
        source: (await networkFor(p.model)).source,
        networkSize: `${w}×${h}`,
        ...(p.lora && p.lora.length > 0 && { lora: p.lora.map((s) => parseLoraSpec(s)).map((s) => `${s.file} ×${s.weight}`) }),
      },
    };
  },
});
