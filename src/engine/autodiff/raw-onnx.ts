import type { Graph, Tensor } from '../graph/graph.js';
import { attr } from '../graph/onnx-model.js';

/**
 * Building blocks for backward graphs made of plain ONNX nodes (shape arithmetic, index tensors,
 * scatters). They need no backward rules of their own: nothing differentiates a backward graph.
 */

/** One ONNX node with one output shaped like `like` (or of another dtype). */
export function onnx1(g: Graph, op: string, inputs: (Tensor | undefined)[], like: Tensor, attrs = {}, dtype = like.dtype): Tensor {
  return g.onnx(op, inputs, [{ shape: [...like.shape], dtype }], attrs)[0]!;
}

/** The run-time shape of `x`, as int64 [rank]. */
export function shapeOf(g: Graph, x: Tensor): Tensor {
  return g.onnx('Shape', [x], [{ shape: [x.rank], dtype: 'int64' }])[0]!;
}

/** The run-time size of one axis of `x`, as int64 [1]. */
export function sizeOf(g: Graph, x: Tensor, axis: number): Tensor {
  return g.onnx('Shape', [x], [{ shape: [1], dtype: 'int64' }], { start: attr.i(axis), end: attr.i(axis + 1) })[0]!;
}

export function zerosLike(g: Graph, x: Tensor): Tensor {
  const value = { name: 'value', dtype: x.dtype, dims: [1], raw: new Uint8Array(x.dtype === 'float64' ? 8 : 4) };
  return onnx1(g, 'ConstantOfShape', [shapeOf(g, x)], x, { value: attr.t(value) });
}

/** int64 [from, from+1, …, from+count−1] for int64 [1] tensors `from` and `count`. */
export function range(g: Graph, from: Tensor, count: Tensor): Tensor {
  const scalar = (t: Tensor) => g.onnx('Squeeze', [t], [{ shape: [], dtype: 'int64' }])[0]!;
  const end = onnx1(g, 'Add', [from, count], from, {}, 'int64');
  return g.onnx('Range', [scalar(from), scalar(end), scalar(g.int64([1]))], [{ shape: ['n'], dtype: 'int64' }])[0]!;
}
