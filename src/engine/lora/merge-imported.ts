import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { ANIME_HAYAO, ANIME_MERGED_KIND } from '../nets/gan-stylizer-models.js';
import { tfliteWeights } from '../nets/imported-weights.js';
import { ARBITRARY, ARBITRARY_MERGED_KIND } from '../nets/magenta-arbitrary.js';
import { MICROAST_MODEL } from '../nets/microast.js';
import { joinMicroAstWeights, loadMicroAstWeights, MICROAST_TRAINED_KIND } from '../nets/microast-weights.js';
import { checkTrainedName, knownModelNames, modelFiles, type StoreOptions } from '../store.js';
import { installTrainedModel } from '../store/trained.js';
import { writeSafetensors } from '../weights/safetensors.js';
import { readTflite } from '../weights/tflite.js';
import type { TensorMap } from '../weights/tensor.js';
import { loadLoraStack, parseLoraSpec } from './adapter.js';
import { checkStackFits, mergeLora } from './merge.js';

/**
 * `atelier lora merge --base microast | animeganv2-hayao | magenta-arbitrary`: adapters folded into
 * an imported network's weights (merge.ts: W + Σ wᵢ·(αᵢ/rᵢ)·Bᵢ·Aᵢ) and stored as a new model made
 * here, which the network's own method runs by name (`--weights NAME`). MicroAST's four parts
 * become one safetensors file of kind `microast` with the engine's names (`<part>.<state-dict
 * key>`). For the TFLite networks the file holds every weight the importer declares, by tensor
 * name, as float32 (kinds `anime`, `arbitrary`); the operators still come from the installed
 * published file, whose weights it replaces.
 */

interface MergeBase {
  /** The kind of the stored result and the method (and its param) that runs it. */
  kind: string;
  use: { method: string; param: string };
  load(): Promise<TensorMap>;
  metadata: Record<string, string>;
}

const BASES: Record<string, MergeBase> = {
  [MICROAST_MODEL]: {
    kind: MICROAST_TRAINED_KIND,
    use: { method: 'neural.microast', param: 'weights' },
    load: async () => joinMicroAstWeights(await loadMicroAstWeights('installed', 0)),
    metadata: { network: 'microast', layout: '<part>.<state-dict key>' },
  },
  [ANIME_HAYAO.model]: {
    kind: ANIME_MERGED_KIND,
    use: { method: 'neural.anime', param: 'weights' },
    load: async () => tfliteWeights(await readTflite(modelFiles(ANIME_HAYAO.model).file(ANIME_HAYAO.file)), { [ANIME_HAYAO.input]: [1, 64, 64, 3] }),
    metadata: { network: 'tflite', file: ANIME_HAYAO.file, layout: 'every weight of the generator by its TFLite tensor name, float32, conv filters OIHW' },
  },
  [ARBITRARY.model]: {
    kind: ARBITRARY_MERGED_KIND,
    use: { method: 'neural.arbitrary', param: 'weights' },
    load: async () => {
      const { file, variant } = ARBITRARY.transfer.fp16;
      return tfliteWeights(await readTflite(modelFiles(ARBITRARY.model, { variant }).file(file)), { [ARBITRARY.contentInput]: [1, 64, 64, 3], [ARBITRARY.vectorInput]: [1, 1, 1, ARBITRARY.dims] });
    },
    metadata: { network: 'tflite', file: ARBITRARY.transfer.fp16.file, layout: 'every weight of the fp16 transfer network by its TFLite tensor name, float32, conv filters OIHW' },
  },
};

export const MERGEABLE_IMPORTED_BASES = Object.keys(BASES);

export function isMergeableImportedBase(base: string): boolean {
  return base in BASES;
}

export async function mergeImportedLora(
  options: StoreOptions & { base: string; lora: readonly string[]; name: string; out?: string; force?: boolean; warn?: (m: string) => void },
): Promise<{ file: string; installed: string; layers: number; adapters: string[]; use: { method: string; param: string } }> {
  const base = BASES[options.base];
  if (!base) throw new AtelierError('E_INTERNAL', `No merge for ${options.base}`);
  checkTrainedName(options.name);
  if (!options.force && knownModelNames(options).includes(options.name)) {
    throw new AtelierError('E_OUTPUT_EXISTS', `A model named "${options.name}" is already stored`, { subject: options.name, hint: 'choose another --name, or pass --force to replace it' });
  }
  const weights = await base.load();
  const stack = await loadLoraStack(options.lora);
  const shapes = new Map([...weights].map(([k, t]) => [k, t.shape]));
  for (const m of checkStackFits(stack, { name: options.base, shapes, data: weights })) options.warn?.(`the LoRA ${m.source} was trained on ${m.adapter.base}, not on ${options.base}'s weights: merged anyway`);
  const merged = mergeLora(weights, stack, options.base);
  const described = options.lora.map((s) => {
    const { file, weight } = parseLoraSpec(s);
    return `${path.basename(file)}×${weight}`;
  });
  // The stored file takes this file's name: the model's own name, not a temporary one.
  const scratch = options.out ? undefined : mkdtempSync(path.join(os.tmpdir(), 'atelier-merge-'));
  const file = options.out ?? path.join(scratch!, `${options.name}.safetensors`);
  await writeSafetensors(file, merged.values(), { metadata: { ...base.metadata, base: options.base, lora: described.join(', '), made_by: 'atelier lora merge' } });
  try {
    const status = await installTrainedModel(
      base.kind,
      options.name,
      file,
      {
        description: `${options.base} with LoRA ${described.join(', ')} merged`,
        trainer: 'lora-merge',
        iterations: 0,
        use: base.use,
        params: { base: options.base, lora: [...options.lora] },
        ...(options.force && { force: true }),
      },
      options,
    );
    const installed = status.files.find((f) => f.path === path.basename(file))!.absolute;
    return { file: options.out ?? installed, installed, layers: new Set(stack.flatMap((s) => s.adapter.layers.map((l) => l.name))).size, adapters: described, use: base.use };
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}
