import path from 'node:path';
import { LORA_CURVES, loraCurveTitle } from './lora-curves.js';
import { AtelierError } from '../../core/errors.js';
import type { Image } from '../../core/image.js';
import { Rng } from '../../core/rng.js';
import type { Graph, ParamHook, Tensor } from '../../engine/graph/graph.js';
import { importTflite } from '../../engine/import/tflite-import.js';
import { adapterTensors, baseFingerprint, LORA_KIND, type LoraAdapter } from '../../engine/lora/adapter.js';
import { trainingHook } from '../../engine/lora/graph-adapter.js';
import { chooseTargets, initialPair } from '../../engine/lora/targets.js';
import { loadPerceptualVgg, type PerceptualTap } from '../../engine/losses/perceptual.js';
import { ANIME_HAYAO } from '../../engine/nets/gan-stylizer-models.js';
import { ImportedNetwork } from '../../engine/nets/imported-network.js';
import { tfliteWeights } from '../../engine/nets/imported-weights.js';
import { ARBITRARY, centreSquare, predictStyleVector } from '../../engine/nets/magenta-arbitrary.js';
import { MICROAST_STRIDE, microAstNetwork } from '../../engine/nets/microast.js';
import { joinMicroAstWeights, loadMicroAstWeights } from '../../engine/nets/microast-weights.js';
import { modelFiles } from '../../engine/store.js';
import { readTflite } from '../../engine/weights/tflite.js';
import type { TrainContext, TrainedModelUse, TrainingSession } from '../definition.js';
import { loadStyleImages } from '../style-images.js';
import { listTrainingImages, TrainingImages } from '../training-images.js';
import { computeStyleGrams, PerceptualTrainer } from './fast-trainer.js';
import { CONTENT_TAP, STYLE_TAPS } from './fast-style-finetuner.js';

/**
 * LoRA training for the imported networks (`atelier train lora --base microast |
 * magenta-arbitrary | animeganv2-hayao`): the published network is built into the training graph
 * with every weight frozen (a graph constant: no weight gradient, no optimiser state) and a rank-r
 * pair B·A on the chosen convolutions (engine/lora/graph-adapter.ts `trainingHook`), under the same
 * perceptual losses on the real VGG-19 to relu3_1 as the fast networks' adapters (content at
 * relu3_1, Gram style at relu1_1, relu2_1, relu3_1, total variation; `PerceptualTrainer`). Each step
 * trains against one style image, drawn at random, and feeds what the network is conditioned on
 * for it: MicroAST's style input (the image itself), the Magenta transfer network's 100-d style
 * vector (from the published predictor); AnimeGAN takes the photo alone.
 */

export const IMPORTED_LORA_BASES = ['microast', ARBITRARY.model, ANIME_HAYAO.model] as const;
export type ImportedLoraBase = (typeof IMPORTED_LORA_BASES)[number];

export function isImportedLoraBase(base: string): base is ImportedLoraBase {
  return (IMPORTED_LORA_BASES as readonly string[]).includes(base);
}

interface BaseNetwork {
  /** The adapter's `network` metadata. */
  network: string;
  /** Every weight the network declares (name → shape, values), for targets and the fingerprint. */
  weights: Map<string, { shape: number[]; data: Float32Array }>;
  /** Where targets are chosen when none are given: its convs that allow the rank (default: every conv that does). */
  defaultScope?: (name: string) => boolean;
  /** Build it into `g` with `hook` on its weights: image N×3×S×S in [0, 1] → image in [0, 1]. */
  build(g: Graph, image: Tensor, hook: ParamHook | undefined): Tensor;
  /** Graph inputs it reads per style image (fed with that image's Grams). */
  conditions: { name: string; shape: number[]; values: Float32Array[] }[];
  use: TrainedModelUse;
}

interface BaseOptions {
  weights: 'installed' | 'random';
  batch: number;
  size: number;
  styleSize: number;
  seed: number;
  threads: number;
}

/** Build an imported graph into `g` with the weights under `hook`, return its first output (not left as an output of `g`). */
function importedInto(g: Graph, hook: ParamHook | undefined, run: () => { outputs: { name: string }[] }): Tensor {
  const previous = g.paramHook;
  g.paramHook = hook;
  try {
    const imported = run();
    const name = imported.outputs[0]!.name;
    const out = g.outputs.get(name)!;
    g.outputs.delete(name);
    return out;
  } finally {
    g.paramHook = previous;
  }
}

/** The weights a TFLite file declares, for targets and the fingerprint. */
function declared(model: Awaited<ReturnType<typeof readTflite>>, shapes: Record<string, number[]>): BaseNetwork['weights'] {
  return new Map([...tfliteWeights(model, shapes)].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
}

async function openBase(base: ImportedLoraBase, styles: Image[], o: BaseOptions): Promise<BaseNetwork> {
  if (o.weights === 'random' && base !== 'microast') {
    throw new AtelierError('E_PARAM', `--base-weights random exists for microast only; ${base} trains on its published weights`, { subject: 'baseWeights', hint: "use --base-weights installed" });
  }
  if (base === 'microast') {
    const parts = await loadMicroAstWeights(o.weights, o.seed);
    const side = Math.max(MICROAST_STRIDE * 4, Math.floor(o.styleSize / MICROAST_STRIDE) * MICROAST_STRIDE);
    return {
      network: 'microast',
      weights: new Map([...joinMicroAstWeights(parts)].map(([k, t]) => [k, { shape: t.shape, data: t.data }])),
      // The decoder: what turns the modulated features into strokes and colours.
      defaultScope: (name) => name.startsWith('decoder.'),
      build: (g, image, hook) => {
        const previous = g.paramHook;
        g.paramHook = hook;
        try {
          return microAstNetwork(g, image, g.input('style', [1, 3, side, side]), parts);
        } finally {
          g.paramHook = previous;
        }
      },
      conditions: [{ name: 'style', shape: [1, 3, side, side], values: styles.map((s) => centreSquare(s, side).data) }],
      use: { method: 'neural.microast', param: 'lora' },
    };
  }
  if (base === ARBITRARY.model) {
    const { file, variant } = ARBITRARY.transfer.fp16;
    const transfer = await readTflite(modelFiles(ARBITRARY.model, { variant }).file(file));
    const predictor = await ImportedNetwork.load(modelFiles(ARBITRARY.model, { variant }).file(ARBITRARY.predictor.file), {}, o.threads);
    const vectors: Float32Array[] = [];
    for (const s of styles) vectors.push(await predictStyleVector(predictor, s));
    const vector = [1, ARBITRARY.dims, 1, 1];
    return {
      network: 'tflite',
      weights: declared(transfer, { [ARBITRARY.contentInput]: [1, 64, 64, 3], [ARBITRARY.vectorInput]: [1, 1, 1, ARBITRARY.dims] }),
      build: (g, image, hook) =>
        importedInto(g, hook, () =>
          importTflite(transfer, {
            graph: g,
            inputShapes: { [ARBITRARY.contentInput]: [o.batch, o.size, o.size, 3], [ARBITRARY.vectorInput]: [1, 1, 1, ARBITRARY.dims] },
            bind: { [ARBITRARY.contentInput]: image, [ARBITRARY.vectorInput]: g.input('style_vector', vector) },
          }),
        ),
      conditions: [{ name: 'style_vector', shape: vector, values: vectors }],
      use: { method: 'neural.arbitrary', param: 'lora' },
    };
  }
  const generator = await readTflite(modelFiles(ANIME_HAYAO.model).file(ANIME_HAYAO.file));
  return {
    network: 'tflite',
    weights: declared(generator, { [ANIME_HAYAO.input]: [1, 64, 64, 3] }),
    build: (g, image, hook) => {
      // The generator works in [-1, 1].
      const y = importedInto(g, hook, () =>
        importTflite(generator, { graph: g, inputShapes: { [ANIME_HAYAO.input]: [o.batch, o.size, o.size, 3] }, bind: { [ANIME_HAYAO.input]: g.sub(g.scale(image, 2), g.scalar(1)) } }),
      );
      return g.scale(g.add(y, g.scalar(1)), 0.5);
    },
    conditions: [],
    use: { method: 'neural.anime', param: 'lora' },
  };
}

export interface ImportedLoraParams {
  base: ImportedLoraBase;
  baseWeights: 'installed' | 'random';
  styleDir: string;
  contentDir: string;
  rank: number;
  alpha?: number | undefined;
  targets?: string[] | undefined;
  size: number;
  batch: number;
  styleSize: number;
  lr: number;
  contentWeight: number;
  styleWeight: number;
  tvWeight: number;
  vgg: 'installed' | 'random';
  eval: number;
  name?: string | undefined;
}

const CHECKPOINT_FORMAT = 'atelier-lora-imported-training-1';

/** The training session of `atelier train lora` on an imported base. */
export async function openImportedLora(ctx: TrainContext, p: ImportedLoraParams): Promise<TrainingSession> {
  const alpha = p.alpha ?? p.rank;
  const style = await loadStyleImages(p.styleDir, p.styleSize, ctx.log);
  const net = await openBase(p.base, style.images, { weights: p.baseWeights, batch: p.batch, size: p.size, styleSize: p.styleSize, seed: ctx.seed, threads: ctx.threads });
  const shapes = new Map([...net.weights].map(([k, w]) => [k, w.shape]));
  const scope = p.targets && p.targets.length > 0 ? shapes : new Map([...shapes].filter(([k]) => net.defaultScope?.(k) ?? true));
  const targets = chooseTargets(scope, p.targets, p.rank);
  const rng = new Rng((ctx.seed ^ 0x10a4) >>> 0);
  const pairs = new Map(targets.map((t) => [t, initialPair(shapes.get(t)!, p.rank, rng)]));
  const contentFiles = listTrainingImages(p.contentDir, 'content', 'artistic');
  ctx.log.info(`lora: ${p.base}, rank ${p.rank}, α ${alpha}, ${targets.length} layers; ${style.files.length} style and ${contentFiles.length} content images, ${p.size}² crops`);
  const [contents, vgg] = await Promise.all([TrainingImages.load(contentFiles, p.size), loadPerceptualVgg(p.vgg, ctx.seed)]);
  if (p.vgg === 'random') ctx.log.warn('train lora: the loss network has random weights (--vgg random): the result will not be in the style');
  const grams = await computeStyleGrams(
    vgg.weights,
    style.images.map((image, i) => ({ image, source: style.files[i]! })),
    { taps: STYLE_TAPS, threads: ctx.threads },
  );
  const set = { kind: 'lora' as const, targets: pairs, rank: p.rank, alpha };
  const trainer = await PerceptualTrainer.create({
    network: (g, image) => net.build(g, image, trainingHook(set).hook),
    trainable: (name) => name.endsWith('.lora_A') || name.endsWith('.lora_B'),
    vgg: vgg.weights,
    styleGrams: grams,
    contentTaps: [CONTENT_TAP],
    styleTaps: STYLE_TAPS as readonly PerceptualTap[],
    lossWeights: { content: p.contentWeight, style: p.styleWeight, tv: p.tvWeight },
    size: p.size,
    batch: p.batch,
    learningRate: p.lr,
    threads: ctx.threads,
    conditions: net.conditions,
  });
  const baseCount = [...net.weights.values()].reduce((n, w) => n + w.data.length, 0);
  ctx.log.info(`lora: ${trainer.trainableCount} trainable parameters (the base has ${baseCount}, frozen)`);
  const batchOf = (r: Rng) => {
    const out = new Float32Array(p.batch * 3 * p.size * p.size);
    for (let i = 0; i < p.batch; i++) out.set(contents.sample(r, p.size), i * 3 * p.size * p.size);
    return out;
  };
  const validationRng = new Rng((ctx.seed ^ 0x5eed5) >>> 0);
  const validation = Array.from({ length: Math.ceil(p.eval / p.batch) }, (_, i) => ({ content: batchOf(validationRng), style: i % grams.length }));
  const fingerprint = baseFingerprint(targets.map((t) => ({ name: t, ...net.weights.get(t)! })));
  const metadata = { base: p.base, rank: String(p.rank), alpha: String(alpha), targets: JSON.stringify(targets) };
  const adapter = (): LoraAdapter => {
    const trained = new Map(trainer.trained().map((t) => [t.name, t.data]));
    return {
      base: p.baseWeights === 'random' ? `random ${p.base} weights (seed ${ctx.seed})` : p.base,
      baseSha256: fingerprint,
      network: net.network,
      rank: p.rank,
      alpha,
      layers: targets.map((t) => ({ name: t, shape: shapes.get(t)!, a: trained.get(`${t}.lora_A`)!, b: trained.get(`${t}.lora_B`)! })),
      extra: { trainer: 'atelier train lora', steps: String(trainer.iteration), style_images: JSON.stringify(style.files.map((f) => path.basename(f))), crop: String(p.size) },
    };
  };
  return {
    get iteration() {
      return trainer.iteration;
    },
    checkpointFormat: CHECKPOINT_FORMAT,
    curves: LORA_CURVES,
    curveTitle: loraCurveTitle(p.rank, p.base, style.files.length),
    summary: { base: p.base, rank: p.rank, alpha, targets, trainableParameters: trainer.trainableCount, baseParameters: baseCount, styleImages: style.files, size: p.size, batch: p.batch, vgg: vgg.label },
    async step(r) {
      const { losses, gradientNorm } = await trainer.step(batchOf(r), r.int(grams.length));
      return { values: { style: losses.style * p.styleWeight, content: losses.content * p.contentWeight, total: losses.total, gradientNorm } };
    },
    async validate() {
      if (validation.length === 0) return undefined;
      const sums = { style: 0, content: 0, total: 0 };
      for (const v of validation) {
        const l = await trainer.evaluate(v.content, v.style);
        sums.style += (l.style * p.styleWeight) / validation.length;
        sums.content += (l.content * p.contentWeight) / validation.length;
        sums.total += l.total / validation.length;
      }
      return sums;
    },
    checkpoint() {
      const c = trainer.checkpoint();
      return { tensors: c.tensors, metadata: { ...c.metadata, ...metadata } };
    },
    restore(tensors, saved, iteration) {
      if (saved.base !== metadata.base || saved.rank !== metadata.rank || saved.targets !== metadata.targets) {
        throw new AtelierError('E_PARAM', 'The checkpoint was trained with another base, rank or target list', {
          expected: `${p.base}, rank ${p.rank}, ${targets.length} targets`,
          received: `${saved.base}, rank ${saved.rank}, ${(JSON.parse(saved.targets ?? '[]') as string[]).length} targets`,
          hint: 'resume with the same --base, --rank and --targets, or start a new --out',
        });
      }
      trainer.restore(tensors, saved, iteration, 'the checkpoint');
    },
    exportWeights() {
      const { tensors, metadata: meta } = adapterTensors(adapter());
      return {
        fileName: `${p.name ?? `${p.base}-lora-r${p.rank}`}.safetensors`,
        tensors,
        metadata: meta,
        ...(p.name && { install: { kind: LORA_KIND, name: p.name } }),
        usage: `--method ${net.use.method} --lora FILE`,
        use: net.use,
      };
    },
    async close() {
      trainer.release();
    },
  };
}
