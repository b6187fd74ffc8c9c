import { z } from 'zod';
import { Rng } from '../../core/rng.js';
import { mattingLaplacian } from '../../engine/losses/matting-laplacian.js';
import { loadCapVstWeights } from '../../engine/nets/capvst/weights.js';
import { randomVgg19Weights } from '../../engine/nets/vgg19.js';
import { isModelInstalled, requireModel } from '../../engine/store.js';
import { loadPerceptualVgg } from '../../engine/losses/perceptual.js';
import type { VggTap } from '../../engine/nets/vgg19.js';
import { readWeights } from '../../engine/weights/read.js';
import type { TensorMap } from '../../engine/weights/tensor.js';
import { defineTrainer } from '../definition.js';
import { listTrainingImages, TrainingImages } from '../training-images.js';
import { CapVstTrainer, PUBLISHED_LOSS_WEIGHTS, type LossBreakdown } from './capvst-trainer.js';

/**
 * CAP-VSTNet (An et al., CVPR 2023) trained with its published losses: style, cycle
 * reconstruction, Matting Laplacian (the training graphs and step are in capvst-trainer.ts).
 * Square crops of images scaled to twice the crop on their short side, as the published
 * train.py does; a fixed set of validation crops reports the losses before and after.
 */
const params = z.object({
  content: z.string().min(1).describe('Content images: a folder, or a pairs.json with photoreal/artistic lists'),
  style: z.string().min(1).optional().describe('Style images (default: the same source as content)'),
  mode: z.enum(['photoreal', 'artistic']).default('photoreal').describe('Sets the published loss weights'),
  size: z
    .number()
    .int()
    .multipleOf(4)
    .min(16)
    .default(256)
    .describe('Side of the square training crops (multiple of 4)'),
  init: z.string().default('random').describe("Starting weights: 'random' (seeded) or 'installed' (the published checkpoint). On the command line also a checkpoint file"),
  vgg: z
    .string()
    .default('auto')
    .describe("Normalised VGG-19 for the style loss: 'auto' (vgg_normalised to relu4_1 as published if installed, else the real VGG-19 to relu3_1 of vgg19-relu3_1), 'installed' (vgg_normalised), 'relu3_1' (vgg19-relu3_1), or 'random'. On the command line also a weight file"),
  lr: z.number().positive().default(1e-4).describe('Adam learning rate (decayed as lr / (1 + 5e-5 · iteration))'),
  styleWeight: z.number().min(0).optional().describe('Style loss weight (published: 1)'),
  recWeight: z.number().min(0).optional().describe('Cycle reconstruction weight (published: photoreal 10, artistic 1)'),
  lapWeight: z.number().min(0).optional().describe('Matting Laplacian weight (published: photoreal 1500, artistic 1)'),
  eval: z.number().int().min(0).default(4).describe('Fixed validation crops whose losses are reported before and after training (0: none)'),
});

async function loadVgg(source: string, seed: number): Promise<{ weights: TensorMap; label: string; taps?: VggTap[] }> {
  if (source === 'random') return { weights: randomVgg19Weights('normalised', seed, 'relu4_1'), label: `random (seed ${seed})` };
  // The real VGG-19 to relu3_1 (engine/losses/perceptual.ts): the style loss then stops at relu3_1.
  if (source === 'relu3_1' || (source === 'auto' && !isModelInstalled('vgg_normalised'))) {
    const real = await loadPerceptualVgg('installed');
    return { weights: real.weights, label: real.label, taps: ['relu1_1', 'relu2_1', 'relu3_1'] };
  }
  if (source === 'auto') source = 'installed';
  const file = source === 'installed' ? requireModel('vgg_normalised') : source;
  return { weights: await readWeights(file), label: source === 'installed' ? 'vgg_normalised' : file };
}

export const capvst = defineTrainer({
  id: 'capvst',
  title: 'CAP-VSTNet',
  summary: 'Train CAP-VSTNet (reversible network for cWCT) with its published losses: style, cycle reconstruction, Matting Laplacian',
  reference: 'An et al., Content-Affinity Preserved Versatile Style Transfer, CVPR 2023 (published train.py)',
  params,
  studio: {
    images: {
      style: { role: 'style', min: 1, max: 20, description: 'The look to learn: 1 to 20 images' },
      content: { role: 'content', min: 0, max: 20, description: "Photos to train on (optional: the server's photo set)" },
    },
    base: { param: 'init', choices: ['random', 'installed'] },
    basic: ['mode', 'lr', 'size'],
    // Small crops and no validation set: a first model in minutes on a laptop's cores.
    defaults: { size: 32, eval: 0 },
    iterations: 40,
  },
  async open(ctx, p) {
    const { mode, size } = p;
    const published = PUBLISHED_LOSS_WEIGHTS[mode];
    const lossWeights = {
      style: p.styleWeight ?? published.style,
      reconstruction: p.recWeight ?? published.reconstruction,
      laplacian: p.lapWeight ?? published.laplacian,
    };
    const contentFiles = listTrainingImages(p.content, 'content', mode);
    const styleFiles = listTrainingImages(p.style ?? p.content, 'style', mode);
    ctx.log.info(`capvst: ${mode}, ${contentFiles.length} content and ${styleFiles.length} style images, ${size}² crops`);
    const [contents, styles] = await Promise.all([TrainingImages.load(contentFiles, 2 * size), TrainingImages.load(styleFiles, 2 * size)]);
    const vgg = await loadVgg(p.vgg, ctx.seed);
    const initial = await loadCapVstWeights(p.init, mode, 'image', ctx.seed);
    ctx.log.info(`capvst: network from ${initial.source === 'random' ? `random weights (seed ${ctx.seed})` : initial.source}, VGG-19 ${vgg.label}; building the training graphs…`);
    const t0 = performance.now();
    const trainer = await CapVstTrainer.create(initial, vgg.weights, { size, lossWeights, learningRate: p.lr, threads: ctx.threads, ...(vgg.taps && { styleTaps: vgg.taps }) });
    ctx.log.info(`capvst: graphs ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // Fixed validation crops: the same before and after, so their losses show the trend without
    // the noise of random training crops.
    const validationRng = new Rng((ctx.seed ^ 0x5eed5) >>> 0);
    const validation = Array.from({ length: p.eval }, () => {
      const content = contents.sample(validationRng, size);
      return { content, style: styles.sample(validationRng, size), laplacian: mattingLaplacian(content, size, size) };
    });
    return {
      get iteration() {
        return trainer.iteration;
      },
      checkpointFormat: CapVstTrainer.checkpointFormat,
      curves: [
        { key: 'style', label: 'style' },
        { key: 'reconstruction', label: 'reconstruction' },
        { key: 'laplacian', label: 'Matting Laplacian' },
        { key: 'total', label: 'total (weighted)' },
      ],
      curveTitle: `CAP-VSTNet ${mode} training, ${size}² crops`,
      summary: { mode, size, lossWeights, vgg: vgg.label, styleTaps: vgg.taps ?? ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1'] },
      async step(rng) {
        const content = contents.sample(rng, size);
        const style = styles.sample(rng, size);
        const r = await trainer.step({ content, style, laplacian: mattingLaplacian(content, size, size) });
        return { values: { ...r.losses, gradientNorm: r.gradientNorm, learningRate: r.learningRate } };
      },
      async validate() {
        if (validation.length === 0) return undefined;
        const sums: LossBreakdown = { style: 0, reconstruction: 0, laplacian: 0, total: 0 };
        for (const v of validation) {
          const l = await trainer.evaluate(v);
          for (const k of Object.keys(sums) as (keyof LossBreakdown)[]) sums[k] += l[k] / validation.length;
        }
        return { ...sums };
      },
      checkpoint: () => trainer.checkpoint(),
      restore: (tensors, metadata, iteration) => trainer.restore(tensors, metadata, iteration, p.init),
      exportWeights() {
        const w = trainer.weights();
        return {
          fileName: `capvst-${mode}.safetensors`,
          tensors: [...w.tensors].map(([name, data]) => ({ name, shape: trainer.specs.find((s) => s.name === name)!.shape, data })),
          metadata: { mode, iterations: String(trainer.iteration), source: 'atelier train capvst' },
          usage: `--method neural.capvst --weights FILE`,
          use: { method: 'neural.capvst', param: 'weights', params: { mode } },
        };
      },
    };
  },
});
