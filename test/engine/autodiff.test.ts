import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { grad } from '../../src/engine/autodiff/grad.js';
import { Graph, type Tensor } from '../../src/engine/graph/graph.js';
import { compile } from '../../src/engine/runtime.js';
import { gradientCheck } from './gradcheck.js';

/** Every backward rule against float64 central differences (see gradcheck.ts). */

const TOL = 2e-4;
const rand = (n: number, seed: number, scale = 0.5) => {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.uniform(-scale, scale));
};
const param = (g: Graph, name: string, shape: number[], seed = 11, scale = 0.5) =>
  g.param(name, shape, rand(shape.reduce((a, b) => a * b, 1), seed, scale));
const X = (g: Graph, c = 2, dynamic = true) => g.input('x', [1, c, dynamic ? 'H' : 7, dynamic ? 'W' : 6]);
const x76 = { x: [1, 2, 7, 6] };

const cases: [string, (g: Graph) => Tensor, Record<string, number[]>, { lo?: number; hi?: number }?][] = [
  ['conv 3×3 pad 1', (g) => g.conv(X(g), param(g, 'w', [3, 2, 3, 3]), param(g, 'b', [3], 12), { pad: 1 }), x76],
  ['conv stride 2 pad 1 (ConvTranspose path)', (g) => g.conv(X(g), param(g, 'w', [3, 2, 3, 3]), undefined, { pad: 1, stride: 2 }), x76],
  ['conv dilation 2, asymmetric pad', (g) => g.conv(X(g), param(g, 'w', [2, 2, 3, 3]), undefined, { pad: [2, 1, 0, 2], dilation: 2 }), x76],
  ['conv groups 2', (g) => g.conv(X(g, 4), param(g, 'w', [4, 2, 3, 3]), undefined, { pad: 1, groups: 2 }), { x: [1, 4, 6, 5] }],
  ['conv 1×1', (g) => g.conv(X(g), param(g, 'w', [3, 2, 1, 1]), param(g, 'b', [3], 12)), x76],
  ['conv 5×5 reflect (swapped-conv weight grad)', (g) => g.conv(X(g), param(g, 'w', [2, 2, 5, 5]), undefined, { pad: 2, padMode: 'reflect' }), { x: [1, 2, 8, 7] }],
  ['conv 9×9 stride 2 (swapped conv, stride)', (g) => g.conv(X(g, 1), param(g, 'w', [2, 1, 9, 9], 11, 0.2), undefined, { pad: 4, stride: 2 }), { x: [1, 1, 11, 10] }],
  ['conv batch 2', (g) => g.conv(g.input('x', [2, 2, 'H', 'W']), param(g, 'w', [3, 2, 3, 3]), undefined, { pad: 1 }), { x: [2, 2, 5, 4] }],
  ['reflect pad', (g) => g.pad(X(g), [2, 1, 1, 3], 'reflect'), x76],
  ['zero pad', (g) => g.pad(X(g), [1, 0, 2, 1], 'constant'), x76],
  ['max pool 2×2', (g) => g.maxPool(X(g), { kernel: 2 }), x76],
  ['max pool 3×3 stride 2 pad 1 (overlapping)', (g) => g.maxPool(X(g), { kernel: 3, stride: 2, pad: 1 }), x76],
  ['max pool 2×2 ceil mode (odd size)', (g) => g.maxPool(X(g), { kernel: 2, ceil: true }), { x: [1, 2, 7, 5] }],
  ['avg pool 2×2 (odd size)', (g) => g.avgPool(X(g), { kernel: 2 }), { x: [1, 2, 7, 5] }],
  ['avg pool 3×3 stride 2 pad 1', (g) => g.avgPool(X(g), { kernel: 3, stride: 2, pad: 1 }), x76],
  ['nearest upsample ×2', (g) => g.resize(X(g), 2), x76],
  ['instance norm', (g) => g.instanceNorm(X(g, 3), param(g, 's', [3], 4, 1), param(g, 't', [3], 5)), { x: [1, 3, 5, 4] }],
  ['group norm', (g) => g.groupNorm(X(g, 4), 2, param(g, 's', [4], 4, 1), param(g, 't', [4], 5)), { x: [1, 4, 3, 3] }],
  ['batch norm (fixed statistics)', (g) => g.batchNorm(X(g), param(g, 's', [2]), param(g, 't', [2]), g.constant([0.1, -0.2]), g.constant([0.5, 2])), x76],
  ['relu', (g) => g.relu(X(g)), x76],
  ['leaky relu', (g) => g.leakyRelu(X(g), 0.2), x76],
  ['tanh', (g) => g.tanh(X(g)), x76],
  ['sigmoid', (g) => g.sigmoid(X(g)), x76],
  ['silu', (g) => g.silu(X(g)), x76],
  ['exp, log, sqrt', (g) => g.sqrt(g.log(g.exp(X(g)))), x76, { lo: 0.2, hi: 2 }],
  ['abs, neg', (g) => g.neg(g.abs(X(g))), x76],
  ['add/sub/mul/div with broadcasting', (g) => {
    const x = X(g);
    const c = param(g, 'c', [1, 2, 1, 1], 7, 1);
    return g.div(g.sub(g.mul(g.add(x, c), x), param(g, 'r', [6], 8)), g.add(g.abs(c), g.scalar(0.5)));
  }, x76],
  ['concat and split', (g) => {
    const x = X(g);
    const [a, b] = g.split(g.concat([x, g.relu(x)], 1), 1, [3, 1]);
    return g.mul(a!, g.reduceMean(b!, [1], true));
  }, x76],
  ['slice (positive, negative, to end)', (g) => {
    const x = X(g);
    return g.add(g.slice(x, [2, 3], [1, 0], [-2, 4]), g.slice(x, [2, 3], [-5, -5], [-1, -1]));
  }, x76],
  ['reverse', (g) => { const x = X(g); return g.mul(g.reverse(x, 3), x); }, x76],
  ['reshape, transpose, matmul (Gram matrix)', (g) => {
    const f = g.reshape(X(g, 3), [0, 3, -1]);
    return g.matmul(f, g.transpose(f, [0, 2, 1]));
  }, { x: [1, 3, 4, 5] }],
  ['reduce sum / mean keepdims and not', (g) => {
    const x = X(g);
    return g.add(g.reduceSum(x, [2], true), g.reshape(g.reduceMean(x, [1, 3]), [1, 1, -1, 1]));
  }, x76],
  ['softmax', (g) => g.softmax(X(g), 1), x76],
  ['matmul batch broadcast', (g) => g.matmul(g.input('x', [2, 3, 4]), param(g, 'm', [4, 5])), { x: [2, 3, 4] }],
];

describe('backward rules match float64 finite differences', () => {
  it.each(cases)('%s', async (_name, build, shapes, range) => {
    const r = await gradientCheck(build, shapes, range ?? {});
    expect(r.worst, JSON.stringify(r.perTensor)).toBeLessThan(TOL);
  });
});

describe('max-pool backward on ties', () => {
  it('routes each window gradient to exactly one input (indices, not a mask of maxima)', async () => {
    const g = new Graph();
    const x = g.input('x', [1, 1, 4, 4]);
    const y = g.maxPool(x, { kernel: 2 });
    const loss = g.sumAll(y);
    const [gx] = grad(g, loss, [x]);
    g.output('gx', gx!);
    const r = await compile(g, { threads: 1 });
    // All zeros: every window is a 4-way tie (as ReLU makes them); the gradient must still sum to 4.
    const out = await r.run({ x: { data: new Float32Array(16), shape: [1, 1, 4, 4] } });
    const gsum = Array.from(out.gx!.data as Float32Array).reduce((a, b) => a + b, 0);
    expect(gsum).toBe(4);
    expect(Math.max(...(out.gx!.data as Float32Array))).toBe(1);
  });
});

describe('grad', () => {
  it('returns zeros for tensors the loss does not depend on and refuses non-scalar losses', async () => {
    const g = new Graph();
    const x = g.input('x', [1, 2]);
    const z = g.input('z', [1, 2]);
    const [gz] = grad(g, g.sumAll(g.mul(x, x)), [z]);
    g.output('gz', gz!);
    const out = await (await compile(g, { threads: 1 })).run({ x: { data: new Float32Array([1, 2]), shape: [1, 2] }, z: { data: new Float32Array([3, 4]), shape: [1, 2] } });
    expect(Array.from(out.gz!.data as Float32Array)).toEqual([0, 0]);
    expect(() => grad(g, x, [x])).toThrow(/single number/);
  });
  it('refuses ops without a rule, naming them', () => {
    const g = new Graph();
    const x = g.input('x', [1, 1, 4, 4]);
    const y = g.resize(x, 2, 'linear');
    expect(() => grad(g, g.sumAll(y), [x])).toThrow(/No backward rule for linear resize/);
  });
});

describe('loss pieces', () => {
  it('Gram / style / TV losses with run-time sizes match finite differences', async () => {
    const { styleLoss, totalVariation } = await import('../../src/engine/losses/style-losses.js');
    const r = await gradientCheck(
      (g) => {
        const x = X(g, 3);
        const target = g.constant(Array.from({ length: 9 }, (_, i) => (i % 4) * 0.1), [1, 3, 3]);
        return g.add(styleLoss(g, g.relu(x), target), g.scale(totalVariation(g, x), 0.3));
      },
      { x: [1, 3, 5, 4] },
    );
    expect(r.worst).toBeLessThan(TOL);
  });
});
