import { z } from 'zod';
import { AtelierError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { checkTrainedName } from '../../engine/store.js';
import { defineTrainer } from '../definition.js';
import { sampleGrid, toSigned } from '../sample-grid.js';
import { TrainingImages } from '../training-images.js';
import { PUBLISHED_STARGAN, StarGanTrainer } from './stargan-trainer.js';

/**
 * StarGAN (Choi et al., CVPR 2018): one generator for many image domains, conditioned on the
 * target domain's label; a discriminator with a real/fake head and a domain classifier; WGAN-GP,
 * classification and reconstruction losses (the step is in stargan-trainer.ts). Data: each domain a
 * folder (`--domain NAME=DIR`, repeated); images scaled to 1.1× the crop on their short side,
 * random crops and left–right flips (the code: flip, centre crop, resize); each batch image from a
 * domain drawn uniformly, so small domains are not drowned.
 */
const params = z.object({
  domain: z.array(z.string().min(1)).min(2).describe('Domains as NAME=DIR, at least two (repeat --domain or separate by commas)'),
  size: z.number().int().multipleOf(4).min(16).default(128).describe('Side of the square training crops (published 128)'),
  batch: z.number().int().min(1).max(64).default(PUBLISHED_STARGAN.batch).describe('Images per step (published 16)'),
  width: z.number().int().min(1).max(256).default(64).describe('Generator width: channels of its first conv (published 64)'),
  blocks: z.number().int().min(1).max(32).default(6).describe('Generator residual blocks (published 6)'),
  skip: z.boolean().default(false).describe('Generator adds its input to its output (not published; the published one cannot see an image\'s colour offsets through its first instance norm, so it must guess colours from content)'),
  labelNorm: z
    .boolean()
    .default(false)
    .describe("Label also shifts every instance norm's output (conditional instance norm; not published: the published label planes reach the interior only through the first conv's zero-padded border, so their effect at initialisation fades on images larger than the crops)"),
  discriminatorWidth: z.number().int().min(1).max(256).default(64).describe('Discriminator width (published 64)'),
  discriminatorLayers: z.number().int().min(1).max(8).default(6).describe('Discriminator stride-2 layers (published 6 at 128²); the size must be divisible by 2^layers'),
  lr: z.number().positive().default(PUBLISHED_STARGAN.learningRate).describe('Adam learning rate of both networks (published 1e-4, β = 0.5, 0.999)'),
  decay: z.number().min(0).max(1).default(PUBLISHED_STARGAN.decayFraction).describe('Fraction of the run at its end over which the learning rate falls linearly to zero (published: the second half)'),
  clsWeight: z.number().min(0).default(PUBLISHED_STARGAN.clsWeight).describe('Domain classification loss weight (published 1)'),
  recWeight: z.number().min(0).default(PUBLISHED_STARGAN.recWeight).describe('Reconstruction loss weight (published 10)'),
  gpWeight: z.number().min(0).default(PUBLISHED_STARGAN.gpWeight).describe('Gradient penalty weight (published 10)'),
  nCritic: z.number().int().min(1).default(PUBLISHED_STARGAN.nCritic).describe('Discriminator steps per generator step (published 5)'),
  name: z.string().min(1).optional().describe('Also store the trained generator in the model store under this name (neural.stargan --model NAME)'),
  eval: z.number().int().min(0).max(8).default(1).describe('Fixed images per domain: validation reconstruction before and after, and the sample grids'),
});

const DOMAIN = /^([A-Za-z0-9][A-Za-z0-9_-]*)=(.+)$/;

/** Parse NAME=DIR entries; a malformed one, or two with one name, are refused. */
function parseDomains(specs: string[]): { name: string; dir: string }[] {
  const out = specs.map((s) => {
    const m = DOMAIN.exec(s);
    if (!m) {
      throw new AtelierError('E_PARAM', `Invalid domain ${JSON.stringify(s)}`, {
        expected: 'NAME=DIR: a name of letters, digits, - or _, an equals sign, then the folder of that domain\'s images',
        received: JSON.stringify(s),
        hint: 'e.g. --domain photo=photos/ --domain toon=toons/',
      });
    }
    return { name: m[1]!, dir: m[2]! };
  });
  const seen = new Set<string>();
  for (const d of out) {
    if (seen.has(d.name)) throw new AtelierError('E_PARAM', `Domain ${d.name} is given twice`, { expected: 'one --domain NAME=DIR per name', received: specs.join(' ') });
    seen.add(d.name);
  }
  return out;
}

export const stargan = defineTrainer({
  id: 'stargan',
  title: 'StarGAN',
  summary: 'Train StarGAN (one generator for several domains, discriminator with a domain classifier, WGAN-GP) on folders of images, one per domain',
  reference: 'Choi, Choi, Kim, Ha, Kim & Choo, StarGAN: Unified Generative Adversarial Networks for Multi-Domain Image-to-Image Translation, CVPR 2018',
  params,
  studio: {
    // Two domains from the page: photos and a look (the CLI takes any number with --domain NAME=DIR).
    images: {
      photo: { role: 'content', min: 2, max: 24, description: "Domain photo: 2 to 24 photos (default: the server's photo set)" },
      look: { role: 'style', min: 2, max: 20, description: 'Domain look: 2 to 20 images of the look to learn' },
    },
    folders: { fills: ['domain'], params: (f) => ({ domain: [`photo=${f.photo}`, `look=${f.look}`] }) },
    basic: ['size', 'width', 'lr'],
    // A quarter of the published widths at 32² crops (4 discriminator layers fit 32 = 2^5): seconds a step on a laptop.
    defaults: { size: 32, batch: 4, width: 16, blocks: 3, discriminatorWidth: 16, discriminatorLayers: 4, eval: 1 },
    iterations: 200,
  },
  async open(ctx, p) {
    if (p.name) checkTrainedName(p.name); // before hours of training, not after
    const S = p.size;
    const domains = parseDomains(p.domain);
    const sets: TrainingImages[] = [];
    for (const d of domains) sets.push(await TrainingImages.loadDomain(d.dir, d.name, Math.round(S * 1.1), ctx.log));
    ctx.log.info(`stargan: ${domains.map((d, i) => `${d.name} ${sets[i]!.count}`).join(', ')} images, ${S}² crops, batch ${p.batch}, generator width ${p.width} with ${p.blocks} blocks`);
    const trainer = await StarGanTrainer.create({
      size: S,
      batch: p.batch,
      domains: domains.map((d) => d.name),
      generator: { width: p.width, blocks: p.blocks, skip: p.skip, labelNorm: p.labelNorm },
      discriminator: { width: p.discriminatorWidth, layers: p.discriminatorLayers },
      clsWeight: p.clsWeight,
      recWeight: p.recWeight,
      gpWeight: p.gpWeight,
      nCritic: p.nCritic,
      learningRate: p.lr,
      iterations: ctx.iterations,
      decayFraction: p.decay,
      threads: ctx.threads,
      seed: ctx.seed,
    });
    const validationRng = new Rng((ctx.seed ^ 0x57a9) >>> 0);
    const fixed = sets.flatMap((set, domain) => Array.from({ length: Math.max(p.eval, 1) }, () => ({ image: toSigned(set.sample(validationRng, S)), domain })));
    const n = 3 * S * S;
    return {
      get iteration() {
        return trainer.iteration;
      },
      checkpointFormat: StarGanTrainer.checkpointFormat,
      curves: [
        { key: 'D_real', label: 'D real' },
        { key: 'D_fake', label: 'D fake' },
        { key: 'D_cls', label: 'D classification' },
        { key: 'D_gp', label: 'gradient penalty' },
        { key: 'G_rec', label: 'G reconstruction' },
        { key: 'G_cls', label: 'G classification' },
        { key: 'D_accuracy', label: "D's domain accuracy on real images" },
        { key: 'G_accuracy', label: "fakes D puts in their target domain" },
      ],
      curveTitle: `StarGAN training, ${S}² crops, ${domains.length} domains`,
      summary: { size: S, batch: p.batch, width: p.width, blocks: p.blocks, skip: p.skip, labelNorm: p.labelNorm, discriminatorWidth: p.discriminatorWidth, discriminatorLayers: p.discriminatorLayers, domains, lr: p.lr, clsWeight: p.clsWeight, recWeight: p.recWeight, gpWeight: p.gpWeight, nCritic: p.nCritic },
      async step(rng) {
        const real = new Float32Array(p.batch * n);
        const batchDomains: number[] = [];
        const targets: number[] = [];
        const alpha: number[] = [];
        for (let i = 0; i < p.batch; i++) {
          const c = rng.int(domains.length);
          real.set(toSigned(sets[c]!.sampleFlipped(rng, S)), i * n);
          batchDomains.push(c);
          targets.push(rng.int(domains.length));
          alpha.push(rng.next());
        }
        const r = await trainer.step({ real, domains: batchDomains, targets, alpha });
        return { values: { ...r.losses, learningRate: r.learningRate } };
      },
      async validate() {
        if (p.eval === 0) return undefined;
        // Reconstruction through every other domain and back: |x − G(G(x, c'), c)|₁, averaged.
        let rec = 0;
        let count = 0;
        for (const f of fixed) {
          for (let t = 0; t < domains.length; t++) {
            if (t === f.domain) continue;
            const back = await trainer.translate(await trainer.translate(f.image, t), f.domain);
            rec += back.reduce((s, v, i) => s + Math.abs(v - f.image[i]!), 0) / back.length;
            count++;
          }
        }
        return { G_rec: rec / count };
      },
      async sampleGrid() {
        const rows: Float32Array[][] = [];
        for (const f of fixed) {
          const row = [f.image];
          for (let t = 0; t < domains.length; t++) row.push(await trainer.translate(f.image, t));
          rows.push(row);
        }
        return sampleGrid(rows, S);
      },
      checkpoint: () => trainer.checkpoint(),
      restore: (tensors, metadata, iteration) => trainer.restore(tensors, metadata, iteration, 'the training checkpoint'),
      exportWeights() {
        return {
          fileName: p.name ? `${p.name}.safetensors` : 'stargan.safetensors',
          tensors: trainer.generator.tensors('G.'),
          metadata: {
            architecture: 'stargan-generator',
            width: String(p.width),
            blocks: String(p.blocks),
            skip: String(p.skip),
            labelNorm: String(p.labelNorm),
            domains: domains.map((d) => d.name).join(','),
            size: String(S),
            iterations: String(trainer.iteration),
            source: 'atelier train stargan',
          },
          ...(p.name && { install: { kind: 'stargan', name: p.name } }),
          // Its domains are the only values its --domain takes: the studio offers them as a select.
          use: { method: 'neural.stargan', param: 'model', params: { domain: domains[1]!.name }, choices: { domain: domains.map((d) => d.name) } },
          usage: `--method neural.stargan --model FILE --domain ${domains[1]!.name}`,
        };
      },
    };
  },
});
