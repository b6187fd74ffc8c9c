import { existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { MICROAST_MODEL } from '../nets/microast.js';
import { joinMicroAstWeights, loadMicroAstWeights, MICROAST_TRAINED_KIND } from '../nets/microast-weights.js';
import { checkTrainedName, knownModelNames, type StoreOptions } from '../store.js';
import { installTrainedModel } from '../store/trained.js';
import { writeSafetensors } from '../weights/safetensors.js';
import type { TensorMap } from '../weights/tensor.js';
import { loadLoraStack, parseLoraSpec } from './adapter.js';
import { checkStackFits, mergeLora } from './merge.js';

/**
 * `atelier lora merge --base microast`: adapters folded into an imported network's weights
 * (merge.ts: W + Σ wᵢ·(αᵢ/rᵢ)·Bᵢ·Aᵢ) and stored as a new model made here, which the network's own
 * method runs by name. MicroAST's four parts become one safetensors file of kind `microast` with
 * the engine's names (`<part>.<state-dict key>`), for `neural.microast --weights NAME`.
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
  const file = options.out ?? path.join(os.tmpdir(), `atelier-merge-${process.pid}-${options.name}.safetensors`);
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
    if (!options.out && existsSync(file)) rmSync(file, { force: true });
  }
}
