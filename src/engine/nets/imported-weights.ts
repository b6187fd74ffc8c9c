import { AtelierError } from '../../core/errors.js';
import type { ParamHook } from '../graph/graph.js';
import { importTflite } from '../import/tflite-import.js';
import type { TfliteModel } from '../weights/tflite.js';
import type { TensorMap } from '../weights/tensor.js';

/**
 * The weights of an imported network as the engine sees them, and a network run with other values
 * for them. The TFLite importer declares every filter and bias as a named param in the engine's
 * layout (conv filters OIHW, int8 and fp16 values dequantised to float32), under the file's tensor
 * names; adapters (engine/lora) and merged models (`atelier lora merge`) address them by those names.
 */

/** Every weight a TFLite network declares, from an import at a small size (the values do not depend on it). */
export function tfliteWeights(model: TfliteModel, inputShapes: Record<string, number[]>): TensorMap {
  const probe = importTflite(model, { inputShapes });
  return new Map(probe.graph.params.map((p) => [p.name, { name: p.name, shape: [...(p.shape as number[])], data: probe.graph.data.get(p.id) as Float32Array }]));
}

/**
 * A hook that gives each declared weight its value from `weights` (a merged model's file) before
 * `then` (adapters at run time) sees it. A weight of another shape is refused, naming both; `finish`
 * after the build refuses a file holding weights the network never declared.
 */
export function substituteWeights(weights: TensorMap, source: string, then?: ParamHook): { hook: ParamHook; finish(): void } {
  const seen = new Set<string>();
  const hook: ParamHook = (g, name, shape, data) => {
    const stored = weights.get(name);
    let value = data;
    if (stored) {
      if (stored.shape.length !== shape.length || stored.shape.some((d, i) => d !== shape[i])) {
        throw new AtelierError('E_WEIGHTS_INVALID', `${source} was made for another network: ${name} is [${stored.shape.join(', ')}] in it, [${shape.join(', ')}] in this one`, { subject: source });
      }
      seen.add(name);
      value = stored.data;
    }
    return then?.(g, name, shape, value) ?? (stored ? g.param(name, shape, value) : undefined);
  };
  return {
    hook,
    finish() {
      const extra = [...weights.keys()].filter((k) => !seen.has(k));
      if (extra.length > 0) {
        throw new AtelierError('E_WEIGHTS_INVALID', `${source} holds weights this network does not have (${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''})`, {
          subject: source,
          hint: 'it was merged for another network: `atelier models info NAME` says which',
        });
      }
    },
  };
}
