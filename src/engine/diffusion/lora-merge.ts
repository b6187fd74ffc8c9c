import { AtelierError } from '../../core/errors.js';
import { loraDelta } from '../lora/merge.js';
import type { ClipTextWeights } from '../nets/clip/checkpoint.js';
import type { DiffusionLoraLayer, WeightedDiffusionLora } from './lora-file.js';
import { textLoraTargets, unetLoraTargets, type LoraTarget } from './lora-modules.js';
import type { UnetWeights } from './unet.js';

/**
 * Stacking diffusion LoRA files onto Stable Diffusion's UNet and text encoder before the networks
 * are built: W' = W + Σᵢ wᵢ · (αᵢ / rᵢ) · upᵢ · downᵢ for every weight a layer names (summed in
 * float64, once). The base's arrays are never written: the result shares every unchanged array
 * with it and holds new ones for the changed weights, so the base can be reused with another stack.
 *
 * Every layer of every file must name a weight of these networks (else the keys are listed: a LoRA
 * for SDXL or SD 2.x, or for a part Atelier does not have) with the shape its pair multiplies to
 * (else both shapes are named: a LoRA made for another base).
 */

export interface LoraBase {
  unet: UnetWeights;
  text: ClipTextWeights;
}

/** A structural copy that shares every typed array (cheap: the arrays hold all the bytes). */
function shareArrays<T>(value: T): T {
  if (ArrayBuffer.isView(value) || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v: unknown) => shareArrays(v)) as T;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shareArrays(v)])) as T;
}

/** The shape a pair multiplies to, with a 1×1 kernel dropped (a linear pair fits a 1×1 conv and back). */
function squeezed(shape: readonly number[]): number[] {
  return shape.length === 4 && shape[2] === 1 && shape[3] === 1 ? shape.slice(0, 2) : [...shape];
}

const same = (p: readonly number[], q: readonly number[]) => p.length === q.length && p.every((d, i) => d === q[i]);

function describeLayer(l: DiffusionLoraLayer): string {
  return `up [${l.upShape.join(', ')}] · down [${l.downShape.join(', ')}]`;
}

/** Index targets by dotted path and by kohya's underscored spelling. */
function index(targets: LoraTarget[]): { dotted: Map<string, LoraTarget>; underscored: Map<string, LoraTarget> } {
  return {
    dotted: new Map(targets.map((t) => [t.path, t])),
    underscored: new Map(targets.map((t) => [t.path.replace(/\./g, '_'), t])),
  };
}

export function mergeDiffusionLoras<T extends LoraBase>(base: T, stack: readonly WeightedDiffusionLora[], baseName = 'this Stable Diffusion model'): T {
  if (stack.length === 0) return base;
  const merged = { ...base, unet: shareArrays(base.unet), text: shareArrays(base.text) };
  const maps = { unet: index(unetLoraTargets(merged.unet)), text: index(textLoraTargets(merged.text)) };
  const deltas = new Map<LoraTarget, Float64Array>();
  for (const { lora, weight } of stack) {
    if (!Number.isFinite(weight)) throw new AtelierError('E_PARAM', `The weight of LoRA ${lora.source} is not a finite number`, { subject: 'lora', received: String(weight) });
    const unmatched: string[] = [];
    for (const l of lora.layers) {
      const map = maps[l.component];
      const target = (l.underscored ? map.underscored : map.dotted).get(l.module);
      if (!target) {
        unmatched.push(l.key);
        continue;
      }
      const implied = [l.upShape[0]!, ...l.downShape.slice(1)];
      if (!same(squeezed(implied), squeezed(target.shape))) {
        throw new AtelierError('E_WEIGHTS_INVALID', `The LoRA ${lora.source} was made for another base: ${l.key} changes a [${implied.join(', ')}] weight, ${target.path} is [${target.shape.join(', ')}] in ${baseName}`, {
          subject: lora.source,
          expected: `${target.path} [${target.shape.join(', ')}] (the shape in ${baseName})`,
          received: `[${implied.join(', ')}] (${describeLayer(l)})`,
          hint: 'use a LoRA made for Stable Diffusion 1.x (a LoRA for SD 2.x has 1024-wide cross-attention keys, one for SDXL other blocks)',
        });
      }
      const d = loraDelta({ name: target.path, shape: target.shape, a: l.down, b: l.up }, l.rank, (weight * l.alpha) / l.rank);
      const prev = deltas.get(target);
      if (prev) for (let i = 0; i < d.length; i++) prev[i]! += d[i]!;
      else deltas.set(target, d);
    }
    if (unmatched.length > 0) {
      throw new AtelierError('E_WEIGHTS_INVALID', `The LoRA ${lora.source} names ${unmatched.length} layer${unmatched.length === 1 ? '' : 's'} ${baseName} does not have`, {
        subject: lora.source,
        expected: 'UNet modules by their diffusers paths (down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q, …) and text-encoder modules by transformers\' (text_model.encoder.layers.0.self_attn.q_proj, …)',
        received: unmatched.slice(0, 6).join(', ') + (unmatched.length > 6 ? `, … (${unmatched.length} in all)` : ''),
        hint: 'the LoRA was made for another model (SDXL, SD 2.x, or a UNet of other depth); use one made for Stable Diffusion 1.x',
      });
    }
  }
  for (const [target, d] of deltas) {
    const w = target.holder.weight;
    const out = new Float32Array(w.length);
    for (let i = 0; i < out.length; i++) out[i] = w[i]! + d[i]!;
    target.holder.weight = out;
  }
  return merged;
}
