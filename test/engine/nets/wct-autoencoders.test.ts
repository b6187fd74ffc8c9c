import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../../src/core/rng.js';
import { Graph } from '../../../src/engine/graph/graph.js';
import { readStateDict } from '../../../src/engine/nets/model-files.js';
import { wctDecoder, wctEncoder, wctLevelSpec, type WctNetwork } from '../../../src/engine/nets/wct-autoencoders.js';
import { compile } from '../../../src/engine/runtime.js';
import { tempDir } from '../../helpers/fixtures.js';
import { relativeMaxDiff, runTorchReference, sharedWeights, torchPython } from '../../helpers/torch-reference.js';

/**
 * The real published encoders and decoders of universal style transfer, built as engine graphs with
 * their weights mapped by name, against a PyTorch reference written from the papers
 * (test/helpers/torch_style_nets.py): max |ours − torch| ≤ 1e-3 of the reference's range.
 */

const skip = !sharedWeights || !torchPython;
if (skip) console.warn(`skipping the WCT autoencoder checks: ${!sharedWeights ? '../shared/weights is absent' : 'no python3 with torch'}`);
const dir = tempDir('atelier-wct-nets-');
afterAll(() => dir.cleanup());

function randomPlanar(shape: number[], seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, () => rng.next() * scale);
}

const cases: [WctNetwork, number][] = [
  ['vgg19', 1],
  ['vgg19', 2],
  ['vgg19', 3],
  ['cd16x', 1],
  ['cd16x', 2],
  ['cd16x', 3],
  ['cd16x', 4],
  ['cd16x', 5],
];

describe.skipIf(skip)('WCT autoencoders on the real weights against PyTorch', () => {
  it.each(cases)('%s level %i: encoder and decoder', async (network, level) => {
    const spec = wctLevelSpec(network, level);
    const folder = path.join(sharedWeights!, network === 'vgg19' ? 'vgg19-relu3_1' : 'wct-cd16x');
    const [H, W] = [48, 64];
    const image = { data: randomPlanar([1, 3, H, W], level), shape: [1, 3, H, W] };

    const ge = new Graph();
    ge.output('features', wctEncoder(ge, ge.input('image', [1, 3, 'H', 'W']), await readStateDict(path.join(folder, spec.encoderFile)), network, level));
    const enc = await compile(ge, { threads: 1 });
    const ours = (await enc.run({ image })).features!;
    const ref = runTorchReference({ kind: 'wct-encoder', network, level, dir: folder, input: image }, dir.dir);
    expect(ours.shape).toEqual(ref.shape);
    expect(ours.shape).toEqual([1, spec.channels, H / spec.stride, W / spec.stride]);
    const e = relativeMaxDiff(ours.data as Float32Array, ref.data);
    expect(e.range).toBeGreaterThan(0);
    expect(e.maxDiff).toBeLessThanOrEqual(1e-3 * e.range);

    const gd = new Graph();
    gd.output('image', wctDecoder(gd, gd.input('features', [1, spec.channels, 'h', 'w']), await readStateDict(path.join(folder, spec.decoderFile)), network, level));
    const dec = await compile(gd, { threads: 1 });
    const feats = { data: ref.data, shape: ref.shape };
    const back = (await dec.run({ features: feats })).image!;
    const refBack = runTorchReference({ kind: 'wct-decoder', network, level, dir: folder, input: feats }, dir.dir);
    expect(back.shape).toEqual([1, 3, H, W]);
    const d = relativeMaxDiff(back.data as Float32Array, refBack.data);
    expect(d.maxDiff).toBeLessThanOrEqual(1e-3 * d.range);
    // A trained decoder inverts its encoder: the round trip stays close to the image.
    let err = 0;
    for (let i = 0; i < image.data.length; i++) err += Math.abs(refBack.data[i]! - image.data[i]!);
    console.log(`${network} level ${level}: encoder ${e.maxDiff.toExponential(2)} / range ${e.range.toFixed(2)}, decoder ${d.maxDiff.toExponential(2)} / ${d.range.toFixed(2)}, round-trip mean |Δ| ${(err / image.data.length).toFixed(3)}`);
  }, 300_000);
});
