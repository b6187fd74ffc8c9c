import { AtelierError } from '../../core/errors.js';
import type { TensorMap } from '../weights/tensor.js';
import { baseFingerprint, fanIn, type LoraLayer, type WeightedAdapter } from './adapter.js';

/**
 * Folding adapters into base weights: W' = W + Σᵢ wᵢ·(αᵢ/rᵢ)·Bᵢ·Aᵢ. What `atelier lora merge`
 * exports, and what a network with the adapters applied at run time computes in its graph
 * (graph-adapter.ts); the tests hold the two to each other and to numpy.
 */

/** (scale)·B·A as a flat array of W's size, accumulated in float64. */
export function loraDelta(layer: LoraLayer, rank: number, scale: number): Float64Array {
  const rows = layer.shape[0]!;
  const cols = fanIn(layer.shape);
  const out = new Float64Array(rows * cols);
  for (let o = 0; o < rows; o++) {
    const row = out.subarray(o * cols, (o + 1) * cols);
    for (let k = 0; k < rank; k++) {
      const b = layer.b[o * rank + k]! * scale;
      if (b === 0) continue;
      const a = layer.a.subarray(k * cols, (k + 1) * cols);
      for (let j = 0; j < cols; j++) row[j]! += b * a[j]!;
    }
  }
  return out;
}

const sameShape = (p: readonly number[], q: readonly number[]) => p.length === q.length && p.every((d, i) => d === q[i]);

/**
 * Check that every layer of every adapter names a weight of the base with the same shape; a file
 * made for another network is refused with both shapes (E_WEIGHTS_INVALID). Returns the adapters
 * whose recorded base fingerprint differs from this base's (same shapes, other weights: applied,
 * but the caller says so).
 */
export function checkStackFits(stack: readonly WeightedAdapter[], base: { name: string; shapes: ReadonlyMap<string, readonly number[]>; data?: TensorMap }): WeightedAdapter[] {
  const mismatched: WeightedAdapter[] = [];
  for (const w of stack) {
    for (const l of w.adapter.layers) {
      const shape = base.shapes.get(l.name);
      if (!shape) {
        const some = [...base.shapes.keys()].slice(0, 3).join(', ');
        throw new AtelierError('E_WEIGHTS_INVALID', `The LoRA ${w.source} was made for another network: ${base.name} has no weight ${l.name}`, {
          subject: w.source,
          expected: `weights of ${base.name} (${some}, …)`,
          received: `an adapter for ${w.adapter.base} changing ${l.name} [${l.shape.join(', ')}]`,
          hint: `use it with ${w.adapter.base}`,
        });
      }
      if (!sameShape(shape, l.shape)) {
        throw new AtelierError('E_WEIGHTS_INVALID', `The LoRA ${w.source} was made for another base: ${l.name} is [${l.shape.join(', ')}] in it, [${shape.join(', ')}] in ${base.name}`, {
          subject: w.source,
          expected: `${l.name} [${shape.join(', ')}] (the shape in ${base.name})`,
          received: `[${l.shape.join(', ')}] (the shape in ${w.adapter.base}, the adapter's base)`,
          hint: `use it with ${w.adapter.base}`,
        });
      }
    }
    if (base.data && w.adapter.baseSha256) {
      const fp = baseFingerprint(w.adapter.layers.map((l) => base.data!.get(l.name)!));
      if (fp !== w.adapter.baseSha256) mismatched.push(w);
    }
  }
  return mismatched;
}

/** The base weights with a weighted stack of adapters folded in (other tensors shared, not copied). */
export function mergeLora(weights: TensorMap, stack: readonly WeightedAdapter[], baseName: string): TensorMap {
  const shapes = new Map([...weights].map(([k, t]) => [k, t.shape]));
  checkStackFits(stack, { name: baseName, shapes });
  const deltas = new Map<string, Float64Array>();
  for (const { adapter, weight } of stack) {
    if (!Number.isFinite(weight)) throw new AtelierError('E_PARAM', 'A LoRA weight is not a finite number', { received: String(weight) });
    for (const l of adapter.layers) {
      const d = loraDelta(l, adapter.rank, (weight * adapter.alpha) / adapter.rank);
      const prev = deltas.get(l.name);
      if (prev) for (let i = 0; i < d.length; i++) prev[i]! += d[i]!;
      else deltas.set(l.name, d);
    }
  }
  const out: TensorMap = new Map(weights);
  for (const [name, d] of deltas) {
    const w = weights.get(name)!;
    const data = new Float32Array(w.data.length);
    for (let i = 0; i < data.length; i++) data[i] = w.data[i]! + d[i]!;
    out.set(name, { name, shape: w.shape, data });
  }
  return out;
}
