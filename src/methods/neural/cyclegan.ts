import { z } from 'zod';
import { defineMethod } from '../../core/registry.js';
import { weightSourceBytes } from '../../engine/store/weight-bytes.js';

/**
 * A CycleGAN generator the user trained (`atelier train cyclegan … --name NAME`): photo to the
 * other domain (G_A, A→B) or back (G_B). Fully convolutional: any size (padded by reflection to a
 * multiple of 4); images larger than a tile are cut into tiles with feathered overlaps (each tile's
 * instance norms then see that tile only, so keep tiles large).
 */
const params = z.object({
  model: z.string().min(1).describe("A CycleGAN trained here, by name (`atelier train cyclegan --name NAME` or the studio's trainer), or 'random' (a seeded stand-in to try the pipeline). On the command line also a .safetensors file the trainer wrote"),
  direction: z.enum(['a2b', 'b2a']).default('a2b').describe('a2b: the generator from domain A to B (G_A); b2a: back (G_B)'),
  tileSize: z.number().int().min(64).max(8192).default(1024).describe('Largest tile side run at once; larger images are tiled with feathered overlaps'),
});

export const cyclegan = defineMethod({
  id: 'neural.cyclegan',
  family: 'neural',
  title: 'CycleGAN (trained here)',
  summary: 'Translate an image into the other domain of a CycleGAN you trained with `atelier train cyclegan`',
  reference: 'Zhu, Park, Isola & Efros, Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks, ICCV 2017',
  inputs: { style: 'none' },
  params,
  // Measured (bench/memory.mjs, the seeded stand-in generator, threads 1): 43 MB to load,
  // 266 MB per MP of a tile; multistyle's 84 MB per MP of the whole image in tiles (the same tiling).
  memory: {
    bytesPerPixel: 279,
    loadBytes: 43 * 2 ** 20,
    pixelsAtOnce: (p, n) => Math.min(n, p.tileSize ** 2),
    sizeParam: 'tileSize',
    wholeBytesPerPixel: 88,
    weightBytes: (p) => weightSourceBytes(p.model),
  },
  quickParams: { model: 'random' },
  trainedModels: { model: { kind: 'cyclegan', trainer: 'cyclegan', words: [{ word: 'random', label: 'random (a seeded stand-in, not trained)' }] } },
  async run(ctx, { content }, p) {
    const { cycleGanNetwork, runGenerator } = await import('../../engine/nets/trained-generator.js');
    if (p.model === 'random') ctx.log.warn('neural.cyclegan runs a seeded random generator: the result is not a trained model\'s');
    const { net, meta } = await cycleGanNetwork(p.model, p.direction, { seed: ctx.seed, threads: ctx.threads });
    const image = await runGenerator(net, content, { tileSize: p.tileSize, signal: ctx.signal, onProgress: (d, t) => ctx.progress.step(d, t) });
    return { image, meta };
  },
});
