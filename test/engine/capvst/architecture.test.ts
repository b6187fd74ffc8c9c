import { describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { CAPVST_CONFIGS, parameterSpecs, revNetLayout } from '../../../src/engine/nets/capvst/architecture.js';
import { capVstWeightsFromTensors, randomCapVstTensors, randomCapVstWeights } from '../../../src/engine/nets/capvst/state-dict.js';
import { chw, convReflect, revNetForwardReference, revNetInverseReference, squeeze, unsqueeze } from '../../../src/engine/nets/capvst/reference.js';
import { Rng } from '../../../src/core/rng.js';

function randomChw(c: number, h: number, w: number, seed: number) {
  const rng = new Rng(seed);
  const x = chw(c, h, w);
  for (let i = 0; i < x.data.length; i++) x.data[i] = rng.next();
  return x;
}

describe('CAP-VSTNet layout (published state dict)', () => {
  it('has the 192 published tensors with their shapes', () => {
    const specs = parameterSpecs(revNetLayout(CAPVST_CONFIGS.photoreal));
    expect(specs).toHaveLength(192);
    const shape = (name: string) => specs.find((s) => s.name === name)?.shape;
    expect(specs[0]!.name).toBe('stack.0.conv.1.weight');
    expect(shape('stack.0.conv.1.weight')).toEqual([4, 16, 3, 3]);
    expect(shape('stack.0.conv.7.weight')).toEqual([16, 4, 3, 3]);
    expect(shape('stack.10.conv.1.weight')).toEqual([16, 16, 3, 3]);
    expect(shape('stack.10.conv.7.weight')).toEqual([64, 16, 3, 3]);
    expect(shape('stack.11.conv.1.weight')).toEqual([16, 64, 3, 3]);
    expect(shape('stack.20.conv.1.weight')).toEqual([64, 64, 3, 3]);
    expect(shape('stack.29.conv.7.bias')).toEqual([256]);
    expect(shape('channel_reduction.block_list.1.conv.4.weight')).toEqual([64, 64, 3, 3]);
    expect(specs[specs.length - 1]!.name).toBe('channel_reduction.block_list.1.conv.7.bias');
    // The artistic checkpoint has exactly the same tensors.
    expect(parameterSpecs(revNetLayout(CAPVST_CONFIGS.artistic))).toEqual(specs);
  });

  it('gives the feature shapes of both modes', () => {
    const photo = revNetLayout(CAPVST_CONFIGS.photoreal);
    expect([photo.inputPad, photo.refinePad, photo.featureChannels, photo.featureStride, photo.sizeMultiple]).toEqual([29, 0, 32, 1, 4]);
    const art = revNetLayout(CAPVST_CONFIGS.artistic);
    expect([art.featureChannels, art.featureStride]).toEqual([128, 2]);
  });
});

describe('reference network', () => {
  it('squeezes in SpaceToDepth order and unsqueezes back', () => {
    const x = chw(2, 2, 2, Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
    const s = squeeze(x);
    // channel (dy·2+dx)·C + c holds x[c, dy, dx]
    expect([...s.data]).toEqual([1, 5, 2, 6, 3, 7, 4, 8]);
    const y = randomChw(8, 4, 6, 3);
    expect([...squeeze(unsqueeze(y)).data]).toEqual([...y.data]);
  });

  it('convolves with reflection padding and stride', () => {
    // One channel 3×3 input, kernel picks the left neighbour: reflection makes column −1 column 1.
    const x = chw(1, 3, 3, Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const w = new Float32Array(9);
    w[3] = 1; // ky = 1, kx = 0
    const y = convReflect(x, w, Float32Array.from([0.5]), 1, 3, 1);
    expect([...y.data]).toEqual([2.5, 1.5, 2.5, 5.5, 4.5, 5.5, 8.5, 7.5, 8.5]);
    const y2 = convReflect(randomChw(1, 4, 6, 1), w, new Float32Array(1), 1, 3, 2);
    expect([y2.h, y2.w]).toEqual([2, 3]);
  });

  for (const mode of ['photoreal', 'artistic'] as const) {
    it(`inverts its forward pass to 1e-4 with random weights (${mode})`, () => {
      const weights = randomCapVstWeights(mode, 7, 1);
      const x = randomChw(3, 16, 12, 11);
      const z = revNetForwardReference(weights, x);
      const layout = weights.layout;
      expect([z.c, z.h, z.w]).toEqual([layout.featureChannels, 16 / layout.featureStride, 12 / layout.featureStride]);
      const back = revNetInverseReference(weights, z);
      let err = 0;
      for (let i = 0; i < x.data.length; i++) err = Math.max(err, Math.abs(back.data[i]! - x.data[i]!));
      expect(err).toBeLessThan(1e-4);
      // The map is not trivial: features differ from a plain rearrangement of the input.
      expect(z.data.some((v) => Math.abs(v) > 1e-3)).toBe(true);
    });
  }
});

describe('checkpoint mapping', () => {
  it('accepts the published keys with a state_dict prefix and ignores optimizer state', () => {
    const tensors = randomCapVstTensors('photoreal', 1);
    const prefixed = new Map([...tensors.values()].map((t) => [`state_dict.${t.name}`, { ...t, name: `state_dict.${t.name}` }]));
    prefixed.set('optimizer.state.0.exp_avg', { name: 'optimizer.state.0.exp_avg', shape: [1], data: new Float32Array(1) });
    const w = capVstWeightsFromTensors(prefixed, 'photoreal', 'test');
    expect(w.tensors.size).toBe(192);
  });

  it('names a missing tensor', () => {
    const tensors = randomCapVstTensors('photoreal', 1);
    tensors.delete('stack.17.conv.4.bias');
    const err = (() => {
      try {
        capVstWeightsFromTensors(tensors, 'photoreal', 'test');
      } catch (e) {
        return e as AtelierError;
      }
    })();
    expect(err?.code).toBe('E_WEIGHTS_INVALID');
    expect(err?.message).toContain('stack.17.conv.4.bias');
  });

  it('names a mis-shaped tensor', () => {
    const tensors = randomCapVstTensors('artistic', 1);
    const t = tensors.get('stack.20.conv.1.weight')!;
    tensors.set(t.name, { ...t, shape: [64, 16, 3, 3], data: new Float32Array(64 * 16 * 9) });
    expect(() => capVstWeightsFromTensors(tensors, 'artistic', 'test')).toThrow(/stack\.20\.conv\.1\.weight/);
  });
});
