import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { resolveTrainedModel } from '../store/trained.js';
import { readSafetensors } from '../weights/safetensors.js';
import type { TensorMap, WeightTensor } from '../weights/tensor.js';
import { MICROAST_FILES, MICROAST_MODEL, microAstShapes, type MicroAstPart, type MicroAstWeights } from './microast.js';
import { readModelFile, readStateDict } from './model-files.js';
import { randomWeights } from './wct-autoencoders.js';

/**
 * Where MicroAST's four parts come from: the model store's published files ('installed'), seeded
 * random weights ('random'), a folder holding the four published files, or a MicroAST made here
 * (`atelier lora merge --base microast`: one safetensors file, kind `microast`, whose keys are
 * `<part>.<state-dict key>`, e.g. `decoder.dec1.conv1.conv_layer.weight`, the engine's names).
 */

export const MICROAST_TRAINED_KIND = 'microast';
export const MICROAST_PARTS = Object.keys(MICROAST_FILES) as MicroAstPart[];

export async function loadMicroAstWeights(source: string, seed: number): Promise<MicroAstWeights> {
  if (source !== 'installed' && source !== 'random' && !(existsSync(source) && statSync(source).isDirectory())) {
    if (!source.endsWith('.safetensors') && !/^[a-z0-9][a-z0-9_-]*$/.test(source)) {
      throw new AtelierError('E_FILE_NOT_FOUND', `No folder of MicroAST weights at ${source}`, {
        expected: "'installed', 'random', a folder holding the four .pth.tar files, or a MicroAST made by `atelier lora merge`",
        subject: source,
      });
    }
    return splitMicroAstWeights(await readSafetensors(resolveTrainedModel(MICROAST_TRAINED_KIND, source)), source);
  }
  const read = async (part: MicroAstPart, i: number) => {
    if (source === 'random') return randomWeights(microAstShapes(part), seed + i);
    if (source === 'installed') return readModelFile(MICROAST_MODEL, MICROAST_FILES[part]);
    return readStateDict(path.join(source, MICROAST_FILES[part]));
  };
  const maps = await Promise.all(MICROAST_PARTS.map(read));
  return Object.fromEntries(MICROAST_PARTS.map((p, i) => [p, maps[i]!])) as MicroAstWeights;
}

/** The four parts as one map with the engine's names (`<part>.<key>`), as a merged MicroAST is stored. */
export function joinMicroAstWeights(weights: MicroAstWeights): TensorMap {
  const out: TensorMap = new Map();
  for (const part of MICROAST_PARTS) for (const [k, t] of weights[part]) out.set(`${part}.${k}`, { ...t, name: `${part}.${k}` });
  return out;
}

/** The inverse of `joinMicroAstWeights`; a key of no part is refused. */
export function splitMicroAstWeights(joined: TensorMap, source: string): MicroAstWeights {
  const parts = Object.fromEntries(MICROAST_PARTS.map((p) => [p, new Map<string, WeightTensor>()])) as MicroAstWeights;
  for (const [k, t] of joined) {
    const part = MICROAST_PARTS.find((p) => k.startsWith(`${p}.`));
    if (!part) {
      throw new AtelierError('E_WEIGHTS_INVALID', `${source} holds ${k}, which is no MicroAST part's weight`, {
        subject: source,
        expected: `keys <part>.<name> with part one of ${MICROAST_PARTS.join(', ')}`,
      });
    }
    const name = k.slice(part.length + 1);
    parts[part].set(name, { ...t, name });
  }
  return parts;
}
