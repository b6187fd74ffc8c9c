import { existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { FAST_STYLE_MODEL_NAMES, FAST_STYLE_SOURCES, fastStyleModel, locateInstalled, readFastStyleWeights } from '../nets/fast-style/models.js';
import { FAST_TRAINED_KIND, readTrainedFastNetwork, trainedFastMetadata } from '../nets/fast-style/trained.js';
import type { JohnsonNetSpec } from '../nets/transformer-net.js';
import { checkTrainedName, knownModelNames, type StoreOptions } from '../store.js';
import { installTrainedModel, resolveTrainedModel } from '../store/trained.js';
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
  checkTrainedName(options.name);
  if ((FAST_STYLE_MODEL_NAMES as readonly string[]).includes(options.name)) throw new AtelierError('E_OUTPUT_EXISTS', `"${options.name}" is the name of a published model`, { subject: 'name', hint: 'choose another --name' });
  // Refused before the work; the store refuses again (and replaces only a model made here) at the end.
  if (!options.force && knownModelNames(options).includes(options.name)) {
    throw new AtelierError('E_OUTPUT_EXISTS', `A model named "${options.name}" is already stored`, { subject: options.name, hint: 'choose another --name, or pass --force to replace it' });
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
    const status = await installTrainedModel(
      FAST_TRAINED_KIND,
      options.name,
      file,
      {
        description: `fast network: ${options.base} with LoRA ${described.join(', ')} merged`,
        trainer: 'lora-merge',
        iterations,
        use: { method: 'neural.fast', param: 'model' },
        params: { base: options.base, lora: [...options.lora] },
        ...(options.force && { force: true }),
      },
      options,
    );
    const installed = status.files.find((f) => f.path === path.basename(file))!.absolute;
    return { file: options.out ?? installed, installed, layers: new Set(stack.flatMap((s) => s.adapter.layers.map((l) => l.name))).size, adapters: described };
  } finally {
    if (!options.out && existsSync(file)) rmSync(file, { force: true });
  }
}
