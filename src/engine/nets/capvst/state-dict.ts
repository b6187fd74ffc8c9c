import { AtelierError } from '../../../core/errors.js';
import { Rng } from '../../../core/rng.js';
import type { TensorMap, WeightTensor } from '../../weights/tensor.js';
import { CAPVST_CONFIGS, parameterSpecs, revNetLayout, type CapVstMode, type RevNetLayout } from './architecture.js';

/**
 * CAP-VSTNet weights keyed by the published state-dict names (see architecture.ts). The
 * published photorealistic and artistic checkpoints have identical tensor shapes (the refinement
 * blocks have 256 channels in both); only the number of spread steps differs, so the mode
 * cannot be read from a checkpoint and must be given.
 */
export interface CapVstWeights {
  layout: RevNetLayout;
  /** One entry per parameter, in state-dict order. */
  tensors: Map<string, Float32Array>;
  /** 'random' for seeded random weights, else where they came from. */
  source: string;
}

/** Prefixes a reader may leave on the names: the checkpoint dict key, DataParallel's wrapper. */
const STRIPPED_PREFIXES = ['state_dict.', 'module.'];

function canonicalName(name: string): string {
  let n = name;
  for (let changed = true; changed; ) {
    changed = false;
    for (const p of STRIPPED_PREFIXES) {
      if (n.startsWith(p)) {
        n = n.slice(p.length);
        changed = true;
      }
    }
  }
  return n;
}

/**
 * Map a tensor map read from a checkpoint onto the network: every published tensor must be
 * present with its exact shape (errors name the tensor). Tensors outside the state dict (an
 * `optimizer.…` entry of a training checkpoint) are ignored; unknown network tensors are errors.
 */
export function capVstWeightsFromTensors(tensors: TensorMap, mode: CapVstMode, source: string): CapVstWeights {
  return weightsForLayout(tensors, revNetLayout(CAPVST_CONFIGS[mode]), source);
}

/** As `capVstWeightsFromTensors`, for any layout (smaller test networks, training resumption). */
export function weightsForLayout(tensors: TensorMap, layout: RevNetLayout, source: string): CapVstWeights {
  const byName = new Map<string, WeightTensor>();
  for (const t of tensors.values()) {
    if (t.name.startsWith('optimizer.')) continue;
    byName.set(canonicalName(t.name), t);
  }
  const specs = parameterSpecs(layout);
  const out = new Map<string, Float32Array>();
  for (const spec of specs) {
    const t = byName.get(spec.name);
    if (!t) {
      throw new AtelierError('E_WEIGHTS_INVALID', `The CAP-VSTNet checkpoint has no tensor ${spec.name}`, {
        expected: `${spec.name} of shape [${spec.shape.join(', ')}] (a state_dict of RevResNet as published)`,
        received: `${byName.size} network tensors from ${source}`,
        hint: 'use photo_image.pt, photo_video.pt, art_image.pt or art_video.pt, or a checkpoint from atelier train capvst',
      });
    }
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
      throw new AtelierError('E_WEIGHTS_INVALID', `The CAP-VSTNet tensor ${spec.name} has the wrong shape`, {
        expected: `[${spec.shape.join(', ')}]`,
        received: `[${t.shape.join(', ')}] in ${source}`,
      });
    }
    out.set(spec.name, t.data);
    byName.delete(spec.name);
  }
  const extra = [...byName.keys()];
  if (extra.length > 0) {
    throw new AtelierError('E_WEIGHTS_INVALID', `The CAP-VSTNet checkpoint has a tensor the network does not know: ${extra[0]}`, {
      expected: `the ${specs.length} tensors of RevResNet's state_dict`,
      received: `${extra.length} unknown: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', …' : ''}`,
    });
  }
  return { layout, tensors: out, source };
}

/**
 * Seeded random weights in the published layout, initialised as PyTorch initialises a fresh
 * RevResNet: convolution weights uniform in ±1/√fan_in (kaiming_uniform with a = √5), biases
 * zero (the blocks' `init_layers`). `biasScale` > 0 draws biases too, so tests exercise them.
 */
export function randomCapVstTensors(mode: CapVstMode | RevNetLayout, seed: number, biasScale = 0): TensorMap {
  const layout = typeof mode === 'string' ? revNetLayout(CAPVST_CONFIGS[mode]) : mode;
  const rng = new Rng(seed);
  const map: TensorMap = new Map();
  for (const spec of parameterSpecs(layout)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const bound = spec.name.endsWith('.weight') ? 1 / Math.sqrt(spec.fanIn) : biasScale / Math.sqrt(spec.fanIn);
    if (bound > 0) for (let i = 0; i < size; i++) data[i] = rng.uniform(-bound, bound);
    map.set(spec.name, { name: spec.name, shape: spec.shape, data });
  }
  return map;
}

export function randomCapVstWeights(mode: CapVstMode | RevNetLayout, seed: number, biasScale = 0): CapVstWeights {
  const layout = typeof mode === 'string' ? revNetLayout(CAPVST_CONFIGS[mode]) : mode;
  return weightsForLayout(randomCapVstTensors(layout, seed, biasScale), layout, 'random');
}
