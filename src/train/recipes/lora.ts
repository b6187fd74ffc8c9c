import path from 'node:path';
import { LORA_CURVES, loraCurveTitle } from './lora-curves.js';
import { z } from 'zod';
import { Rng } from '../../core/rng.js';
import { adapterTensors, baseFingerprint, LORA_KIND, type LoraAdapter } from '../../engine/lora/adapter.js';
import { checkTrainedName } from '../../engine/store.js';
import { chooseTargets, initialPair } from '../../engine/lora/targets.js';
import { FAST_STYLE_MODEL_NAMES, fastStyleModel, locateInstalled, readFastStyleWeights } from '../../engine/nets/fast-style/models.js';
import { readModelFile } from '../../engine/nets/model-files.js';
import { randomTransformerNetWeights, transformerNetShapes } from '../../engine/nets/transformer-net.js';
import { randomVgg19Weights } from '../../engine/nets/vgg19.js';
import type { TensorMap } from '../../engine/weights/tensor.js';
import { loraCheckpoint, restoreLoraCheckpoint } from './lora-checkpoint.js';
import { defineTrainer } from '../definition.js';
import { loadStyleImages } from '../style-images.js';
import { listTrainingImages, TrainingImages } from '../training-images.js';
import { FastStyleFinetuner, styleTargets } from './fast-style-finetuner.js';
import { IMPORTED_LORA_BASES, isImportedLoraBase, openImportedLora } from './lora-imported.js';

/**
 * LoRA adapters for a pretrained fast-style network, trained from a few style images with the
 * base frozen (engine/lora/ holds the adapter format, the math and the graph hook; the training
 * step is fast-style-finetuner.ts). The result is an adapter file for `--lora FILE[:weight]` on
 * neural.fast, or for `atelier lora merge` into a new model.
 */

/** The normalised VGG-19 to relu3_1 (AdaIN/WCT's encoder; one file of the model store's `vgg19-relu3_1`). */
export const LOSS_VGG = { model: 'vgg19-relu3_1', file: 'vgg_normalised_conv3_1.pth' } as const;

export async function loadLossVgg(source: 'installed' | 'random', seed: number): Promise<TensorMap> {
  return source === 'random' ? randomVgg19Weights('normalised', seed, 'relu3_1') : readModelFile(LOSS_VGG.model, LOSS_VGG.file);
}

/**
 * Loss weights for Gram matrices divided by C·H·W and both losses as means. Measured on
 * fst-small16-candy with a van Gogh painting as the new style (128² crops): the weighted style
 * term starts near 28 and the content term near 3, and 40 LoRA steps bring the style term to 9
 * with the content term unchanged; the style dominates, as in Johnson et al.'s recipe.
 */
export const DEFAULT_LOSS_WEIGHTS = { content: 1, style: 1e4, tv: 1e-2 };

/**
 * MicroAST's own output, conditioned on the style image, already sits close to that image's Grams:
 * measured on the published weights with a Kandinsky painting (64–96² crops), the weighted terms
 * start near style 1.6 and content 7 at 1e4, and 16 steps lowered the content term while the
 * held-out style term rose (1.88 → 2.20). Ten times the weight makes the style lead, as it does for
 * the other bases (fast nets ~28 against 3, AnimeGAN ~14 against 1.4, Magenta ~8 against 5).
 */
export const MICROAST_STYLE_WEIGHT = 1e5;

const params = z.object({
  base: z
    .enum([...FAST_STYLE_MODEL_NAMES, ...IMPORTED_LORA_BASES])
    .default('fst-small16-candy')
    .describe('The pretrained network to adapt (installed in the model store): a fast-style network, microast (its decoder by default), magenta-arbitrary (the transfer network) or animeganv2-hayao (the generator)'),
  baseWeights: z.enum(['installed', 'random']).default('installed').describe("'installed', or 'random' (seeded random weights of the base's architecture, to try the pipeline; fast networks and microast)"),
  styleDir: z.string().min(1).describe('Folder of the style images (1 to 20 paintings of one style)'),
  contentDir: z.string().min(1).describe('Folder of content photos to train on (e.g. ../shared/data/train-photos)'),
  rank: z.number().int().min(1).max(256).default(4).describe('LoRA rank r'),
  alpha: z.number().positive().optional().describe('LoRA scale α (ΔW = α/r · B·A; default: the rank)'),
  targets: z.array(z.string().min(1)).optional().describe('Weights to adapt, as name patterns (e.g. res*,deconv1); default every conv that allows the rank'),
  size: z.number().int().multipleOf(4).min(16).max(1024).default(256).describe('Side of the square content crops'),
  batch: z.number().int().min(1).max(64).default(2).describe('Content crops per step'),
  styleSize: z.number().int().min(16).max(2048).default(256).describe('Short side the style images are scaled to (sets the stroke size learnt)'),
  lr: z.number().positive().default(1e-3).describe('Adam learning rate'),
  contentWeight: z.number().min(0).default(DEFAULT_LOSS_WEIGHTS.content).describe('Content loss weight (relu3_1)'),
  styleWeight: z.number().min(0).optional().describe(`Style loss weight (Gram at relu1_1, relu2_1, relu3_1); default ${DEFAULT_LOSS_WEIGHTS.style}, ${MICROAST_STYLE_WEIGHT} for microast`),
  tvWeight: z.number().min(0).default(DEFAULT_LOSS_WEIGHTS.tv).describe('Total variation weight'),
  vgg: z.enum(['installed', 'random']).default('installed').describe("Loss network: 'installed' (vgg19-relu3_1) or 'random' (tests only)"),
  eval: z.number().int().min(0).max(64).default(2).describe('Fixed validation crops whose losses are reported before and after training'),
  name: z.string().min(1).optional().describe('Also store the adapter in the model store under this name (`--lora NAME`, listed by `atelier models list`)'),
});

const CHECKPOINT_FORMAT = 'atelier-lora-training-1';

export const lora = defineTrainer({
  id: 'lora',
  title: 'LoRA adapter for a pretrained network',
  summary: 'Adapt a pretrained network (a fast-style net, MicroAST, Magenta’s transfer network, AnimeGAN) to a new style from 1–20 images: low-rank updates B·A on its convolutions, base frozen',
  reference: 'Hu et al., LoRA: Low-Rank Adaptation of Large Language Models, 2021; losses of Johnson et al. 2016 on the real VGG-19',
  params,
  studio: {
    images: {
      styleDir: { role: 'style', min: 1, max: 20, description: 'The look to learn: 1 to 20 images of one style' },
      contentDir: { role: 'content', min: 0, max: 20, description: "Photos to train on (optional: the server's photo set)" },
    },
    basic: ['base', 'rank', 'lr'],
    // Small crops, one per step, no validation set: a first adapter in minutes on a laptop's cores.
    defaults: { size: 64, batch: 1, styleSize: 128, eval: 0 },
    iterations: 50,
  },
  async open(ctx, p) {
    if (p.name) checkTrainedName(p.name); // before the training, not after
    if (isImportedLoraBase(p.base)) return openImportedLora(ctx, { ...p, base: p.base, styleWeight: p.styleWeight ?? (p.base === 'microast' ? MICROAST_STYLE_WEIGHT : DEFAULT_LOSS_WEIGHTS.style) });
    const styleWeight = p.styleWeight ?? DEFAULT_LOSS_WEIGHTS.style;
    const model = fastStyleModel(p.base);
    const alpha = p.alpha ?? p.rank;
    const base = p.baseWeights === 'random' ? randomTransformerNetWeights(ctx.seed, model.spec) : await readFastStyleWeights(model, locateInstalled(model));
    const shapes = transformerNetShapes(model.spec);
    const targets = chooseTargets(shapes, p.targets, p.rank);
    const rng = new Rng((ctx.seed ^ 0x10a4) >>> 0);
    const pairs = new Map(targets.map((t) => [t, initialPair(shapes.get(t)!, p.rank, rng)]));
    const style = await loadStyleImages(p.styleDir, p.styleSize, ctx.log);
    const contentFiles = listTrainingImages(p.contentDir, 'content', 'artistic');
    ctx.log.info(`lora: ${p.base}, rank ${p.rank}, α ${alpha}, ${targets.length} layers; ${style.files.length} style and ${contentFiles.length} content images, ${p.size}² crops`);
    const [contents, vgg] = await Promise.all([TrainingImages.load(contentFiles, p.size), loadLossVgg(p.vgg, ctx.seed)]);
    const grams = await styleTargets(vgg, style.images.map((i) => ({ data: i.data, width: i.width, height: i.height })), ctx.threads);
    const tuner = await FastStyleFinetuner.create(base, model.spec, vgg, grams, {
      size: p.size,
      batch: p.batch,
      weights: { content: p.contentWeight, style: styleWeight, tv: p.tvWeight },
      learningRate: p.lr,
      threads: ctx.threads,
      set: { kind: 'lora', targets: pairs, rank: p.rank, alpha },
    });
    ctx.log.info(`lora: ${tuner.parameterCount} trainable parameters (the base has ${[...base.values()].reduce((n, t) => n + t.data.length, 0)})`);
    const validationRng = new Rng((ctx.seed ^ 0x5eed5) >>> 0);
    const validation = Array.from({ length: p.eval }, () => contents.sample(validationRng, p.size));
    const fingerprint = baseFingerprint(targets.map((t) => base.get(t)!));
    const adapter = (): LoraAdapter => ({
      base: p.baseWeights === 'random' ? `random ${model.name} architecture (seed ${ctx.seed})` : p.base,
      baseSha256: fingerprint,
      network: 'johnson',
      rank: p.rank,
      alpha,
      layers: targets.map((t) => ({ name: t, shape: shapes.get(t)!, a: tuner.tensor(`${t}.lora_A`), b: tuner.tensor(`${t}.lora_B`) })),
      extra: {
        trainer: 'atelier train lora',
        steps: String(tuner.iteration),
        style_images: JSON.stringify(style.files.map((f) => path.basename(f))),
        crop: String(p.size),
      },
    });
    return {
      get iteration() {
        return tuner.iteration;
      },
      checkpointFormat: CHECKPOINT_FORMAT,
      curves: LORA_CURVES,
      curveTitle: loraCurveTitle(p.rank, p.base, style.files.length),
      summary: { base: p.base, rank: p.rank, alpha, targets, trainableParameters: tuner.parameterCount, styleImages: style.files, size: p.size, batch: p.batch },
      async step(rng) {
        const batch = new Float32Array(p.batch * 3 * p.size * p.size);
        for (let i = 0; i < p.batch; i++) batch.set(contents.sample(rng, p.size), i * 3 * p.size * p.size);
        const r = await tuner.step(batch);
        return { values: { style: r.style * styleWeight, content: r.content * p.contentWeight, total: r.total, gradientNorm: r.gradientNorm } };
      },
      async validate() {
        if (validation.length === 0) return undefined;
        const sums = { style: 0, content: 0, total: 0 };
        for (const v of validation) {
          const l = await tuner.evaluate(v);
          sums.style += (l.style * styleWeight) / validation.length;
          sums.content += (l.content * p.contentWeight) / validation.length;
          sums.total += l.total / validation.length;
        }
        return sums;
      },
      checkpoint() {
        return loraCheckpoint(tuner, { base: p.base, rank: p.rank, alpha, targets });
      },
      restore(tensors, metadata, iteration) {
        restoreLoraCheckpoint(tuner, { base: p.base, rank: p.rank, alpha, targets }, tensors, metadata, iteration);
      },
      exportWeights() {
        const { tensors, metadata } = adapterTensors(adapter());
        return {
          fileName: `${p.name ?? `${p.base}-lora-r${p.rank}`}.safetensors`,
          tensors,
          metadata,
          ...(p.name && { install: { kind: LORA_KIND, name: p.name } }),
          usage: `--method neural.fast --model ${p.base} --lora FILE`,
          use: { method: 'neural.fast', param: 'lora', params: { model: p.base } },
        };
      },
    };
  },
});
