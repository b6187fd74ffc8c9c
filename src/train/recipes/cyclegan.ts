import { z } from 'zod';
import { Rng } from '../../core/rng.js';
import { checkTrainedName } from '../../engine/store.js';
import { defineTrainer } from '../definition.js';
import { sampleGrid, toSigned } from '../sample-grid.js';
import { TrainingImages } from '../training-images.js';
import { CycleGanTrainer, PUBLISHED_CYCLEGAN } from './cyclegan-trainer.js';

/**
 * CycleGAN (Zhu et al., ICCV 2017): unpaired translation between two image domains with two
 * ResNet generators, two 70×70 PatchGAN discriminators, least-squares adversarial losses, cycle
 * and identity losses and a history pool (the step is in cyclegan-trainer.ts). Data as the
 * published code's resize_and_crop + flip: images scaled to 286/256 of the crop on their short
 * side (aspect kept, where the code squashes them square), random crops, random left–right flips.
 */
const params = z.object({
  a: z.string().min(1).describe('Folder of domain A images (e.g. photos)'),
  b: z.string().min(1).describe('Folder of domain B images (e.g. paintings)'),
  size: z.number().int().multipleOf(4).min(32).default(256).describe('Side of the square training crops (published 256)'),
  width: z.number().int().min(1).max(256).default(64).describe('Generator width: channels of its first conv (published 64)'),
  blocks: z.number().int().min(1).max(32).optional().describe('Generator residual blocks (published 9 at 256², 6 below)'),
  skip: z.boolean().default(false).describe('Generator adds its input to its output (not published; the published one cannot see an image\'s colour offsets through its first instance norm, so it must guess colours from content)'),
  discriminatorWidth: z.number().int().min(1).max(256).default(64).describe('PatchGAN width: channels of its first conv (published 64)'),
  discriminatorLayers: z.number().int().min(1).max(5).default(3).describe('PatchGAN strided layers (published 3: 70×70 patches)'),
  lr: z.number().positive().default(PUBLISHED_CYCLEGAN.learningRate).describe('Adam learning rate (published 2e-4, β = 0.5, 0.999)'),
  decay: z.number().min(0).max(1).default(PUBLISHED_CYCLEGAN.decayFraction).describe('Fraction of the run at its end over which the learning rate falls linearly to zero (published 0.5)'),
  cycleWeight: z.number().min(0).default(PUBLISHED_CYCLEGAN.lossWeights.cycleA).describe('Cycle-consistency weight λ for both directions (published 10)'),
  identityWeight: z.number().min(0).default(PUBLISHED_CYCLEGAN.lossWeights.identity).describe('Identity loss weight, relative to λ (published 0.5)'),
  pool: z.number().int().min(0).max(1000).default(PUBLISHED_CYCLEGAN.poolSize).describe('History pool of generated images shown to the discriminators (published 50)'),
  name: z.string().min(1).optional().describe('Also store the trained generator in the model store under this name (neural.cyclegan --model NAME)'),
  eval: z.number().int().min(0).max(32).default(3).describe('Fixed A and B crops: validation losses before and after, and the sample grids'),
});

export const cyclegan = defineTrainer({
  id: 'cyclegan',
  title: 'CycleGAN',
  summary: 'Train CycleGAN (two ResNet generators, two PatchGAN discriminators) on two unpaired folders of images',
  reference: 'Zhu, Park, Isola & Efros, Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks, ICCV 2017',
  params,
  studio: {
    images: {
      a: { role: 'content', min: 2, max: 24, description: "Domain A, what is translated: 2 to 24 photos (default: the server's photo set)" },
      b: { role: 'style', min: 2, max: 20, description: 'Domain B, the look to translate into: 2 to 20 images' },
    },
    basic: ['size', 'width', 'lr', 'cycleWeight'],
    // Networks a quarter of the published width at 64² crops: steps of seconds on a laptop's cores, not minutes.
    defaults: { size: 64, width: 16, blocks: 3, discriminatorWidth: 16, eval: 1 },
    iterations: 200,
  },
  async open(ctx, p) {
    if (p.name) checkTrainedName(p.name); // before hours of training, not after
    const S = p.size;
    const loadSide = Math.round((S * 286) / 256);
    const A = await TrainingImages.loadDomain(p.a, 'A', loadSide, ctx.log);
    const B = await TrainingImages.loadDomain(p.b, 'B', loadSide, ctx.log);
    const blocks = p.blocks ?? (S >= 256 ? 9 : 6);
    ctx.log.info(`cyclegan: ${A.count} A and ${B.count} B images, ${S}² crops, generator width ${p.width} with ${blocks} blocks, PatchGAN width ${p.discriminatorWidth}`);
    const trainer = await CycleGanTrainer.create({
      size: S,
      generator: { width: p.width, blocks, skip: p.skip },
      discriminator: { width: p.discriminatorWidth, layers: p.discriminatorLayers },
      lossWeights: { cycleA: p.cycleWeight, cycleB: p.cycleWeight, identity: p.identityWeight },
      learningRate: p.lr,
      iterations: ctx.iterations,
      decayFraction: p.decay,
      poolSize: p.pool,
      threads: ctx.threads,
      seed: ctx.seed,
    });
    // Fixed crops (centre, no flip): the same before and after, and in every sample grid.
    const validationRng = new Rng((ctx.seed ^ 0xc1c1e) >>> 0);
    const fixed = Array.from({ length: Math.max(p.eval, 1) }, () => ({ a: toSigned(A.sample(validationRng, S)), b: toSigned(B.sample(validationRng, S)) }));
    const l1 = (x: Float32Array, y: Float32Array) => x.reduce((s, v, i) => s + Math.abs(v - y[i]!), 0) / x.length;
    return {
      get iteration() {
        return trainer.iteration;
      },
      checkpointFormat: CycleGanTrainer.checkpointFormat,
      curves: [
        { key: 'G_A', label: 'G_A adversarial' },
        { key: 'G_B', label: 'G_B adversarial' },
        { key: 'cycle_A', label: 'cycle A (L1)' },
        { key: 'cycle_B', label: 'cycle B (L1)' },
        { key: 'D_A', label: 'D_A' },
        { key: 'D_B', label: 'D_B' },
      ],
      curveTitle: `CycleGAN training, ${S}² crops, width ${p.width}`,
      summary: { size: S, width: p.width, blocks, skip: p.skip, discriminatorWidth: p.discriminatorWidth, discriminatorLayers: p.discriminatorLayers, lr: p.lr, cycleWeight: p.cycleWeight, identityWeight: p.identityWeight, pool: p.pool, a: p.a, b: p.b },
      async step(rng) {
        const realA = toSigned(A.sampleFlipped(rng, S));
        const realB = toSigned(B.sampleFlipped(rng, S));
        const r = await trainer.step(realA, realB, rng);
        return { values: { ...r.losses, learningRate: r.learningRate } };
      },
      async validate() {
        if (p.eval === 0) return undefined;
        let cycleA = 0;
        let cycleB = 0;
        for (const f of fixed) {
          const out = await trainer.forward(f.a, f.b);
          cycleA += l1(out.recA, f.a) / fixed.length;
          cycleB += l1(out.recB, f.b) / fixed.length;
        }
        return { cycle_A: cycleA, cycle_B: cycleB };
      },
      async sampleGrid() {
        const rows: Float32Array[][] = [];
        for (const f of fixed) {
          const out = await trainer.forward(f.a, f.b);
          rows.push([f.a, out.fakeB, out.recA], [f.b, out.fakeA, out.recB]);
        }
        return sampleGrid(rows, S);
      },
      checkpoint: () => trainer.checkpoint(),
      restore: (tensors, metadata, iteration) => trainer.restore(tensors, metadata, iteration, 'the training checkpoint'),
      exportWeights() {
        return {
          // The store keeps the file under its own name (models/NAME/NAME.safetensors), as the other recipes do.
          fileName: p.name ? `${p.name}.safetensors` : 'cyclegan.safetensors',
          tensors: trainer.generators.tensors(),
          metadata: {
            architecture: 'cyclegan-resnet-generator',
            width: String(p.width),
            blocks: String(blocks),
            skip: String(p.skip),
            a: p.a,
            b: p.b,
            size: String(S),
            iterations: String(trainer.iteration),
            source: 'atelier train cyclegan',
          },
          ...(p.name && { install: { kind: 'cyclegan', name: p.name } }),
          use: { method: 'neural.cyclegan', param: 'model' },
          usage: '--method neural.cyclegan --model FILE (G_A: A→B; --direction b2a for G_B)',
        };
      },
    };
  },
});
