import path from 'node:path';
import { z } from 'zod';
import { AtelierError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import type { Graph, Tensor } from '../../engine/graph/graph.js';
import { loadPerceptualVgg, type PerceptualTap } from '../../engine/losses/perceptual.js';
import { perceptualLossParams } from './perceptual-params.js';
import { FAST_STYLE_MODEL_NAMES, fastStyleModel, locateInstalled, readFastStyleWeights } from '../../engine/nets/fast-style/models.js';
import { PYTORCH_EXAMPLES_NET, randomTransformerNetWeights, transformerNet, type JohnsonNetSpec } from '../../engine/nets/transformer-net.js';
import { FAST_TRAINED_KIND, readTrainedFastNetwork, trainedFastMetadata } from '../../engine/nets/fast-style/trained.js';
import { claimTrainedModel, resolveTrainedModel } from '../../engine/store/trained.js';
import { listModels } from '../../engine/store.js';
import type { TensorMap } from '../../engine/weights/tensor.js';
import { defineTrainer, type TrainingSession } from '../definition.js';
import { listTrainingImages, TrainingImages } from '../training-images.js';
import { computeStyleGrams, PerceptualTrainer } from './fast-trainer.js';
import { loadStyleImages } from '../style-images.js';

/**
 * A per-style fast network (Johnson, Alahi & Fei-Fei 2016, "Perceptual Losses for Real-Time Style
 * Transfer and Super-Resolution"): the image transformation network trained on content crops
 * against one style image with content, Gram style and total-variation losses on the real VGG-19
 * (engine/losses/perceptual.ts), Adam at 1e-3, batch 4 of 256² crops, as in the paper. From
 * scratch (PyTorch examples' layout at 32, 16 or 8 base channels: the widths of the published
 * fst-pytorch and fst-small16/8 networks) or warm-started from an installed fast network
 * (`--from fst-…` or a trained one). The result is installed as a trained model that
 * `neural.fast --model NAME` runs.
 *
 * `--trainable norms` trains only the instance norms' scales and shifts (2 × channels per norm,
 * the conditional-norm parameters of Dumoulin et al.), the rest frozen: the few-shot comparison's
 * "conditional-norm-only" arm.
 */

const WIDTHS = { full: 32, small16: 16, small8: 8 } as const;
const NORM_PARAM = /(^|\.)in\d\.(weight|bias)$/;

const params = z.object({
  style: z.string().min(1).describe('The style image, or a folder of style images (each step uses one, in turn at random)'),
  contentDir: z.string().min(1).describe('Folder of content photographs (searched recursively), e.g. ../shared/data/train-photos'),
  name: z.string().min(1).optional().describe("Name of the trained model in the store (default: the style file's name); `neural.fast --model NAME` runs it"),
  force: z.boolean().default(false).describe('Replace a trained model of that name when training finishes'),
  from: z.string().min(1).optional().describe('Warm-start from an installed fast network (fst-… or a trained model name) instead of random weights'),
  width: z.enum(['full', 'small16', 'small8']).default('full').describe('Network width from scratch: full (32 base channels, 1.68 M params), small16 (425 k), small8 (109 k); --from sets it'),
  trainable: z.enum(['all', 'norms']).default('all').describe("'all' parameters, or only the instance norms' scale and shift (2 × channels per norm, the rest frozen)"),
  size: z.number().int().multipleOf(4).min(32).max(1024).default(256).describe('Side of the square content crops'),
  batch: z.number().int().min(1).max(32).default(4).describe('Content crops per step'),
  ...perceptualLossParams,
  eval: z.number().int().min(0).max(64).default(4).describe('Fixed validation crops whose losses are reported before and after (0: none)'),
});

export type FastTrainParams = z.output<typeof params>;

/** Slug of a file or folder name, as a default model name. */
function defaultName(style: string): string {
  const base = path.basename(style).replace(/\.[^.]+$/, '');
  return (base.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'style').slice(0, 64);
}

/** Initial weights and architecture: a published or trained network, or seeded random weights. */
async function initialNetwork(p: FastTrainParams, seed: number): Promise<{ weights: TensorMap; spec: JohnsonNetSpec; label: string }> {
  if (!p.from) {
    const spec = { ...PYTORCH_EXAMPLES_NET, width: WIDTHS[p.width] };
    return { weights: randomTransformerNetWeights(seed, spec), spec, label: `random ${p.width} network (seed ${seed})` };
  }
  if ((FAST_STYLE_MODEL_NAMES as readonly string[]).includes(p.from)) {
    const model = fastStyleModel(p.from);
    return { weights: await readFastStyleWeights(model, locateInstalled(model)), spec: model.spec, label: p.from };
  }
  const trained = await readTrainedFastNetwork(resolveTrainedModel(FAST_TRAINED_KIND, p.from));
  return { weights: trained.weights, spec: trained.spec, label: `trained model ${p.from}` };
}

/** The fast networks `--from` can start from now: the installed published ones and the fast networks made here. */
export function installedFastNetworks(): string[] {
  const published = new Set<string>(FAST_STYLE_MODEL_NAMES);
  return listModels()
    .filter((s) => s.installed && (published.has(s.name) || s.entry.network === FAST_TRAINED_KIND))
    .map((s) => s.name);
}

/** The fast network as the trainer sees it: [0, 1] in and out (the network works in 0–255). */
export function fastNetworkBuilder(weights: TensorMap, spec: JohnsonNetSpec): (g: Graph, image: Tensor) => Tensor {
  return (g, image) => g.scale(transformerNet(g, g.scale(image, 255), weights, spec), 1 / 255);
}

/** Which params `trainable` selects: all, or the instance norms' scales and shifts. */
export function fastTrainable(which: 'all' | 'norms'): (name: string) => boolean {
  return which === 'all' ? () => true : (name) => NORM_PARAM.test(name);
}

export const fast = defineTrainer({
  id: 'fast',
  title: 'Fast style network (Johnson et al.)',
  summary: 'Train a per-style fast network from a style image and a folder of photos; installs it for neural.fast --model NAME',
  reference: 'Johnson, Alahi & Fei-Fei, Perceptual Losses for Real-Time Style Transfer and Super-Resolution, ECCV 2016',
  params,
  studio: {
    images: {
      style: { role: 'style', min: 1, max: 20, description: 'The painting to learn (or up to 20 of one style)' },
      contentDir: { role: 'content', min: 1, max: 2000, description: 'Photos to train on (default: the server’s photo set)' },
    },
    // Warm start: any installed fast network, or none (a new one at the width chosen).
    base: { param: 'from', choices: [], none: 'none: a new network from scratch', models: installedFastNetworks, sets: ['width'] },
    basic: ['style', 'width', 'lr', 'styleWeight', 'size'],
    defaults: { width: 'small8', size: 128 },
    iterations: 200,
  },
  async open(ctx, p): Promise<TrainingSession> {
    const name = p.name ?? defaultName(p.style);
    if (p.from && p.width !== 'full') {
      throw new AtelierError('E_PARAM', '--width applies to networks trained from scratch; --from takes the width of the network it starts from', { subject: 'width', received: p.width });
    }
    // Claim the name first: a second training writing it is refused before any work.
    const claim = await claimTrainedModel(FAST_TRAINED_KIND, name, { force: p.force });
    let trainer: PerceptualTrainer | undefined;
    try {
      const loaded = await loadStyleImages(p.style, p.styleSize, ctx.log);
      const styles = loaded.images.map((image, i) => ({ image, source: loaded.files[i]! }));
      const contentFiles = listTrainingImages(p.contentDir, 'content', 'photoreal');
      const init = await initialNetwork(p, ctx.seed);
      const vgg = await loadPerceptualVgg(p.vgg, ctx.seed);
      if (p.vgg === 'random') ctx.log.warn('train fast: the loss network has random weights (--vgg random): the result will not be in the style');
      ctx.log.info(`train fast: ${styles.length} style image(s), ${contentFiles.length} content photos, ${init.label}, loss network ${vgg.label}`);
      const contents = await TrainingImages.load(contentFiles, p.size);
      const styleTaps = p.styleLayers as PerceptualTap[];
      const grams = await computeStyleGrams(vgg.weights, styles, { taps: styleTaps, threads: ctx.threads });
      trainer = await PerceptualTrainer.create({
        network: fastNetworkBuilder(init.weights, init.spec),
        trainable: fastTrainable(p.trainable),
        vgg: vgg.weights,
        styleGrams: grams,
        contentTaps: p.contentLayers as PerceptualTap[],
        styleTaps,
        lossWeights: { content: p.contentWeight, style: p.styleWeight, tv: p.tvWeight },
        size: p.size,
        batch: p.batch,
        learningRate: p.lr,
        threads: ctx.threads,
      });
      ctx.log.info(`train fast: ${trainer.trainableCount} trainable parameters (${p.trainable}), model name "${name}"`);
      const t = trainer;
      const batchOf = (rng: Rng, n: number) => {
        const out = new Float32Array(n * 3 * p.size * p.size);
        for (let i = 0; i < n; i++) out.set(contents.sample(rng, p.size), i * 3 * p.size * p.size);
        return out;
      };
      // Fixed validation batches (the same before and after), cycling through the style images.
      const validationRng = new Rng((ctx.seed ^ 0x5eed5) >>> 0);
      const validation = Array.from({ length: Math.ceil(p.eval / p.batch) }, (_, i) => ({ content: batchOf(validationRng, p.batch), style: i % grams.length }));
      const summary = {
        name,
        styles: styles.map((s) => s.source),
        contentDir: p.contentDir,
        from: init.label,
        spec: init.spec,
        trainable: p.trainable,
        trainableParameters: t.trainableCount,
        size: p.size,
        batch: p.batch,
        styleSize: p.styleSize,
        lossWeights: { content: p.contentWeight, style: p.styleWeight, tv: p.tvWeight },
        contentLayers: p.contentLayers,
        styleLayers: p.styleLayers,
        vgg: vgg.label,
        lr: p.lr,
      };
      return {
        get iteration() {
          return t.iteration;
        },
        checkpointFormat: `atelier-fast-training-1/${init.spec.width}/${p.trainable}`,
        curves: [
          { key: 'content', label: 'content' },
          { key: 'style', label: 'style' },
          { key: 'tv', label: 'total variation' },
          { key: 'total', label: 'total (weighted)' },
        ],
        curveTitle: `Fast network "${name}", ${p.batch}×${p.size}² crops`,
        summary,
        async step(rng) {
          const content = batchOf(rng, p.batch);
          const style = rng.int(grams.length);
          const r = await t.step(content, style);
          return { values: { ...r.losses, gradientNorm: r.gradientNorm } };
        },
        async validate() {
          if (validation.length === 0) return undefined;
          const sums = { content: 0, style: 0, tv: 0, total: 0 };
          for (const v of validation) {
            const l = await t.evaluate(v.content, v.style);
            for (const k of Object.keys(sums) as (keyof typeof sums)[]) sums[k] += l[k] / validation.length;
          }
          return sums;
        },
        checkpoint: () => {
          const c = t.checkpoint();
          return { tensors: c.tensors, metadata: { ...c.metadata, name } };
        },
        restore: (tensors, metadata, iteration) => t.restore(tensors, metadata, iteration, 'the checkpoint'),
        exportWeights() {
          return {
            fileName: `${name}.safetensors`,
            tensors: [...t.parameters().values()],
            metadata: trainedFastMetadata(init.spec, t.iteration, { source: 'atelier train fast', styles: summary.styles.join(','), from: init.label }),
            usage: '--method neural.fast --model FILE',
            install: { kind: FAST_TRAINED_KIND, name, force: p.force },
            use: { method: 'neural.fast', param: 'model' },
          };
        },
        async close() {
          t.release();
          await claim.release();
        },
      };
    } catch (e) {
      trainer?.release();
      await claim.release();
      throw e;
    }
  },
});
