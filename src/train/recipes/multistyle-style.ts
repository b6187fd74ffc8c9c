import { z } from 'zod';
import { AtelierError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { importGraphDef } from '../../engine/import/graphdef-import.js';
import { loadPerceptualVgg, type PerceptualTap } from '../../engine/losses/perceptual.js';
import { perceptualLossParams } from './perceptual-params.js';
import { MULTISTYLE } from '../../engine/nets/magenta-multistyle.js';
import { addedStyleMetadata, extendMultistyle, MULTISTYLE_TRAINED_KIND, multistyleTables, styleRows } from '../../engine/nets/multistyle-extension.js';
import { modelFiles } from '../../engine/store.js';
import { claimTrainedModel } from '../../engine/store/trained.js';
import { readGraphDef } from '../../engine/weights/graphdef.js';
import { defineTrainer, type TrainingSession } from '../definition.js';
import { loadStyleImages } from '../style-images.js';
import { listTrainingImages, TrainingImages } from '../training-images.js';
import { computeStyleGrams, PerceptualTrainer } from './fast-trainer.js';

/**
 * A new style for Magenta's 26-style network (Dumoulin, Shlens & Kudlur 2017: "a new style can be
 * learnt by tuning only γ and β"): the published graph, frozen, with one row added to each of its
 * 36 conditional-norm tables (engine/nets/multistyle-extension.ts); only that row is trained —
 * 2 × channels per norm layer — with the perceptual losses of `train fast` on the real VGG-19.
 * The row starts from the mean of the 26 styles (or from one of them, `--init-from`). The result is
 * a trained model of kind 'multistyle': `neural.multistyle --added NAME --style 26` runs it, and
 * `--mix` mixes it with the published styles.
 */

const params = z.object({
  style: z.string().min(1).describe('The new style image, or a folder of images of that style'),
  contentDir: z.string().min(1).describe('Folder of content photographs, e.g. ../shared/data/train-photos'),
  name: z.string().min(1).describe('Name of the added style in the store (`neural.multistyle --added NAME`)'),
  force: z.boolean().default(false).describe('Replace an added style of that name when training finishes'),
  initFrom: z.number().int().min(0).max(MULTISTYLE.styles - 1).optional().describe('Start from this published style’s rows (default: the mean of the 26)'),
  size: z.number().int().multipleOf(4).min(32).max(1024).default(256).describe('Side of the square content crops'),
  batch: z.number().int().min(1).max(16).default(4).describe('Content crops per step'),
  ...perceptualLossParams,
  weights: z.string().default('installed').describe("The 26-style network: 'installed' (the store's magenta-multistyle, Magenta's published network). On the command line also its stylize_quantized.pb"),
  eval: z.number().int().min(0).max(64).default(4).describe('Fixed validation crops whose losses are reported before and after (0: none)'),
});

export const multistyleStyle = defineTrainer({
  id: 'multistyle-style',
  title: 'New style for the 26-style network',
  summary: "Add a style to Magenta's 26-style network: train only its conditional-norm scale and shift (style 26 of neural.multistyle --added NAME)",
  reference: 'Dumoulin, Shlens & Kudlur, A Learned Representation for Artistic Style, ICLR 2017 (section 3)',
  params,
  studio: {
    images: {
      style: { role: 'style', min: 1, max: 20, description: 'The new style: 1 to 20 images of one look' },
      contentDir: { role: 'content', min: 1, max: 24, description: "Photos to train on (default: the server's photo set)" },
    },
    basic: ['lr', 'styleWeight', 'initFrom', 'size'],
    // One small crop per step and no validation set: only 2 × channels per norm layer learn, so a first style comes in minutes.
    defaults: { size: 128, batch: 1, eval: 0 },
    iterations: 100,
  },
  async open(ctx, p): Promise<TrainingSession> {
    const claim = await claimTrainedModel(MULTISTYLE_TRAINED_KIND, p.name, { force: p.force });
    let trainer: PerceptualTrainer | undefined;
    try {
      const file = p.weights === 'installed' ? modelFiles(MULTISTYLE.model).file(MULTISTYLE.file) : p.weights;
      const tf = await readGraphDef(file);
      const tables = multistyleTables(tf);
      const names = new Set(tables.map((t) => t.name));
      const extended = extendMultistyle(tf, [styleRows(tables, p.initFrom)]);
      const total = MULTISTYLE.styles + 1;
      const onehot = new Float32Array(total);
      onehot[MULTISTYLE.styles] = 1;
      const loaded = await loadStyleImages(p.style, p.styleSize, ctx.log);
      const styles = loaded.images.map((image, i) => ({ image, source: loaded.files[i]! }));
      const contentFiles = listTrainingImages(p.contentDir, 'content', 'photoreal');
      const vgg = await loadPerceptualVgg(p.vgg, ctx.seed);
      if (p.vgg === 'random') ctx.log.warn('train multistyle-style: the loss network has random weights (--vgg random): the result will not be in the style');
      const contents = await TrainingImages.load(contentFiles, p.size);
      const styleTaps = p.styleLayers as PerceptualTap[];
      const grams = await computeStyleGrams(vgg.weights, styles, { taps: styleTaps, threads: ctx.threads });
      trainer = await PerceptualTrainer.create({
        network: (g, image) => {
          const imported = importGraphDef(extended, {
            graph: g,
            outputs: [MULTISTYLE.output],
            outputNames: ['multistyle.stylised'],
            inputShapes: { [MULTISTYLE.input]: [p.batch, p.size, p.size, 3], [MULTISTYLE.styleInput]: [total] },
            bind: { [MULTISTYLE.input]: image, [MULTISTYLE.styleInput]: g.constant(onehot, [total]) },
            trainableConstants: (name) => names.has(name),
          });
          return g.outputs.get(imported.outputs[0]!.name)!;
        },
        trainable: (name) => names.has(name),
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
      const t = trainer;
      if (t.specs.length !== tables.length) throw new AtelierError('E_INTERNAL', `Expected ${tables.length} trainable tables, found ${t.specs.length}`);
      const learnt = tables.reduce((a, tb) => a + tb.channels, 0);
      ctx.log.info(`train multistyle-style: learning ${learnt} values (one row of ${tables.length} tables: 2 × channels of ${tables.length / 2} norms), ${styles.length} style image(s), ${contentFiles.length} photos`);
      const batchOf = (rng: Rng) => {
        const out = new Float32Array(p.batch * 3 * p.size * p.size);
        for (let i = 0; i < p.batch; i++) out.set(contents.sample(rng, p.size), i * 3 * p.size * p.size);
        return out;
      };
      const validationRng = new Rng((ctx.seed ^ 0x5eed5) >>> 0);
      const validation = Array.from({ length: Math.ceil(p.eval / p.batch) }, (_, i) => ({ content: batchOf(validationRng), style: i % grams.length }));
      /** The new style's row of every table (row 26 of the trained tables). */
      const newRows = () =>
        t.trained().map((w) => {
          const c = w.shape[1]!;
          return { name: w.name, shape: [c], data: w.data.slice(MULTISTYLE.styles * c, total * c) };
        });
      return {
        get iteration() {
          return t.iteration;
        },
        checkpointFormat: 'atelier-multistyle-style-training-1',
        curves: [
          { key: 'content', label: 'content' },
          { key: 'style', label: 'style' },
          { key: 'total', label: 'total (weighted)' },
        ],
        curveTitle: `New style "${p.name}" for the 26-style network, ${p.batch}×${p.size}² crops`,
        summary: { name: p.name, styles: loaded.files, initFrom: p.initFrom ?? 'mean of the 26 styles', learntValues: learnt, size: p.size, batch: p.batch, lr: p.lr, vgg: vgg.label },
        async step(rng) {
          const r = await t.step(batchOf(rng), rng.int(grams.length));
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
        checkpoint: () => t.checkpoint(),
        restore: (tensors, metadata, iteration) => t.restore(tensors, metadata, iteration, 'the checkpoint'),
        exportWeights() {
          return {
            fileName: `${p.name}.safetensors`,
            tensors: newRows(),
            metadata: addedStyleMetadata(t.iteration, { source: 'atelier train multistyle-style', styles: loaded.files.join(',') }),
            usage: '--method neural.multistyle --added FILE --style 26',
            install: { kind: MULTISTYLE_TRAINED_KIND, name: p.name, force: p.force },
            use: { method: 'neural.multistyle', param: 'added', params: { style: MULTISTYLE.styles } },
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
