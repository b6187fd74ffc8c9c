import { z } from 'zod';
import { clampImage } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import { MULTISTYLE, parseStyleMix, styleVector, type StyleWeight } from '../../engine/nets/magenta-multistyle.js';
import { extendMultistyle, MULTISTYLE_TRAINED_KIND, readAddedStyle } from '../../engine/nets/multistyle-extension.js';
import { resolveTrainedModel } from '../../engine/store/trained.js';
import { AtelierError } from '../../core/errors.js';
import { weightSourceBytes } from '../../engine/store/weight-bytes.js';
import type { ImportedNetwork } from '../../engine/nets/imported-network.js';

/**
 * Multi-style feed-forward transfer (the report's MSPM): one network, 26 painting styles, chosen or
 * mixed by its conditional instance norms (Dumoulin, Shlens & Kudlur, ICLR 2017). Magenta's frozen
 * 8-bit graph is imported into an engine graph (quantised weights dequantised, run in float) and
 * runs at any size (multiples of 4), tiled with feathered overlaps beyond `tileSize`.
 */
/** At most this many added styles at once. */
const MAX_ADDED = 8;

/** The 26-style network with the added styles' rows (engine/nets/multistyle-extension.ts), cached by what was added. */
const extendedNetworks = new Map<string, Promise<ImportedNetwork>>();
async function extendedNetwork(file: string, added: readonly string[], threads: number): Promise<ImportedNetwork> {
  const rows = await Promise.all(added.map(async (a) => ({ name: a, ...(await readAddedStyle(resolveTrainedModel(MULTISTYLE_TRAINED_KIND, a))) })));
  const key = `${file}|${threads}|${rows.map((r) => `${r.name}@${r.stamp}`).join(',')}`;
  let pending = extendedNetworks.get(key);
  if (!pending) {
    const { ImportedNetwork } = await import('../../engine/nets/imported-network.js');
    pending = ImportedNetwork.derived(file, (tf) => extendMultistyle(tf, rows.map((r) => r.rows)), { outputs: [MULTISTYLE.output] }, threads);
    pending.catch(() => extendedNetworks.delete(key));
    extendedNetworks.set(key, pending);
    while (extendedNetworks.size > 2) extendedNetworks.delete(extendedNetworks.keys().next().value!);
  }
  return pending;
}

const params = z.object({
  style: z
    .number()
    .int()
    .min(0)
    .max(MULTISTYLE.styles - 1 + MAX_ADDED)
    .default(0)
    .describe('Which style: 0–25 the published ones, numbered like the thumbnails (thumbnails/style<N>.jpg); 26, 27, … those given with --added'),
  mix: z
    .string()
    .min(1)
    .optional()
    .describe('A convex mix of styles instead of one, as style:weight pairs, e.g. 3:0.5,17:0.5 (weights are normalised to sum to 1)'),
  added: z
    .array(z.string().min(1))
    .max(MAX_ADDED)
    .optional()
    .describe('Styles added to the network with `atelier train multistyle-style --name NAME` or the studio\'s trainer, by name: they become styles 26, 27, … in this order. On the command line also their .safetensors files'),
  weights: z
    .string()
    .min(1)
    .default('installed')
    .describe("'installed' (the model store's magenta-multistyle) or 'random' (a seeded stand-in to try the pipeline). On the command line also a folder holding stylize_quantized.pb"),
  tileSize: z.number().int().min(128).max(8192).default(1024).describe('Largest tile side the network processes at once; larger images are tiled with feathered overlaps (instance norm statistics then come from each tile)'),
});

export const multistyle = defineMethod({
  id: 'neural.multistyle',
  family: 'neural',
  title: 'Multi-style network (26 styles)',
  summary: 'One feed-forward network for 26 painting styles, picked or mixed through conditional instance norm',
  reference: 'Dumoulin, Shlens & Kudlur, A Learned Representation for Artistic Style, ICLR 2017 (Magenta)',
  inputs: { style: 'none' },
  params,
  weights: [{ model: MULTISTYLE.model, description: `Magenta 26-style network, frozen 8-bit GraphDef + 26 thumbnails (${MULTISTYLE.licence})` }],
  advanced: ['mix', 'tileSize'],
  // The studio's gallery: each style pictured by the thumbnail the model ships (served by GET /api/models/NAME/files/…).
  styleGallery: {
    param: 'style',
    model: MULTISTYLE.model,
    items: Array.from({ length: MULTISTYLE.styles }, (_, i) => ({ value: i, label: `Style ${i}`, thumbnail: `thumbnails/style${i}.jpg` })),
  },
  // Measured with the published graph: 56 MB to load (bench/memory.mjs --installed, threads 1), 578
  // MB per MP of a tile (a whole 1024² image peaks at 772 MB in arena sessions, commit 3661a5e's
  // bench/imported.mjs, less 110 MB of process and the load), 84 MB per MP of the whole image a tiled
  // run keeps (bench/memory.mjs, 128² tiles).
  memory: {
    bytesPerPixel: 606,
    loadBytes: 56 * 2 ** 20,
    pixelsAtOnce: (p, n) => Math.min(n, p.tileSize ** 2),
    sizeParam: 'tileSize',
    wholeBytesPerPixel: 88,
    weightBytes: (p) => weightSourceBytes(p.weights, MULTISTYLE.model),
  },
  trainedModels: { added: { kind: 'multistyle', trainer: 'multistyle-style', stack: true } },
  quickParams: { weights: 'random' },
  async run(ctx, { content }, p) {
    const [
      { foreignModelFile, ImportedNetwork, importedImageNetwork },
      { randomImageNetwork },
      { runTiled },
    ] = await Promise.all([
      import('../../engine/nets/imported-network.js'),
      import('../../engine/nets/random-image-net.js'),
      import('../../engine/nets/tiled-image-net.js'),
    ]);
    const added = p.added ?? [];
    const count = MULTISTYLE.styles + added.length;
    if (p.style >= count) {
      throw new AtelierError('E_PARAM', `There is no style ${p.style}`, {
        subject: 'style',
        expected: `0–${count - 1}${added.length ? ` (26 published, then ${added.join(', ')})` : ' (styles 26 and up are those given with --added)'}`,
        received: String(p.style),
      });
    }
    const mix: StyleWeight[] = p.mix ? parseStyleMix(p.mix, count) : [{ style: p.style, weight: 1 }];
    let net;
    if (p.weights === 'random') {
      ctx.log.warn('neural.multistyle runs a seeded random stand-in network: the result is not the published model\'s');
      net = randomImageNetwork(ctx.seed, ctx.threads);
    } else {
      const file = foreignModelFile(MULTISTYLE.model, MULTISTYLE.file, p.weights);
      const imported = added.length ? await extendedNetwork(file, added, ctx.threads) : await ImportedNetwork.load(file, { outputs: [MULTISTYLE.output] }, ctx.threads);
      net = importedImageNetwork(imported, {
        input: MULTISTYLE.input,
        extra: { [MULTISTYLE.styleInput]: { data: styleVector(mix, count), shape: [count] } },
        range: [0, 1],
        multiple: 4,
      });
    }
    const image = await runTiled(net, content, { tile: p.tileSize, margin: 48, signal: ctx.signal, onProgress: (d, t) => ctx.progress.step(d, t) });
    return {
      image: clampImage(image),
      meta: {
        ...(p.weights === 'random' ? { weights: `random (seed ${ctx.seed}; not the published model)` } : { model: MULTISTYLE.model }),
        ...(added.length > 0 && { added: added.map((a, i) => `${MULTISTYLE.styles + i}: ${a}`).join(', ') }),
        styles: mix.map((m) => `${m.style}:${+m.weight.toFixed(4)}`).join(','),
      },
    };
  },
});
