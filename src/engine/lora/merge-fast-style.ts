import { existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { FAST_STYLE_MODEL_NAMES, FAST_STYLE_SOURCES, fastStyleModel, locateInstalled, readFastStyleWeights } from '../nets/fast-style/models.js';
import { FAST_TRAINED_KIND, readTrainedFastNetwork, trainedFastMetadata } from '../nets/fast-style/trained.js';
import type { JohnsonNetSpec } from '../nets/transformer-net.js';
import type { StoreOptions } from '../store.js';
import { checkTrainedModelName, installTrainedModel, listTrainedModels, resolveTrainedModel } from '../store/trained.js';
import { writeSafetensors } from '../weights/safetensors.js';
import type { TensorMap } from '../weights/tensor.js';
import { loadLoraStack, parseLoraSpec } from './adapter.js';
import { checkStackFits, mergeLora } from './merge.js';

/**
 * `atelier lora merge`: a fast-style base (published and installed, or trained here) with a
 * weighted stack of adapters folded in (merge.ts), written as a fast network file of the same
 * format `atelier train fast` stores (nets/fast-style/trained.ts) and stored as a trained model of
 * kind `fast` under `name`, which `neural.fast --model NAME` runs. A name already taken is refused
 * unless `force`.
 */
export async function mergeFastStyleLora(
  options: StoreOptions & { base: string; lora: readonly string[]; name: string; out?: string; force?: boolean; warn?: (m: string) => void },
): Promise<{ file: string; installed: string; layers: number; adapters: string[] }> {
  checkTrainedModelName(options.name);
  if ((FAST_STYLE_MODEL_NAMES as readonly string[]).includes(options.name)) throw new AtelierError('E_OUTPUT_EXISTS', `"${options.name}" is the name of a published model`, { subject: 'name', hint: 'choose another --name' });
  if (!options.force && listTrainedModels(FAST_TRAINED_KIND, options).includes(options.name)) {
    throw new AtelierError('E_OUTPUT_EXISTS', `A fast-style model named "${options.name}" is already stored`, { subject: options.name, hint: 'choose another --name, or pass --force to replace it' });
  }
  let weights: TensorMap;
  let spec: JohnsonNetSpec;
  let iterations = 0;
  if ((FAST_STYLE_MODEL_NAMES as readonly string[]).includes(options.base)) {
    const model = fastStyleModel(options.base);
    weights = await readFastStyleWeights(model, locateInstalled(model));
    spec = model.spec;
  } else {
    ({ weights, spec, iterations } = await readTrainedFastNetwork(resolveTrainedModel(FAST_TRAINED_KIND, options.base, options)));
  }
  const stack = await loadLoraStack(options.lora);
  const shapes = new Map([...weights].map(([k, t]) => [k, t.shape]));
  for (const m of checkStackFits(stack, { name: options.base, shapes, data: weights })) options.warn?.(`the LoRA ${m.source} was trained on ${m.adapter.base}, not on ${options.base}'s weights: merged anyway`);
  const merged = mergeLora(weights, stack, options.base);
  const described = options.lora.map((s) => {
    const { file, weight } = parseLoraSpec(s);
    return `${path.basename(file)}×${weight}`;
  });
  const file = options.out ?? path.join(os.tmpdir(), `atelier-merge-${process.pid}-${options.name}.safetensors`);
  const source = (FAST_STYLE_MODEL_NAMES as readonly string[]).includes(options.base) ? FAST_STYLE_SOURCES[fastStyleModel(options.base).source] : 'trained here';
  await writeSafetensors(file, merged.values(), {
    metadata: trainedFastMetadata(spec, iterations, { base: options.base, base_source: source, lora: described.join(', '), made_by: 'atelier lora merge' }),
  });
  try {
    const installed = installTrainedModel(FAST_TRAINED_KIND, options.name, file, options);
    return { file: options.out ?? installed, installed, layers: new Set(stack.flatMap((s) => s.adapter.layers.map((l) => l.name))).size, adapters: described };
  } finally {
    if (!options.out && existsSync(file)) rmSync(file, { force: true });
  }
}
