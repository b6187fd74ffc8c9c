import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { chooseWeightGradForm, convWeightGrad, weightGradForms } from '../../src/engine/autodiff/conv-backward.js';
import { grad } from '../../src/engine/autodiff/grad.js';
import { Graph, SLICE_END, type Tensor } from '../../src/engine/graph/graph.js';
import { lowerGraph } from '../../src/engine/graph/lower.js';
import { NCHWC_DOMAIN } from '../../src/engine/graph/onnx-model.js';
import { nchwcBlockSize } from '../../src/engine/runtime.js';
import { compile } from '../../src/engine/runtime.js';
import { gradientCheck } from './gradcheck.js';
import { evaluate } from './reference.js';

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
  ['conv 3×3 reflect, asymmetric pads', (g) => g.conv(X(g), param(g, 'w', [3, 2, 3, 3]), undefined, { pad: [2, 0, 1, 2], padMode: 'reflect' }), { x: [1, 2, 6, 5] }],
  ['conv 3×3 reflect pad 3 (wider than the kernel)', (g) => g.conv(X(g), param(g, 'w', [2, 2, 3, 3]), undefined, { pad: 3, padMode: 'reflect' }), { x: [1, 2, 5, 6] }],
  ['reflect-padded tensor used twice', (g) => {
    const p = g.pad(X(g), [1, 1, 1, 1], 'reflect');
    return g.add(g.conv(p, param(g, 'w', [2, 2, 3, 3]), undefined), g.slice(p, [2, 3], [1, 1], [-1, -1]));
  }, x76],
  ['conv 5×5 to one channel (rows then columns)', (g) => g.conv(X(g, 5), param(g, 'w', [1, 5, 5, 5], 11, 0.2), param(g, 'b', [1], 12), { pad: 2, padMode: 'reflect' }), { x: [1, 5, 7, 6] }],
  ['conv batch 2', (g) => g.conv(g.input('x', [2, 2, 'H', 'W']), param(g, 'w', [3, 2, 3, 3]), undefined, { pad: 1 }), { x: [2, 2, 5, 4] }],
  ['conv transpose 3×3 stride 2 pad 1 output padding 1 (CycleGAN upsampling)', (g) => g.convTranspose(X(g), param(g, 'w', [2, 3, 3, 3]), param(g, 'b', [3], 12), { stride: 2, pad: 1, outputPadding: 1 }), { x: [1, 2, 4, 5] }],
  ['conv transpose 4×4 stride 2 pad 1 (StarGAN upsampling)', (g) => g.convTranspose(X(g, 3), param(g, 'w', [3, 2, 4, 4], 11, 0.3), undefined, { stride: 2, pad: 1 }), { x: [1, 3, 3, 4] }],
  ['conv transpose 3×3 stride 1, batch 2', (g) => g.convTranspose(g.input('x', [2, 2, 'H', 'W']), param(g, 'w', [2, 3, 3, 3]), undefined, { pad: 1 }), { x: [2, 2, 4, 3] }],
  ['reflect pad', (g) => g.pad(X(g), [2, 1, 1, 3], 'reflect'), x76],
  ['reflect pad wider than half the size', (g) => g.pad(X(g), [2, 3, 2, 1], 'reflect'), { x: [1, 2, 3, 4] }],
  ['reflect pad, one side only', (g) => g.pad(X(g), [0, 2, 1, 0], 'reflect'), x76],
  ['edge pad', (g) => g.pad(X(g), [2, 1, 3, 2], 'edge'), { x: [1, 2, 3, 4] }],
  ['zero pad', (g) => g.pad(X(g), [1, 0, 2, 1], 'constant'), x76],
  ['max pool 2×2', (g) => g.maxPool(X(g), { kernel: 2 }), x76],
  ['max pool 3×3 stride 2 pad 1 (overlapping)', (g) => g.maxPool(X(g), { kernel: 3, stride: 2, pad: 1 }), x76],
  ['max pool 2×2 ceil mode (odd size)', (g) => g.maxPool(X(g), { kernel: 2, ceil: true }), { x: [1, 2, 7, 5] }],
  ['avg pool 2×2 ceil mode (odd size)', (g) => g.avgPool(X(g), { kernel: 2, ceil: true }), { x: [1, 2, 7, 5] }],
  ['conv 3×3 stride 2, odd sizes (spread fitted at the end)', (g) => g.conv(X(g), param(g, 'w', [2, 2, 3, 3]), undefined, { stride: 2 }), { x: [1, 2, 8, 7] }],
  ['avg pool 2×2 (odd size)', (g) => g.avgPool(X(g), { kernel: 2 }), { x: [1, 2, 7, 5] }],
  ['avg pool 3×3 stride 2 pad 1', (g) => g.avgPool(X(g), { kernel: 3, stride: 2, pad: 1 }), x76],
  ['nearest upsample ×2', (g) => g.resize(X(g), 2), x76],
  ['depth to space', (g) => g.mul(g.depthToSpace(X(g, 8), 2), param(g, 'm', [1, 2, 6, 4], 8)), { x: [1, 8, 3, 2] }],
  ['linear upsample ×2', (g) => g.resize(X(g), 2, 'linear'), { x: [1, 2, 5, 4] }],
  ['linear resize ×1.5', (g) => g.resize(X(g), 1.5, 'linear'), { x: [1, 2, 5, 4] }],
  ['linear downsample ×0.5 (odd size)', (g) => g.resize(X(g), 0.5, 'linear'), x76],
  ['linear upsample ×2, asymmetric corners (TF1)', (g) => g.resize(X(g), 2, 'linear', 'asymmetric'), { x: [1, 2, 5, 4] }],
  ['linear resize ×1.5, asymmetric corners (TF1)', (g) => g.resize(X(g), 1.5, 'linear', 'asymmetric'), { x: [1, 2, 5, 4] }],
  ['instance norm', (g) => g.instanceNorm(X(g, 3), param(g, 's', [3], 4, 1), param(g, 't', [3], 5)), { x: [1, 3, 5, 4] }],
  ['instance norm, batch 2 (per-instance statistics)', (g) => g.instanceNorm(g.input('x', [2, 3, 'H', 'W']), param(g, 's', [3], 4, 1), param(g, 't', [3], 5)), { x: [2, 3, 4, 5] }],
  ['group norm', (g) => g.groupNorm(X(g, 4), 2, param(g, 's', [4], 4, 1), param(g, 't', [4], 5)), { x: [1, 4, 3, 3] }],
  ['batch norm (fixed statistics)', (g) => g.batchNorm(X(g), param(g, 's', [2]), param(g, 't', [2]), g.constant([0.1, -0.2]), g.constant([0.5, 2])), x76],
  ['relu', (g) => g.relu(X(g)), x76],
  ['leaky relu', (g) => g.leakyRelu(X(g), 0.2), x76],
  ['tanh', (g) => g.tanh(X(g)), x76],
  ['sigmoid', (g) => g.sigmoid(X(g)), x76],
  ['silu', (g) => g.silu(X(g)), x76],
  ['erf', (g) => g.erf(X(g)), x76, { lo: -2.5, hi: 2.5 }],
  ['exact GELU x·(1 + erf(x/√2))/2 (latent diffusion feed-forward)', (g) => {
    const x = X(g);
    return g.mul(g.scale(x, 0.5), g.add(g.erf(g.scale(x, Math.SQRT1_2)), g.scalar(1)));
  }, x76, { lo: -3, hi: 3 }],
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
  ['strided slice (step 2, step 3 from the end)', (g) => g.slice(X(g), [2, 3], [1, -5], [SLICE_END, SLICE_END], [2, 3]), { x: [1, 2, 7, 6] }],
  ['slice with a negative step', (g) => g.slice(X(g), [3], [4], [0], [-2]), x76],
  ['slice from the end to an index', (g) => g.slice(X(g), [2], [-5], [4]), x76],
  ['reverse kernel taps', (g) => g.mul(g.reverseTaps(g.input('x', [2, 3, 3, 2])), param(g, 'm', [2, 3, 3, 2], 8)), { x: [2, 3, 3, 2] }],
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
  ['gather with repeated and unread positions', (g) => g.gather(g.reshape(X(g, 2, false), [1, 2, -1]), 2, g.int64([0, 5, 5, 41, 17, 3, 3, 3])), x76],
  ['gather along a leading axis', (g) => g.gather(g.input('x', [5, 3]), 0, g.int64([4, 0, 4, 2])), { x: [5, 3] }],
  ['atLeast masks without a gradient of its own', (g) => {
    const x = X(g);
    return g.mul(g.mul(x, x), g.atLeast(x, 0.1));
  }, x76],
  ['matmul batch broadcast', (g) => g.matmul(g.input('x', [2, 3, 4]), param(g, 'm', [4, 5])), { x: [2, 3, 4] }],
];

describe('backward rules match float64 finite differences', () => {
  it.each(cases)('%s', async (_name, build, shapes, range) => {
    const r = await gradientCheck(build, shapes, range ?? {});
    expect(r.worst, JSON.stringify(r.perTensor)).toBeLessThan(TOL);
  });
});

describe('blocked convs (run-time kernels in ONNX Runtime\'s NCHWc layout)', async () => {
  // Training graphs feed their weights, so ORT would run every conv as im2col + GEMM; with
  // `nchwcBlock` the lowering runs those (and the input gradients' flipped kernels) blocked.
  const block = await nchwcBlockSize();
  const lowering = { paramsAsInputs: true, nchwcBlock: block };
  const blocked: [string, (g: Graph) => Tensor, Record<string, number[]>][] = [
    ['3×3 reflect with bias', (g) => g.conv(X(g, 16), param(g, 'w', [16, 16, 3, 3], 11, 0.2), param(g, 'b', [16], 12), { pad: 1, padMode: 'reflect' }), { x: [1, 16, 6, 5] }],
    ['4×4 stride 2, batch 2', (g) => g.conv(g.input('x', [2, 16, 'H', 'W']), param(g, 'w', [32, 16, 4, 4], 13, 0.2), param(g, 'b', [32], 14), { pad: 1, stride: 2 }), { x: [2, 16, 7, 6] }],
    ['transposed stride 2 into a conv', (g) => {
      const up = g.convTranspose(X(g, 32), param(g, 'u', [32, 16, 3, 3], 15, 0.2), param(g, 'ub', [16], 16), { stride: 2, pad: 1, outputPadding: 1 });
      return g.conv(g.relu(up), param(g, 'w', [16, 16, 3, 3], 17, 0.2), undefined, { pad: 1 });
    }, { x: [1, 32, 4, 3] }],
  ];
  // MLAS blocks by the vector width: 16 floats with AVX-512, 8 with AVX2 (x86-64 Linux). A wrong
  // kernel reorder makes the probe's blocked conv disagree with the plain one, and the block 0.
  const flags = process.platform === 'linux' && process.arch === 'x64' ? (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').split(/\s+/) : [];
  const expected = flags.includes('avx512f') ? 16 : flags.includes('avx2') ? 8 : undefined;
  it.runIf(expected !== undefined)('the probe finds the vector-width block on this CPU', () => {
    expect(block).toBe(expected);
  });
  it.runIf(block > 0)('the training graph really lowers them blocked, a shared kernel reordered once', () => {
    const g = new Graph();
    const w = param(g, 'w', [16, 16, 3, 3]);
    g.output('y', g.conv(g.relu(g.conv(X(g, 16), w, undefined, { pad: 1 })), w, undefined, { pad: 1 }));
    const nodes = lowerGraph(g, lowering).onnx.nodes;
    // (the first ReorderInput is the kernel's: see lowerBlockedConv)
    expect(nodes.filter((n) => n.domain === NCHWC_DOMAIN).map((n) => n.op)).toEqual(['ReorderInput', 'ReorderInput', 'Conv', 'ReorderOutput', 'ReorderInput', 'Conv', 'ReorderOutput']);
    expect(nodes.filter((n) => n.op === 'Transpose')).toHaveLength(1);
  });
  it.each(blocked)('%s matches float64 finite differences', async (_name, build, shapes) => {
    const r = await gradientCheck(build, shapes, { lowering });
    expect(r.worst, JSON.stringify(r.perTensor)).toBeLessThan(TOL);
  });
});

describe('conv kernel-gradient forms', () => {
  // Each form of dW (conv-backward.ts) on shapes that exercise it, against float64 differences of
  // Σ conv(x, w)·R; the chooser must also pick the cheap forms for the Johnson net's layer shapes.
  const convs: [string, number, number, number, { pad?: number; stride?: number; padMode?: 'reflect' }, number[]][] = [
    ['3×3 reflect', 3, 2, 3, { pad: 1, padMode: 'reflect' }, [1, 3, 6, 5]],
    ['3×3 zero pad, batch 2', 2, 3, 3, { pad: 1 }, [2, 2, 5, 4]],
    ['5×5 wide', 2, 1, 5, { pad: 2 }, [1, 2, 7, 6]],
    ['3×3 stride 2', 2, 3, 3, { pad: 1, stride: 2 }, [1, 2, 7, 6]],
    ['3×3 stride 3, batch 2', 2, 2, 3, { pad: 1, stride: 3 }, [2, 2, 8, 7]],
  ];
  const cases = convs.flatMap(([name, cin, cout, k, o, shape]) => {
    const g = new Graph();
    const y = g.conv(g.input('x', [shape[0]!, cin, 'H', 'W']), g.param('w', [cout, cin, k, k], new Float32Array(cout * cin * k * k)), undefined, o);
    return weightGradForms(y.producer!, y.producer!.inputs[1]!).map((form) => [`${name}: ${form}`, cin, cout, k, o, shape, form] as const);
  });
  it.each(cases)('%s', async (_name, cin, cout, k, o, shape, form) => {
    const g = new Graph();
    const x = g.input('x', [shape[0]!, cin, 'H', 'W']);
    const w = param(g, 'w', [cout, cin, k, k], 11);
    const y = g.conv(x, w, undefined, o);
    const xs = { data: Float64Array.from(rand(shape.reduce((a, b) => a * b, 1), 3, 1)), shape };
    const yShape = evaluate(g, y, { x: xs }).shape;
    const r = g.constant(Array.from(rand(yShape.reduce((a, b) => a * b, 1), 5, 1)), yShape);
    const loss = g.sumAll(g.mul(g.reshapeLike(y, r), r));
    g.output('dw', convWeightGrad(g, y.producer!, r, y.producer!.inputs[0]!, w, form));
    const out = await (await compile(g, { threads: 1 })).run({ x: { data: Float32Array.from(xs.data), shape } });
    const w0 = Float64Array.from(g.data.get(w.id) as Float32Array);
    const lossAt = (k: number, d: number) => {
      const g2 = w0.slice();
      g2[k]! += d;
      const saved = g.data.get(w.id)!;
      g.data.set(w.id, Float32Array.from(g2));
      try {
        return evaluate(g, loss, { x: xs }).data[0]!;
      } finally {
        g.data.set(w.id, saved);
      }
    };
    let worst = 0;
    let scale = 0;
    for (let k = 0; k < w0.length; k += 3) {
      const numeric = (lossAt(k, 1e-3) - lossAt(k, -1e-3)) / 2e-3;
      scale = Math.max(scale, Math.abs(numeric));
      worst = Math.max(worst, Math.abs(numeric - (out.dw!.data[k] as number)));
    }
    expect(worst / scale).toBeLessThan(TOL * 10);
  });
  it('picks the cheap form per layer shape', () => {
    const pick = (cin: number, cout: number, k: number, stride = 1) => {
      const g = new Graph();
      const w = g.param('w', [cout, cin, k, k], new Float32Array(cout * cin * k * k));
      const y = g.conv(g.input('x', [1, cin, 'H', 'W']), w, undefined, { pad: k >> 1, stride, padMode: 'reflect' });
      return chooseWeightGradForm(y.producer!, w);
    };
    expect(pick(3, 32, 9)).toBe('swapX'); // from RGB: copy the 3-channel side
    expect(pick(32, 3, 9)).toBe('swapDY'); // to RGB: copy the 3-channel gradient
    expect(pick(128, 128, 3)).toBe('im2col'); // where split copies least: the same work, its copies spread over threads
    expect(pick(32, 64, 3, 2)).toBe('im2col'); // strided: columns by one conv, not per-tap slices
  });
});

describe('reference interpreter', () => {
  it('depth to space matches ONNX Runtime (DCR order)', async () => {
    const g = new Graph();
    const y = g.depthToSpace(X(g, 12), 2);
    g.output('y', y);
    const x = rand(12 * 3 * 5, 4, 1);
    const ort = await (await compile(g, { threads: 1 })).run({ x: { data: x, shape: [1, 12, 3, 5] } });
    const ref = evaluate(g, y, { x: { data: Float64Array.from(x), shape: [1, 12, 3, 5] } });
    expect(ort.y!.shape).toEqual([1, 3, 6, 10]);
    expect(Array.from(ref.data, (v) => Math.fround(v))).toEqual(Array.from(ort.y!.data as Float32Array));
  });
  // The gradient checks difference the float64 reference; its forward must be ONNX Runtime's.
  it.each([
    [2, 'half_pixel'],
    [1.5, 'half_pixel'],
    [0.5, 'half_pixel'],
    [0.75, 'half_pixel'],
    [2, 'asymmetric'],
    [0.75, 'asymmetric'],
  ] as const)('linear resize ×%s (%s) matches ONNX Runtime', async (scale, coordinates) => {
    const g = new Graph();
    const y = g.resize(X(g), scale, 'linear', coordinates);
    g.output('y', y);
    const x = rand(2 * 7 * 6, 9, 1);
    const ort = await (await compile(g, { threads: 1 })).run({ x: { data: x, shape: [1, 2, 7, 6] } });
    const ref = evaluate(g, y, { x: { data: Float64Array.from(x), shape: [1, 2, 7, 6] } });
    expect(ort.y!.shape).toEqual(ref.shape);
    const worst = Math.max(...Array.from(ref.data, (v, i) => Math.abs(v - (ort.y!.data[i] as number))));
    expect(worst).toBeLessThan(1e-5);
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
    const y = g.resize(x, 1.5, 'nearest');
    expect(() => grad(g, g.sumAll(y), [x])).toThrow(/No backward rule for nearest resize by 1.5/);
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
