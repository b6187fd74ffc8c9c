import { describe, expect, it } from 'vitest';
import { Graph } from '../../../src/engine/graph/graph.js';
import { cycleGanGenerator, cycleGanGeneratorSpecs, type CycleGanGeneratorConfig } from '../../../src/engine/nets/cyclegan.js';
import { starGanGenerator, starGanGeneratorSpecs, type StarGanGeneratorConfig } from '../../../src/engine/nets/stargan.js';
import { cycleGanNetwork } from '../../../src/engine/nets/trained-generator.js';
import { ParameterSet } from '../../../src/engine/optim/parameter-set.js';
import { compile } from '../../../src/engine/runtime.js';
import { writeSafetensors } from '../../../src/engine/weights/safetensors.js';
import { Rng } from '../../../src/core/rng.js';
import { tempDir } from '../../helpers/fixtures.js';

/**
 * The GAN generators' global skip (`skip`, not in the published networks) and the reason for it:
 * the published CycleGAN generator normalises its first conv's output per instance, so it cannot
 * see a per-channel colour offset or the contrast of its input — G(a·x + c) = G(x) — while with
 * the skip the offset comes through unchanged: G(x + c) = G(x) + c.
 */
const S = 32;
const n = 3 * S * S;
const rng = new Rng(3);
const x = Float32Array.from({ length: n }, () => rng.uniform(-0.6, 0.6));
const shifted = (a: number, c: [number, number, number]) => x.map((v, i) => a * v + c[Math.floor(i / (S * S))]!);
const maxDiff = (p: Float32Array, q: Float32Array) => p.reduce((m, v, i) => Math.max(m, Math.abs(v - q[i]!)), 0);

async function cycleGan(config: CycleGanGeneratorConfig, params: ParameterSet) {
  const g = new Graph();
  g.output('y', cycleGanGenerator(g, g.input('x', [1, 3, S, S]), params.graphParams(g), config));
  const runner = await compile(g, { threads: 1, cache: false });
  return async (data: Float32Array) => (await runner.run({ x: { data, shape: [1, 3, S, S] } })).y!.data as Float32Array;
}

describe('CycleGAN generator', () => {
  const config = { width: 4, blocks: 1 };
  const params = ParameterSet.initialised(cycleGanGeneratorSpecs(config), 7);

  it('as published, is blind to a per-channel colour offset and to the contrast of its input', async () => {
    const G = await cycleGan(config, params);
    const y = await G(x);
    expect(maxDiff(await G(shifted(1, [0.3, -0.2, 0.1])), y)).toBeLessThan(1e-4);
    expect(maxDiff(await G(shifted(0.5, [0, 0, 0])), y)).toBeLessThan(1e-3);
    // (and not blind to everything: another image gives another output)
    expect(maxDiff(await G(x.map((v) => -v)), y)).toBeGreaterThan(1e-2);
  });

  it('with the skip, adds its input: an offset of the input is an offset of the output', async () => {
    const plain = await cycleGan(config, params);
    const G = await cycleGan({ ...config, skip: true }, params);
    const y = await G(x);
    expect(maxDiff(y, (await plain(x)).map((v, i) => v + x[i]!))).toBeLessThan(1e-5);
    const c: [number, number, number] = [0.3, -0.2, 0.1];
    expect(maxDiff(await G(shifted(1, c)), y.map((v, i) => v + c[Math.floor(i / (S * S))]!))).toBeLessThan(1e-4);
  });

  it('neural.cyclegan reads the skip from the exported file', async () => {
    const dir = tempDir('atelier-gan-skip-');
    try {
      const prefixed = ParameterSet.initialised(cycleGanGeneratorSpecs(config, 'G_A.'), 7);
      const outputs: Float32Array[] = [];
      for (const skip of [false, true]) {
        const file = dir.file(`g-${skip}.safetensors`);
        await writeSafetensors(file, prefixed.tensors(), { metadata: { architecture: 'cyclegan-resnet-generator', width: '4', blocks: '1', skip: String(skip) } });
        const { net } = await cycleGanNetwork(file, 'a2b', { seed: 1, threads: 1 });
        outputs.push(await net.run(x.map((v) => (v + 1) / 2), S, S));
      }
      // In [0, 1]: (x + t + 1)/2 = (t + 1)/2 + x/2, with x in [−1, 1].
      expect(maxDiff(outputs[1]!, outputs[0]!.map((v, i) => v + x[i]! / 2))).toBeLessThan(1e-5);
    } finally {
      dir.cleanup();
    }
  });
});

describe('StarGAN generator', () => {
  it('with the skip, is the published generator plus its input', async () => {
    const config: StarGanGeneratorConfig = { width: 4, blocks: 1, domains: 2 };
    const params = ParameterSet.initialised(starGanGeneratorSpecs(config), 5);
    const run = async (c: StarGanGeneratorConfig) => {
      const g = new Graph();
      g.output('y', starGanGenerator(g, g.input('x', [1, 3, S, S]), g.input('c', [1, 2]), params.graphParams(g, 'G.'), c));
      const runner = await compile(g, { threads: 1, cache: false });
      return (await runner.run({ x: { data: x, shape: [1, 3, S, S] }, c: { data: new Float32Array([0, 1]), shape: [1, 2] } })).y!.data as Float32Array;
    };
    const plain = await run(config);
    expect(maxDiff(await run({ ...config, skip: true }), plain.map((v, i) => v + x[i]!))).toBeLessThan(1e-5);
  });
});
