import { z } from 'zod';
import { defineMethod } from '../../core/registry.js';
import { weightSourceBytes } from '../../engine/store/weight-bytes.js';

/**
 * A StarGAN generator the user trained (`atelier train stargan --domain NAME=DIR … --name MODEL`):
 * one network for all its domains, told the target domain by name. Fully convolutional: any size
 * (padded by reflection to a multiple of 4), large images tiled with feathered overlaps.
 */
const params = z.object({
  model: z.string().min(1).describe("A StarGAN trained here, by name (`atelier train stargan --name NAME` or the studio's trainer), or 'random' (a seeded stand-in over domains a, b, c). On the command line also a .safetensors file the trainer wrote"),
  domain: z.string().min(1).describe('The target domain, one of the names the model was trained with'),
  tileSize: z.number().int().min(64).max(8192).default(1024).describe('Largest tile side run at once; larger images are tiled with feathered overlaps'),
});

export const stargan = defineMethod({
  id: 'neural.stargan',
  family: 'neural',
  title: 'StarGAN (trained here)',
  summary: 'Translate an image into one domain of a multi-domain StarGAN you trained with `atelier train stargan`',
  reference: 'Choi et al., StarGAN: Unified Generative Adversarial Networks for Multi-Domain Image-to-Image Translation, CVPR 2018',
  inputs: { style: 'none' },
  params,
  // neural.cyclegan's figures (bench/memory.mjs, its seeded stand-in, threads 1: 43 MB to load,
  // 266 MB per MP of a tile): StarGAN's generator is the same kind of residual encoder-decoder.
  // Multistyle's 84 MB per MP of the whole image in tiles (the same tiling).
  memory: {
    bytesPerPixel: 279,
    loadBytes: 43 * 2 ** 20,
    pixelsAtOnce: (p, n) => Math.min(n, p.tileSize ** 2),
    sizeParam: 'tileSize',
    wholeBytesPerPixel: 88,
    weightBytes: (p) => weightSourceBytes(p.model),
  },
  quickParams: { model: 'random', domain: 'b' },
  // The stand-in's domains are starGanNetwork's for 'random' (engine/nets/trained-generator.ts).
  trainedModels: { model: { kind: 'stargan', trainer: 'stargan', words: [{ word: 'random', label: 'random (a seeded stand-in, not trained)', choices: { domain: ['a', 'b', 'c'] } }] } },
  async run(ctx, { content }, p) {
    const { starGanNetwork, runGenerator } = await import('../../engine/nets/trained-generator.js');
    if (p.model === 'random') ctx.log.warn('neural.stargan runs a seeded random generator: the result is not a trained model\'s');
    const { net, meta } = await starGanNetwork(p.model, p.domain, { seed: ctx.seed, threads: ctx.threads });
    const image = await runGenerator(net, content, { tileSize: p.tileSize, signal: ctx.signal, onProgress: (d, t) => ctx.progress.step(d, t) });
    return { image, meta };
  },
});
