import type { Graph, Tensor } from '../graph/graph.js';
import { SLICE_END } from '../graph/graph.js';
import { attr } from '../graph/onnx-model.js';
import { onnx1, range, sizeOf } from './raw-onnx.js';

/**
 * The adjoint of padding H and W. Zero padding crops. Reflect and edge padding copied border rows
 * and columns of the input into the pad, so the pad's gradient is added back where it came from:
 * the interior is cropped (one copy) and the four border bands, corners included, are scatter-added
 * onto it at once through flat H·W positions (one more copy). Two full-size copies, where folding
 * one axis after the other costs four; exact for every size the padding accepts (reflection needs
 * pad < size).
 */
export function padBackward(g: Graph, gy: Tensor, pads: [number, number, number, number], mode: 'constant' | 'reflect' | 'edge'): Tensor {
  const [t, l, b, r] = pads;
  const interior = g.slice(gy, [2, 3], [t, l], [b > 0 ? -b : SLICE_END, r > 0 ? -r : SLICE_END]);
  if (mode === 'constant' || pads.every((p) => p === 0)) return interior;

  const i64 = (op: string, ins: Tensor[], like: Tensor) => onnx1(g, op, ins, like, {}, 'int64');
  const height = sizeOf(g, interior, 2);
  const width = sizeOf(g, interior, 3);
  const zero = g.int64([0]);
  // Source index along an axis of size n for padded position q (counted from the interior's start):
  // reflect folds q into [0, n−1] as a triangle wave, edge clamps it.
  const source = (q: Tensor, n: Tensor) => {
    const last = i64('Sub', [n, g.int64([1])], n);
    if (mode === 'edge') return i64('Min', [i64('Max', [q, zero], q), last], q);
    return i64('Sub', [last, i64('Abs', [i64('Sub', [last, i64('Abs', [q], q)], q)], q)], q);
  };
  const fullRows = (from: number, count: Tensor) => source(range(g, g.int64([from]), count), height);
  const fullCols = source(range(g, g.int64([-l]), i64('Add', [width, g.int64([l + r])], width)), width);
  const interiorRows = range(g, zero, height);

  const bands: Tensor[] = [];
  const positions: Tensor[] = [];
  // flat = row·W + col over the band's [rows, cols] grid, flattened like the band.
  const add = (band: Tensor, rows: Tensor, cols: Tensor) => {
    const grid = i64('Add', [i64('Mul', [g.reshape(rows, [-1, 1]), width], rows), g.reshape(cols, [1, -1])], rows);
    bands.push(g.reshape(band, [0, 0, -1]));
    positions.push(g.reshape(grid, [-1]));
  };
  if (t > 0) add(g.slice(gy, [2], [0], [t]), fullRows(-t, g.int64([t])), fullCols);
  if (b > 0) add(g.slice(gy, [2], [-b], [SLICE_END]), source(range(g, height, g.int64([b])), height), fullCols);
  const middle = (from: number, to: number) => g.slice(gy, [2, 3], [t, from], [b > 0 ? -b : SLICE_END, to]);
  if (l > 0) add(middle(0, l), interiorRows, source(range(g, g.int64([-l]), g.int64([l])), width));
  if (r > 0) add(middle(-r, SLICE_END), interiorRows, source(range(g, width, g.int64([r])), width));

  const flat = g.reshape(interior, [0, 0, -1]);
  const updates = bands.length === 1 ? bands[0]! : g.concat(bands, 2);
  const index = positions.length === 1 ? positions[0]! : g.onnx('Concat', positions, [{ shape: ['k'], dtype: 'int64' }], { axis: attr.i(0) })[0]!;
  const updateShape = g.onnx('Shape', [updates], [{ shape: [3], dtype: 'int64' }])[0]!;
  const indices = g.onnx('Expand', [g.reshape(index, [1, 1, -1]), updateShape], [{ shape: [...updates.shape], dtype: 'int64' }])[0]!;
  const summed = onnx1(g, 'ScatterElements', [flat, indices, updates], flat, { axis: attr.i(2), reduction: attr.s('add') });
  return g.reshapeLike(summed, interior);
}
