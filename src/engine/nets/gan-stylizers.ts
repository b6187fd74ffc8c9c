import { clampImage, type Image } from '../../core/image.js';
import { AtelierError } from '../../core/errors.js';
import { loadLoraStack } from '../lora/adapter.js';
import { runtimeLora, type RuntimeLora } from '../lora/graph-adapter.js';
import { resolveTrainedModel } from '../store/trained.js';
import { readSafetensors } from '../weights/safetensors.js';
import { foreignModelFile, ImportedNetwork, importedImageNetwork, isStoredModelName } from './imported-network.js';
import { substituteWeights } from './imported-weights.js';
import { randomImageNetwork } from './random-image-net.js';
import { runTiled, type ImageNetwork } from './tiled-image-net.js';
import type { GanStylizer } from './gan-stylizer-models.js';

export interface GanRunOptions {
  /**
   * 'installed', 'random' (a seeded stand-in), a folder holding the file, or (with `mergedKind`) a
   * model made here of that kind: the published file's operators with that model's weights.
   */
  weights: string;
  tileSize: number;
  seed: number;
  threads: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** Told when the random stand-in runs instead of the published generator. */
  warn: (message: string) => void;
  /** LoRA adapters applied at run time, `FILE[:weight]` (engine/lora). */
  lora?: readonly string[];
  /** The kind of merged model `weights` may name. */
  mergedKind?: string;
}

/**
 * Run a published generator (or its seeded stand-in) over an image of any size, in tiles with
 * feathered overlaps, output clipped to [0, 1]; `meta` says which weights made it and their licence.
 */
export async function runGanStylizer(spec: GanStylizer, content: Image, o: GanRunOptions): Promise<{ image: Image; meta: Record<string, unknown> }> {
  let net: ImageNetwork;
  let lora: RuntimeLora | undefined;
  let finishWeights: (() => void) | undefined;
  if (o.weights === 'random') {
    if (o.lora && o.lora.length > 0) throw new AtelierError('E_PARAM', 'LoRA adapters need the published generator, not the random stand-in', { subject: 'lora', hint: "use weights 'installed'" });
    o.warn('a seeded random stand-in network runs: the result is not the published model\'s');
    net = randomImageNetwork(o.seed, o.threads);
  } else {
    const merged = o.mergedKind && isStoredModelName(o.weights) ? o.weights : undefined;
    const file = foreignModelFile(spec.model, spec.file, merged ? 'installed' : o.weights, spec.variant);
    lora = o.lora && o.lora.length > 0 ? runtimeLora(await loadLoraStack(o.lora), merged ?? spec.model) : undefined;
    let hook = lora?.hook;
    if (merged) {
      const substituted = substituteWeights(await readSafetensors(resolveTrainedModel(o.mergedKind!, merged)), merged, hook);
      hook = substituted.hook;
      finishWeights = substituted.finish;
    }
    // ImportedNetwork's default memory mode, the arena without memory plans, matters here: a plan
    // per input shape sized every activation at once; AnimeGAN peaked at 4657 MiB on a whole 1024²
    // image with plans and 2848 MiB without, 1450 and 801 MiB on a 576² tile, at the same speed.
    net = importedImageNetwork(await ImportedNetwork.load(file, hook ? { paramHook: hook } : {}, o.threads), { input: spec.input, range: [-1, 1], multiple: 4 });
  }
  const image = await runTiled(net, content, { tile: o.tileSize, margin: 64, ...(o.signal && { signal: o.signal }), ...(o.onProgress && { onProgress: o.onProgress }) });
  finishWeights?.();
  for (const m of lora?.finish() ?? []) o.warn(`the LoRA ${m.source} was trained on other weights than ${spec.model}'s (base fingerprint differs): applied anyway`);
  return {
    image: clampImage(image),
    meta: o.weights === 'random' ? { weights: `random (seed ${o.seed}; not the published model)` } : { model: spec.model, file: spec.file, licence: spec.licence, ...(o.weights !== 'installed' && { weights: o.weights }) },
  };
}
