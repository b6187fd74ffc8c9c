import { AtelierError } from '../../core/errors.js';
import { SLICE_END, type Graph, type Node, type Tensor } from '../graph/graph.js';
import { attr } from '../graph/onnx-model.js';
import type { OpName } from '../graph/ops.js';
import { convInputGrad, convWeightGrad, spreadTo } from './conv-backward.js';
import { padBackward } from './pad-backward.js';
import { gatherBackward, linearResizeBackward, stridedSliceBackward } from './scatter-adjoints.js';
import { onnx1, shapeOf, zerosLike } from './raw-onnx.js';

/**
 * Backward rules: for a node and the gradients of its outputs, the gradients of its inputs, built
 * from builder ops. Choices: the conv's input and kernel gradients in the forms that copy
 * least for the layer's shape (`conv-backward.ts`); max-pool through its indices and
 * ScatterElements (a mask of maxima is wrong on ties); instance norm recomputes its statistics;
 * reflect and edge padding add their bands back (`pad-backward.ts`); nearest upsampling averages;
 * linear resize, strided slices and gathers scatter-add to the positions they read
 * (`scatter-adjoints.ts`); a step function (`atLeast`) passes no gradient.
 */
export type BackwardRule = (g: Graph, n: Node, gys: (Tensor | undefined)[]) => (Tensor | undefined)[];

const BIG = 2 ** 53 - 1;

/** Sum `gy` down to the shape of `x` (undo broadcasting). */
function unbroadcast(g: Graph, gy: Tensor, x: Tensor): Tensor {
  let t = gy;
  const lead = gy.rank - x.rank;
  if (lead > 0) t = g.reduceSum(t, Array.from({ length: lead }, (_, i) => i), false);
  const axes = x.shape.flatMap((d, i) => (d === 1 && t.shape[i] !== 1 ? [i] : []));
  if (axes.length > 0) t = g.reduceSum(t, axes, true);
  return t;
}

const transposeLast2 = (g: Graph, t: Tensor) => {
  const perm = t.shape.map((_, i) => i);
  [perm[t.rank - 2], perm[t.rank - 1]] = [perm[t.rank - 1]!, perm[t.rank - 2]!];
  return g.transpose(t, perm);
};

const sign = (g: Graph, t: Tensor) => onnx1(g, 'Sign', [t], t);

/**
 * One entry per op (a missing one is a compile error); null: autodiff refuses the op on purpose.
 */
export const BACKWARD_RULES: Record<OpName, BackwardRule | null> = {
  // Arbitrary ONNX plumbing (shapes, indices) carries no gradient; Graph.onnx says so.
  onnx: null,
  add: (g, n, [gy]) => [unbroadcast(g, gy!, n.inputs[0]!), unbroadcast(g, gy!, n.inputs[1]!)],
  sub: (g, n, [gy]) => [unbroadcast(g, gy!, n.inputs[0]!), unbroadcast(g, g.neg(gy!), n.inputs[1]!)],
  mul: (g, n, [gy]) => {
    const [a, b] = n.inputs as [Tensor, Tensor];
    return [unbroadcast(g, g.mul(gy!, b), a), unbroadcast(g, g.mul(gy!, a), b)];
  },
  div: (g, n, [gy]) => {
    const [a, b] = n.inputs as [Tensor, Tensor];
    const y = n.outputs[0]!;
    const ga = g.div(gy!, b);
    return [unbroadcast(g, ga, a), unbroadcast(g, g.neg(g.mul(ga, y)), b)];
  },
  neg: (g, _n, [gy]) => [g.neg(gy!)],
  abs: (g, n, [gy]) => [g.mul(gy!, sign(g, n.inputs[0]!))],
  exp: (g, n, [gy]) => [g.mul(gy!, n.outputs[0]!)],
  log: (g, n, [gy]) => [g.div(gy!, n.inputs[0]!)],
  sqrt: (g, n, [gy]) => [g.div(g.scale(gy!, 0.5), n.outputs[0]!)],
  relu: (g, n, [gy]) => {
    // dY·[y > 0]: Greater and a Cast run in half the time of ONNX Runtime's Sign.
    const y = n.outputs[0]!;
    const positive = onnx1(g, 'Greater', [y, g.scalar(0)], y, {}, 'bool');
    return [g.mul(gy!, onnx1(g, 'Cast', [positive], y, { to: attr.i(y.dtype === 'float64' ? 11 : 1) }))];
  },
  leakyRelu: (g, n, [gy]) => {
    const x = n.inputs[0]!;
    const positive = onnx1(g, 'Greater', [x, g.scalar(0)], x, {}, 'bool');
    return [onnx1(g, 'Where', [positive, gy!, g.scale(gy!, n.attrs.alpha as number)], x)];
  },
  tanh: (g, n, [gy]) => {
    const y = n.outputs[0]!;
    return [g.mul(gy!, g.sub(g.scalar(1), g.mul(y, y)))];
  },
  sigmoid: (g, n, [gy]) => {
    const y = n.outputs[0]!;
    return [g.mul(gy!, g.mul(y, g.sub(g.scalar(1), y)))];
  },
  // d erf(x)/dx = 2/√π · e^(−x²)
  erf: (g, n, [gy]) => {
    const x = n.inputs[0]!;
    return [g.mul(gy!, g.scale(g.exp(g.neg(g.mul(x, x))), 2 / Math.sqrt(Math.PI)))];
  },
  matmul: (g, n, [gy]) => {
    const [a, b] = n.inputs as [Tensor, Tensor];
    return [unbroadcast(g, g.matmul(gy!, transposeLast2(g, b)), a), unbroadcast(g, g.matmul(transposeLast2(g, a), gy!), b)];
  },
  reduceSum: (g, n, [gy]) => [expandReduced(g, n, gy!)],
  reduceMean: (g, n, [gy]) => {
    const x = n.inputs[0]!;
    const axes = n.attrs.axes as number[];
    const dims = axes.map((a) => x.shape[a]!);
    const expanded = expandReduced(g, n, gy!);
    if (dims.every((d) => typeof d === 'number')) return [g.scale(expanded, 1 / (dims as number[]).reduce((p, q) => p * q, 1))];
    // Count known only at run time: size(y) / size(x).
    const count = (t: Tensor) => onnx1(g, 'Cast', [onnx1(g, 'Size', [t], t, {}, 'int64')], t, { to: attr.i(x.dtype === 'float64' ? 11 : 1) });
    return [g.mul(expanded, g.div(count(n.outputs[0]!), count(x)))];
  },
  elementCount: () => [undefined],
  // Piecewise constant: zero almost everywhere (undefined at the threshold, where it is taken as 0).
  atLeast: () => [undefined],
  gather: (g, n, [gy]) => [gatherBackward(g, gy!, n.inputs[0]!, n.inputs[1]!, n.attrs.axis as number), undefined],
  softmax: (g, n, [gy]) => {
    const y = n.outputs[0]!;
    const dot = g.reduceSum(g.mul(gy!, y), [n.attrs.axis as number], true);
    return [g.mul(y, g.sub(gy!, dot))];
  },
  transpose: (g, n, [gy]) => {
    const perm = n.attrs.perm as number[];
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [g.transpose(gy!, inverse)];
  },
  reverseTaps: (g, _n, [gy]) => [g.reverseTaps(gy!)],
  // A permutation of elements: its adjoint is the inverse permutation.
  depthToSpace: (g, n, [gy]) => [onnx1(g, 'SpaceToDepth', [gy!], n.inputs[0]!, { blocksize: attr.i(n.attrs.block as number) })],
  reshape: (g, n, [gy]) => [g.reshapeLike(gy!, n.inputs[0]!)],
  reshapeLike: (g, n, [gy]) => [g.reshapeLike(gy!, n.inputs[0]!), undefined],
  concat: (g, n, [gy]) => {
    const axis = n.attrs.axis as number;
    const sizes = n.inputs.map((t) => onnx1(g, 'Shape', [t], t, { start: attr.i(axis), end: attr.i(axis + 1) }, 'int64'));
    const split = onnx1(g, 'Concat', sizes, sizes[0]!, { axis: attr.i(0) }, 'int64');
    return g.onnx(
      'Split',
      [gy!, split],
      n.inputs.map((t) => ({ shape: [...t.shape], dtype: t.dtype })),
      { axis: attr.i(axis) },
    );
  },
  split: (g, n, gys) => [g.add1('concat', n.outputs.map((o, i) => gys[i] ?? zerosLike(g, o)), n.inputs[0]!.shape, { axis: n.attrs.axis })],
  slice: (g, n, [gy]) => {
    const x = n.inputs[0]!;
    const { axes, starts, ends, steps } = n.attrs as { axes: number[]; starts: number[]; ends: number[]; steps: number[] };
    if (steps.every((s) => s === -1) && starts.every((s) => s === -1) && ends.every((e) => e <= -BIG)) {
      return [g.slice(gy!, axes, starts, ends, steps)]; // a reversal is its own adjoint
    }
    const fromEndToIndex = axes.some((_, i) => starts[i]! < 0 && ends[i]! >= 0 && ends[i]! < SLICE_END);
    if (steps.some((s) => s !== 1) || fromEndToIndex) return [stridedSliceBackward(g, gy!, x, axes, starts, steps)];
    // Pads: known at the start when start ≥ 0, else known at the end; the other side is the rest.
    const rank = x.rank;
    const known = new Array<number>(rank).fill(0);
    const knownIsBegin = new Array<number>(rank).fill(1);
    axes.forEach((a, i) => {
      if (starts[i]! >= 0) known[a] = starts[i]!;
      else {
        knownIsBegin[a] = 0;
        known[a] = ends[i]! >= SLICE_END ? 0 : -ends[i]!;
      }
    });
    const i64 = (op: string, a: Tensor, b: Tensor) => onnx1(g, op, [a, b], a, {}, 'int64');
    const total = i64('Sub', shapeOf(g, x), shapeOf(g, gy!));
    const isBegin = g.int64(knownIsBegin);
    const knownT = g.int64(known);
    // begin = known where knownIsBegin, else total - known.
    const begin = i64('Add', i64('Mul', isBegin, knownT), i64('Mul', i64('Sub', g.int64(new Array(rank).fill(1)), isBegin), i64('Sub', total, knownT)));
    const end = i64('Sub', total, begin);
    const pads = onnx1(g, 'Concat', [begin, end], begin, { axis: attr.i(0) }, 'int64');
    return [g.onnx('Pad', [gy!, pads], [{ shape: [...x.shape], dtype: x.dtype }], { mode: attr.s('constant') })[0]!];
  },
  pad: (g, n, [gy]) => [padBackward(g, gy!, n.attrs.pads as [number, number, number, number], n.attrs.mode as 'constant' | 'reflect' | 'edge')],
  maxPool: (g, n, [gy]) => {
    const x = n.inputs[0]!;
    const indices = n.outputs[1]!;
    const kernel = n.attrs.kernel as number[];
    const stride = n.attrs.stride as number[];
    // (Ceil mode is excluded: MaxUnpool reads the flat indices against its own, larger, output shape.)
    if (kernel.every((k, i) => k === stride[i]) && (n.attrs.pads as number[]).every((p) => p === 0) && !n.attrs.ceil) {
      // Disjoint windows: each input receives at most one gradient, so MaxUnpool's single write is
      // exact, and it needs one buffer where ScatterElements needs a zero tensor and a copy.
      return [g.onnx('MaxUnpool', [gy!, indices, shapeOf(g, x)], [{ shape: [...x.shape], dtype: x.dtype }], {
        kernel_shape: attr.ints(kernel),
        strides: attr.ints(stride),
      })[0]!];
    }
    // Overlapping windows: an input may be the maximum of several; scatter-add the gradients.
    const flatShape = onnx1(g, 'Reshape', [onnx1(g, 'Size', [x], x, {}, 'int64'), g.int64([1])], x, {}, 'int64');
    const zeros = g.onnx('ConstantOfShape', [flatShape], [{ shape: ['n'], dtype: x.dtype }], {
      value: attr.t({ name: 'value', dtype: x.dtype, dims: [1], raw: new Uint8Array(x.dtype === 'float64' ? 8 : 4) }),
    })[0]!;
    const flat = g.onnx('ScatterElements', [zeros, g.reshape(indices, [-1]), g.reshape(gy!, [-1])], [{ shape: ['n'], dtype: x.dtype }], {
      axis: attr.i(0),
      reduction: attr.s('add'),
    })[0]!;
    return [g.reshapeLike(flat, x)];
  },
  avgPool: (g, n, [gy]) => {
    const x = n.inputs[0]!;
    const [kh, kw] = n.attrs.kernel as number[];
    const channels = x.shape[1];
    if (typeof channels !== 'number') throw new AtelierError('E_ENGINE', 'avgPool backward needs a fixed channel count');
    const kernel = g.constant(new Array(channels * kh! * kw!).fill(1 / (kh! * kw!)), [channels, 1, kh!, kw!]);
    return [spreadTo(g, gy!, kernel, x, { kernel: [kh!, kw!], stride: n.attrs.stride as number[], pads: n.attrs.pads as number[], groups: channels, ceil: n.attrs.ceil as boolean })];
  },
  resize: (g, n, [gy]) => {
    const s = n.attrs.scale as number;
    if (n.attrs.mode === 'linear') return [linearResizeBackward(g, gy!, n.inputs[0]!, s, n.attrs.coordinates !== 'asymmetric')];
    // Nearest by a whole factor: each input pixel was copied s×s times.
    if (Number.isInteger(s) && s >= 1) return [g.scale(g.avgPool(gy!, { kernel: s, stride: s }), s * s)];
    throw new AtelierError('E_ENGINE', `No backward rule for nearest resize by ${s}`, {
      hint: 'nearest resize is differentiable by whole factors; use linear resize for fractional scales',
    });
  },
  instanceNorm: (g, n, [gy]) => {
    // Statistics recomputed from x (two-pass variance). With c = x − mean, k = scale·invStd and the
    // per-instance means m1 = mean(dY), m2 = mean(dY·c): dX = k·dY − k·invStd²·m2·c − k·m1. Seven
    // full-size passes; x̂ itself is never materialised.
    const [x, scale] = n.inputs as [Tensor, Tensor];
    const eps = n.attrs.eps as number;
    const count = spatialCount(g, x);
    const mean = g.reduceMean(x, [2, 3], true);
    const centred = g.sub(x, mean);
    // (Mul + ReduceMean: ORT's ReduceSumSquare is 7× slower than the pair.)
    const variance = g.reduceMean(g.mul(centred, centred), [2, 3], true);
    const invStd = g.div(g.scalar(1), g.sqrt(g.add(variance, g.scalar(eps))));
    const k = g.mul(g.reshape(scale, [1, -1, 1, 1]), invStd);
    const s1 = g.reduceSum(gy!, [2, 3], true);
    const s2 = g.reduceSum(g.mul(gy!, centred), [2, 3], true);
    const cCoef = g.div(g.mul(g.mul(k, g.mul(invStd, invStd)), s2), count);
    const gx = g.sub(g.sub(g.mul(gy!, k), g.mul(centred, cCoef)), g.div(g.mul(k, s1), count));
    return [gx, g.reduceSum(g.mul(s2, invStd), [0, 2, 3]), g.reduceSum(s1, [0, 2, 3])];
  },
  conv: (g, n, [gy]) => {
    const [x, w, b] = n.inputs as [Tensor, Tensor, Tensor | undefined];
    return [convInputGrad(g, n, gy!, x, w), convWeightGrad(g, n, gy!, x, w), b ? g.reduceSum(gy!, [0, 2, 3]) : undefined];
  },
  convTranspose: (g, n, [gy]) => {
    // y = Aᵀx for the conv A with this kernel ([Cin, Cout, …] is a conv kernel from Cout to Cin
    // channels): dX = A·dY, a strided conv of dY; dW is that conv's kernel gradient with x as its
    // output gradient and dY as its input, so every kernel-gradient form of conv-backward.ts serves.
    const [x, w, b] = n.inputs as [Tensor, Tensor, Tensor | undefined];
    const pads = n.attrs.pads as [number, number, number, number];
    const stride = n.attrs.stride as [number, number];
    const asConv: Node = { ...n, op: 'conv', attrs: { stride, pads, dilation: [1, 1], groups: 1, kernel: n.attrs.kernel } };
    return [g.conv(gy!, w, undefined, { stride, pad: pads }), convWeightGrad(g, asConv, x, gy!, w), b ? g.reduceSum(gy!, [0, 2, 3]) : undefined];
  },
};

/** H·W of an NCHW tensor at run time, as a float scalar [1] of x's dtype. */
function spatialCount(g: Graph, x: Tensor): Tensor {
  const hw = g.onnx('Shape', [x], [{ shape: [2], dtype: 'int64' }], { start: attr.i(2), end: attr.i(4) })[0]!;
  const product = g.onnx('ReduceProd', [hw], [{ shape: [1], dtype: 'int64' }], { keepdims: attr.i(1) })[0]!;
  return g.onnx('Cast', [product], [{ shape: [1], dtype: x.dtype }], { to: attr.i(x.dtype === 'float64' ? 11 : 1) })[0]!;
}

/** reduceSum/reduceMean backward: put back the reduced axes and broadcast to the input's shape. */
function expandReduced(g: Graph, n: Node, gy: Tensor): Tensor {
  const x = n.inputs[0]!;
  const axes = n.attrs.axes as number[];
  const keptShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const kept = n.attrs.keepdims ? gy : g.onnx('Unsqueeze', [gy, g.int64(axes)], [{ shape: keptShape, dtype: gy.dtype }])[0]!;
  return g.onnx('Expand', [kept, shapeOf(g, x)], [{ shape: [...x.shape], dtype: x.dtype }])[0]!;
}

