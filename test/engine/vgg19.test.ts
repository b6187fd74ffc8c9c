import { describe, expect, it } from 'vitest';
import { AtelierError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { grad } from '../../src/engine/autodiff/grad.js';
import { Graph } from '../../src/engine/graph/graph.js';
import { styleLoss, meanSquaredError } from '../../src/engine/losses/style-losses.js';
import { randomVgg19Weights, vgg19, vggWeightShapes } from '../../src/engine/nets/vgg19.js';
import { compile } from '../../src/engine/runtime.js';
import { evaluate } from './reference.js';

describe('VGG-19', () => {
  it('has the published key layouts', () => {
    const tv = [...vggWeightShapes('torchvision').keys()];
    expect(tv.slice(0, 4)).toEqual(['features.0.weight', 'features.0.bias', 'features.2.weight', 'features.2.bias']);
    expect(tv).toContain('features.34.weight');
    expect(tv.length).toBe(32);
    const norm = vggWeightShapes('normalised');
    expect(norm.get('0.weight')).toEqual([3, 3, 1, 1]);
    expect(norm.get('2.weight')).toEqual([64, 3, 3, 3]);
    expect(norm.get('42.weight')).toEqual([512, 512, 3, 3]); // conv5_1
    expect(norm.get('29.weight')).toEqual([512, 256, 3, 3]); // conv4_1
    expect(norm.get('48.weight')).toEqual([512, 512, 3, 3]); // conv5_3
    expect(norm.get('51.weight')).toEqual([512, 512, 3, 3]); // conv5_4
  });

  it('gives every tap at the expected size, for two image sizes from one session', async () => {
    const g = new Graph();
    const x = g.input('image', [1, 3, 'H', 'W']);
    const taps = vgg19(g, x, randomVgg19Weights('normalised', 1), { layout: 'normalised', taps: ['relu1_1', 'relu3_1', 'conv4_2', 'relu5_1'] });
    for (const [k, t] of Object.entries(taps)) g.output(k, t);
    const r = await compile(g, { threads: 2 });
    for (const [h, w] of [[32, 40], [17, 23]] as const) {
      const out = await r.run({ image: { data: new Float32Array(3 * h * w).fill(0.5), shape: [1, 3, h, w] } });
      expect(out.relu1_1!.shape).toEqual([1, 64, h, w]);
      expect(out.relu3_1!.shape).toEqual([1, 256, Math.ceil(h / 4), Math.ceil(w / 4)]); // ceil-mode pools
      expect(out.relu5_1!.shape[1]).toBe(512);
    }
  });

  it('rejects weights with missing or mis-shaped tensors (E_WEIGHTS_INVALID)', () => {
    const w = randomVgg19Weights('torchvision', 1, 'relu2_1');
    const g = new Graph();
    const x = g.input('image', [1, 3, 'H', 'W']);
    const err = (() => {
      try {
        vgg19(g, x, w, { layout: 'torchvision', taps: ['relu3_1'] });
      } catch (e) {
        return e;
      }
    })();
    expect((err as AtelierError).code).toBe('E_WEIGHTS_INVALID');
    expect((err as AtelierError).message).toContain('features.7.weight');
    w.set('features.0.weight', { name: 'features.0.weight', shape: [64, 3, 1, 1], data: new Float32Array(192) });
    expect(() => vgg19(new Graph(), new Graph().input('i', [1, 3, 8, 8]), w, { layout: 'torchvision', taps: ['relu1_1'] })).toThrow();
  });

  it('input gradient of a Gatys loss through the whole network matches finite differences (cosine ≥ 0.999)', async () => {
    // Small by default (the float64 reference is plain JS); ATELIER_SLOW=1 checks more pixels at 32².
    const slow = process.env.ATELIER_SLOW === '1';
    const size = slow ? 32 : 16;
    const g = new Graph();
    const x = g.input('image', [1, 3, size, size]);
    const weights = randomVgg19Weights('torchvision', 5);
    const taps = vgg19(g, x, weights, { layout: 'torchvision', taps: ['relu1_1', 'relu2_1', 'relu3_1', 'conv4_2', 'relu4_1', 'relu5_1'] });
    const rng = new Rng(9);
    let loss = meanSquaredError(g, taps.conv4_2!, g.constant(Array.from({ length: (512 * size * size) / 64 }, () => rng.uniform(0, 0.5)), [1, 512, size / 8, size / 8]));
    for (const name of ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1']) {
      const c = taps[name]!.shape[1] as number;
      const target = g.constant(Array.from({ length: c * c }, () => rng.uniform(0, 0.02)), [1, c, c]);
      loss = g.add(loss, g.scale(styleLoss(g, taps[name]!, target), 1000));
    }
    const [gx] = grad(g, loss, [x]);
    g.output('grad', gx!);
    const image = Float64Array.from({ length: 3 * size * size }, () => rng.uniform(0.1, 0.9));
    const out = await (await compile(g, { threads: 2 })).run({ image: { data: Float32Array.from(image), shape: [1, 3, size, size] } });
    const analytic = out.grad!.data as Float32Array;
    const eps = 1e-5;
    const picks = Array.from({ length: slow ? 24 : 6 }, () => rng.int(image.length));
    const a: number[] = [];
    const n: number[] = [];
    for (const k of picks) {
      const at = (v: number) => {
        const d = image.slice();
        d[k] = v;
        return evaluate(g, loss, { image: { data: d, shape: [1, 3, size, size] } }).data[0]!;
      };
      n.push((at(image[k]! + eps) - at(image[k]! - eps)) / (2 * eps));
      a.push(analytic[k]!);
    }
    const dot = a.reduce((s, v, i) => s + v * n[i]!, 0);
    const cos = dot / Math.sqrt(a.reduce((s, v) => s + v * v, 0) * n.reduce((s, v) => s + v * v, 0));
    expect(cos).toBeGreaterThan(0.999);
  }, 120_000);
});
