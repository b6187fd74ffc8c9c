import { existsSync } from 'node:fs';
import { AtelierError } from '../../../core/errors.js';
import { knownModelNames, requireModel } from '../../store.js';
import { resolveTrainedModel } from '../../store/trained.js';
import { readWeights } from '../../weights/read.js';
import type { CapVstMode } from './architecture.js';
import { capVstWeightsFromTensors, randomCapVstWeights, type CapVstWeights } from './state-dict.js';

/** The published checkpoints, by their model-store names. */
export const CAPVST_MODELS = {
  photoreal: { image: 'capvstnet_photo_image', video: 'capvstnet_photo_video' },
  artistic: { image: 'capvstnet_art_image', video: 'capvstnet_art_video' },
} as const satisfies Record<CapVstMode, Record<'image' | 'video', string>>;

export type CapVstVariant = 'image' | 'video';

const MODEL_NAMES: ReadonlySet<string> = new Set(Object.values(CAPVST_MODELS).flatMap((m) => Object.values(m)));

/** The kind of model `atelier train capvst` makes (a server job stores it as such). */
export const CAPVST_TRAINED_KIND = 'capvst';

/**
 * Where the weights come from: 'installed' (the model store's copy of the published checkpoint
 * for the mode and variant), 'random' (seeded, for trying the pipeline), the model-store name of
 * one published checkpoint or of one trained here (how the HTTP API chooses weights: it never
 * takes a path), or, from
 * the library and CLI only, a path to a checkpoint file (.pt/.pth as published or written by
 * `atelier train capvst`, or safetensors).
 */
export async function loadCapVstWeights(source: string, mode: CapVstMode, variant: CapVstVariant, seed: number): Promise<CapVstWeights> {
  if (source === 'random') return randomCapVstWeights(mode, seed);
  if (source === 'installed') return loadInstalled(CAPVST_MODELS[mode][variant], mode);
  // A published checkpoint, or one trained here and installed under its own name.
  if (MODEL_NAMES.has(source)) return loadInstalled(source, mode);
  // One trained here (by `atelier train capvst --name` or a server job): a capvst model of the store.
  if (!existsSync(source) && knownModelNames().includes(source)) {
    const file = resolveTrainedModel(CAPVST_TRAINED_KIND, source);
    return capVstWeightsFromTensors(await readWeights(file), mode, file);
  }
  if (!existsSync(source)) {
    throw new AtelierError('E_FILE_NOT_FOUND', `No CAP-VSTNet checkpoint at ${source}`, {
      expected: `'installed', 'random', a model name (${[...MODEL_NAMES].join(', ')}) or the path of a checkpoint file`,
      subject: source,
    });
  }
  return capVstWeightsFromTensors(await readWeights(source), mode, source);
}

/** The model store's copy of a published checkpoint (E_WEIGHTS_MISSING until it is installed). */
async function loadInstalled(model: string, mode: CapVstMode): Promise<CapVstWeights> {
  let file: string;
  try {
    file = requireModel(model);
  } catch (e) {
    if (e instanceof AtelierError && e.code === 'E_WEIGHTS_MISSING') {
      throw new AtelierError('E_WEIGHTS_MISSING', `The CAP-VSTNet checkpoint ${model} is not installed`, {
        subject: model,
        cause: e,
        hint: `${e.hint ?? `run \`atelier models pull ${model}\``}; or give a checkpoint with --weights FILE, or pass --weights random to try the method with seeded random weights`,
      });
    }
    throw e;
  }
  return capVstWeightsFromTensors(await readWeights(file), mode, file);
}
