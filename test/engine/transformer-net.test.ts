import { describe, expect, it } from 'vitest';
import { grad } from '../../src/engine/autodiff/grad.js';
import { Graph } from '../../src/engine/graph/graph.js';
import { randomTransformerNetWeights, transformerNet, transformerNetShapes, upsampleConv } from '../../src/engine/nets/transformer-net.js';
import { compile } from '../../src/engine/runtime.js';

describe('Johnson transformer net', () => {
  it('seeds finite weights of the published shapes', () => {
    const w = randomTransformerNetWeights(3);
    for (const [name, shape] of transformerNetShapes()) {
      const t = w.get(name)!;
      expect(t.shape, name).toEqual(shape);
      expect(t.data.every(Number.isFinite), name).toBe(true);
    }
    expect(w.get('res1.in1.weight')!.data[0]).toBe(1);
    expect(w.get('res1.in1.bias')!.data[0]).toBe(0);
  });

  it('maps an image to an image of the same size, finite', async () => {
    const g = new Graph();
    g.output('y', transformerNet(g, g.input('image', [1, 3, 'H', 'W']), randomTransformerNetWeights(1)));
    const data = Float32Array.from({ length: 3 * 36 * 28 }, (_, i) => (i * 37) % 255);
    const out = await (await compile(g, { threads: 1 })).run({ image: { data, shape: [1, 3, 36, 28] } });
    expect(out.y!.shape).toEqual([1, 3, 36, 28]);
    expect((out.y!.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('computes the upsampling layers at low resolution with the same values and gradients', async () => {
    // upsampleConv against the layer as published: nearest ×2, reflect pad 1, 3×3 conv.
    const [cin, cout, h, w] = [4, 3, 5, 6];
    const rnd = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + seed));
    const build = (subPixel: boolean) => {
      const g = new Graph();
      const x = g.input('x', [1, cin, 'H', 'W']);
      const weight = g.param('w', [cout, cin, 3, 3], rnd(cout * cin * 9, 1));
      const bias = g.param('b', [cout], rnd(cout, 2));
      const y = subPixel ? upsampleConv(g, x, weight, bias) : g.conv(g.resize(x, 2), weight, bias, { pad: 1, padMode: 'reflect' });
      const target = g.constant(rnd(cout * 4 * h * w, 3), [1, cout, 2 * h, 2 * w]);
      const loss = g.sumAll(g.mul(g.reshapeLike(y, target), target));
      g.output('y', y);
      const grads = grad(g, loss, [x, weight, bias]);
      ['gx', 'gw', 'gb'].forEach((n, i) => g.output(n, grads[i]!));
      return g;
    };
    const feeds = { x: { data: rnd(cin * h * w, 4), shape: [1, cin, h, w] } };
    const [a, b] = await Promise.all([false, true].map(async (s) => (await compile(build(s), { threads: 1 })).run(feeds)));
    for (const name of ['y', 'gx', 'gw', 'gb']) {
      const u = a![name]!.data as Float32Array;
      const v = b![name]!.data as Float32Array;
      expect(v.length, name).toBe(u.length);
      const scale = Math.max(...Array.from(u, Math.abs));
      const worst = Math.max(...Array.from(u, (val, i) => Math.abs(val - v[i]!)));
      expect(worst / scale, name).toBeLessThan(1e-5);
    }
  });
});
