import { z } from 'zod';
import { clampImage } from '../../core/image.js';
import { AtelierError } from '../../core/errors.js';
import { defineMethod } from '../../core/registry.js';
import { loadLoraStack } from '../../engine/lora/adapter.js';
import { ARBITRARY, ARBITRARY_MERGED_KIND, blendVectors, predictStyleVector, type TransferVariant } from '../../engine/nets/magenta-arbitrary.js';
import { resolveTrainedModel } from '../../engine/store/trained.js';
import { readSafetensors } from '../../engine/weights/safetensors.js';
import { weightSourceBytes } from '../../engine/store/weight-bytes.js';

/**
 * Arbitrary style in one pass (the report's ASPM; Ghiasi et al., BMVC 2017): a style-prediction
 * network turns any style image into a 100-d vector; a transfer network conditioned on it stylises
 * the content. Strength interpolates between the content's own vector and the style's (the
 * paper's identity interpolation: 0 gives the network's rendering of the content in its own
 * style); several style images blend their vectors with their weights. Magenta's TFLite files are
 * imported into engine graphs; the transfer net runs at any size (multiples of 4), tiled with
 * feathered overlaps beyond `tileSize`.
 */
const params = z.object({
  variant: z
    .enum(['fp16', 'int8', 'dynamic'])
    .default('fp16')
    .describe('Which published transfer network: fp16 (half-precision weights, best), int8 (fully quantised, run in float) or dynamic (dynamic-range int8 weights)'),
  weights: z
    .string()
    .min(1)
    .default('installed')
    .describe("'installed' (the model store's magenta-arbitrary), 'random' (a seeded stand-in to try the pipeline), or a transfer network made by `atelier lora merge --base magenta-arbitrary` (its name; the installed predictor and fp16 network's operators). On the command line also a folder holding the .tflite files"),
  tileSize: z.number().int().min(128).max(8192).default(1024).describe('Largest tile side the transfer network processes at once; larger images are tiled with feathered overlaps'),
  lora: z
    .array(z.string().min(1))
    .max(8)
    .optional()
    .describe('LoRA adapters to stack on the transfer network\'s convolutions, each NAME or NAME:WEIGHT: made by `atelier train lora --base magenta-arbitrary --name NAME` (on the fp16 network) or the studio\'s trainer. On the command line also adapter files, FILE or FILE:WEIGHT (repeat or comma-separate; keys are the TFLite tensor names, docs/lora.md)'),
});

export const arbitrary = defineMethod({
  id: 'neural.arbitrary',
  family: 'neural',
  title: 'Arbitrary style network (Magenta)',
  summary: 'Any style in one pass: a predicted 100-d style vector conditions a feed-forward transfer network',
  reference: 'Ghiasi, Lee, Kudlur, Dumoulin & Shlens, Exploring the structure of a real-time, arbitrary neural artistic stylization network, BMVC 2017',
  inputs: { style: 'required', multiStyle: true },
  // Strength is the paper's interpolation of style vectors, applied here, not an image blend.
  controls: { strength: false },
  params,
  weights: [{ model: ARBITRARY.model, description: `Magenta style predictor (int8) + transfer networks fp16 / int8 / dynamic, TFLite (${ARBITRARY.licence})`, variantParam: 'variant' }],
  // Measured with the published networks (fp16): 105 MB to load (bench/memory.mjs --installed,
  // threads 1), 370 MB per MP of a tile (a whole 1024² image peaks at 603 MB in arena sessions,
  // commit 3661a5e's bench/imported.mjs, less 110 MB of process and the load), and multistyle's 84 MB
  // per MP of the whole image in tiles (the same tiling).
  memory: {
    bytesPerPixel: 388,
    loadBytes: 105 * 2 ** 20,
    pixelsAtOnce: (p, n) => Math.min(n, p.tileSize ** 2),
    sizeParam: 'tileSize',
    wholeBytesPerPixel: 88,
    weightBytes: (p) => weightSourceBytes(p.weights, ARBITRARY.model, { variant: ARBITRARY.transfer[p.variant as TransferVariant].variant }),
  },
  quickParams: { weights: 'random' },
  trainedModels: { lora: { kind: 'lora', trainer: 'lora', stack: true, weighted: true, trainerParams: { base: 'magenta-arbitrary' } } },
  async run(ctx, { content, style, styles }, p) {
    const [
      { runtimeLora },
      { foreignModelFile, ImportedNetwork, importedImageNetwork, isStoredModelName },
      { substituteWeights },
      { randomImageNetwork },
      { runTiled },
    ] = await Promise.all([
      import('../../engine/lora/graph-adapter.js'),
      import('../../engine/nets/imported-network.js'),
      import('../../engine/nets/imported-weights.js'),
      import('../../engine/nets/random-image-net.js'),
      import('../../engine/nets/tiled-image-net.js'),
    ]);
    const strength = ctx.controls.strength;
    let net;
    let meta: Record<string, unknown>;
    let finish: (() => { source: string }[]) | undefined;
    if (p.weights === 'random') {
      if (p.lora && p.lora.length > 0) throw new AtelierError('E_PARAM', 'LoRA adapters need the published transfer network, not the random stand-in', { subject: 'lora', hint: "use weights 'installed'" });
      ctx.log.warn('neural.arbitrary runs a seeded random stand-in network: the result is not the published model\'s');
      net = randomImageNetwork(ctx.seed, ctx.threads);
      meta = { weights: `random (seed ${ctx.seed}; not the published model)` };
    } else {
      const { file: transferFile, variant } = ARBITRARY.transfer[p.variant as TransferVariant];
      const merged = isStoredModelName(p.weights) ? p.weights : undefined;
      if (merged && p.variant !== 'fp16') {
        throw new AtelierError('E_PARAM', `${merged} is a merged fp16 transfer network; variant ${p.variant} does not apply to it`, { subject: 'variant', hint: 'leave --variant at fp16' });
      }
      const files = merged ? 'installed' : p.weights;
      const predictor = await ImportedNetwork.load(foreignModelFile(ARBITRARY.model, ARBITRARY.predictor.file, files, variant), {}, ctx.threads);
      const lora = p.lora && p.lora.length > 0 ? runtimeLora(await loadLoraStack(p.lora), merged ?? `${ARBITRARY.model}'s ${p.variant} transfer network`) : undefined;
      let hook = lora?.hook;
      let finishWeights: (() => void) | undefined;
      if (merged) {
        const substituted = substituteWeights(await readSafetensors(resolveTrainedModel(ARBITRARY_MERGED_KIND, merged)), merged, hook);
        hook = substituted.hook;
        finishWeights = substituted.finish;
      }
      const transfer = await ImportedNetwork.load(foreignModelFile(ARBITRARY.model, transferFile, files, variant), hook ? { paramHook: hook } : {}, ctx.threads);
      finish = () => {
        finishWeights?.();
        return lora?.finish() ?? [];
      };
      const list = styles ?? [{ image: style!, weight: 1 }];
      const vectors = [];
      for (const s of list) {
        ctx.signal.throwIfAborted();
        vectors.push({ vector: await predictStyleVector(predictor, s.image), weight: s.weight * strength });
      }
      if (strength < 1) vectors.push({ vector: await predictStyleVector(predictor, content), weight: 1 - strength });
      const vector = blendVectors(vectors);
      net = importedImageNetwork(transfer, {
        input: ARBITRARY.contentInput,
        extra: { [ARBITRARY.vectorInput]: { data: vector, shape: [1, 1, 1, ARBITRARY.dims] } },
        range: [0, 1],
        multiple: 4,
      });
      meta = { model: ARBITRARY.model, transfer: transferFile, strength, ...(merged && { weights: merged }), ...(p.lora && p.lora.length > 0 && { lora: p.lora }) };
    }
    const image = await runTiled(net, content, { tile: p.tileSize, margin: 48, signal: ctx.signal, onProgress: (d, t) => ctx.progress.step(d, t) });
    for (const m of finish?.() ?? []) ctx.log.warn(`the LoRA ${m.source} was trained on other weights than this transfer network's (base fingerprint differs): applied anyway`);
    return { image: clampImage(image), meta };
  },
});
