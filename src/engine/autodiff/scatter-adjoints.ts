import type { Graph, Tensor } from '../graph/graph.js';
import { attr } from '../graph/onnx-model.js';
import { onnx1, range, shapeOf, sizeOf } from './raw-onnx.js';

/**
 * Adjoints of ops that gather: each output element read input elements at computed positions, so
 * the gradient is scatter-added back to those positions along one axis at a time (ScatterElements
 * with reduction add; linear in the tensor size). Positions are computed at run time from the
 * tensors' shapes, so height and width may stay dynamic.
 */

/** [n] → a shape of ones with n along `axis` (to broadcast against a rank-`rank` tensor). */
function along(g: Graph, t: Tensor, axis: number, rank: number, dtype = t.dtype): Tensor {
  const shape = Array.from({ length: rank }, (_, i) => (i === axis ? -1 : 1));
  return g.onnx('Reshape', [t, g.int64(shape)], [{ shape: shape.map((d) => (d < 0 ? 'n' : 1)), dtype }])[0]!;
}

/** `values` (shaped like `like` except along `axis`) as zeros of `like`'s size along `axis`. */
function zerosAlong(g: Graph, values: Tensor, like: Tensor, axis: number): Tensor {
  const rank = values.rank;
  const parts = [];
  if (axis > 0) parts.push(g.onnx('Shape', [values], [{ shape: [axis], dtype: 'int64' }], { end: attr.i(axis) })[0]!);
  parts.push(sizeOf(g, like, axis));
  if (axis < rank - 1) parts.push(g.onnx('Shape', [values], [{ shape: [rank - axis - 1], dtype: 'int64' }], { start: attr.i(axis + 1) })[0]!);
  const shape = parts.length === 1 ? parts[0]! : g.onnx('Concat', parts, [{ shape: [rank], dtype: 'int64' }], { axis: attr.i(0) })[0]!;
  const zero = { name: 'value', dtype: values.dtype, dims: [1], raw: new Uint8Array(values.dtype === 'float64' ? 8 : 4) };
  const outShape = values.shape.map((d, i) => (i === axis ? like.shape[axis]! : d));
  return g.onnx('ConstantOfShape', [shape], [{ shape: outShape, dtype: values.dtype }], { value: attr.t(zero) })[0]!;
}

/** Add `updates` into `data` at positions `index` (int64 [n], one per update slice) along `axis`. */
function scatterAdd(g: Graph, data: Tensor, updates: Tensor, index: Tensor, axis: number): Tensor {
  const indices = g.onnx('Expand', [along(g, index, axis, updates.rank, 'int64'), shapeOf(g, updates)], [{ shape: [...updates.shape], dtype: 'int64' }])[0]!;
  return onnx1(g, 'ScatterElements', [data, indices, updates], data, { axis: attr.i(axis), reduction: attr.s('add') });
}

/** Gather along `axis` by `indices` [P]: each picked value's gradient goes back to where it was read. */
export function gatherBackward(g: Graph, gy: Tensor, x: Tensor, indices: Tensor, axis: number): Tensor {
  return scatterAdd(g, zerosAlong(g, gy, x, axis), gy, indices, axis);
}

/**
 * Slice with steps along `axes`: element k of the result came from input position start + k·step
 * (start counted from the end when negative, then clamped as ONNX does).
 */
export function stridedSliceBackward(g: Graph, gy: Tensor, x: Tensor, axes: number[], starts: number[], steps: number[]): Tensor {
  let t = gy;
  axes.forEach((axis, i) => {
    const step = steps[i]!;
    const size = sizeOf(g, x, axis);
    const i64 = (op: string, a: Tensor, b: Tensor) => onnx1(g, op, [a, b], a, {}, 'int64');
    let start = starts[i]! < 0 ? i64('Add', size, g.int64([starts[i]!])) : g.int64([starts[i]!]);
    start = i64('Max', start, g.int64([0]));
    start = i64('Min', start, step > 0 ? size : i64('Sub', size, g.int64([1])));
    const positions = i64('Add', i64('Mul', range(g, g.int64([0]), sizeOf(g, t, axis)), g.int64([step])), start);
    t = scatterAdd(g, zerosAlong(g, t, x, axis), t, positions, axis);
  });
  return t;
}

/**
 * Linear resize (half-pixel centres, source coordinate clamped to the image, no antialiasing:
 * ONNX Runtime's `linear`): output o along an axis read inputs i0 = ⌊c⌋ and i1 = min(i0+1, n−1)
 * with weights 1−f and f, where c = clamp((o + ½)/scale − ½, 0, n−1) and f = c − i0.
 */
export function linearResizeBackward(g: Graph, gy: Tensor, x: Tensor, scale: number, halfPixel = true): Tensor {
  let t = gy;
  for (const axis of [3, 2]) {
    const n = sizeOf(g, x, axis);
    const f32 = (u: Tensor) => onnx1(g, 'Cast', [u], u, { to: attr.i(gy.dtype === 'float64' ? 11 : 1) }, gy.dtype);
    const last = f32(onnx1(g, 'Sub', [n, g.int64([1])], n, {}, 'int64'));
    const o = f32(range(g, g.int64([0]), sizeOf(g, t, axis)));
    // Where output pixel o reads the input: (o + ½)/scale − ½ at half-pixel centres, o/scale at corners.
    const centre = halfPixel ? g.sub(g.div(g.add(o, g.scalar(0.5)), g.scalar(scale)), g.scalar(0.5)) : g.div(o, g.scalar(scale));
    const c = onnx1(g, 'Min', [onnx1(g, 'Max', [centre, g.scalar(0)], centre), last], centre);
    const floor = onnx1(g, 'Floor', [c], c);
    const frac = g.sub(c, floor);
    const i0 = onnx1(g, 'Cast', [floor], floor, { to: attr.i(7) }, 'int64');
    const i1 = onnx1(g, 'Min', [onnx1(g, 'Add', [i0, g.int64([1])], i0, {}, 'int64'), onnx1(g, 'Sub', [n, g.int64([1])], n, {}, 'int64')], i0, {}, 'int64');
    const weight = (w: Tensor) => g.mul(t, along(g, w, axis, t.rank));
    const zeros = zerosAlong(g, t, x, axis);
    t = scatterAdd(g, scatterAdd(g, zeros, weight(g.sub(g.scalar(1), frac)), i0, axis), weight(frac), i1, axis);
  }
  return t;
}
