import type { Graph, Tensor } from '../graph/graph.js';
import { SLICE_END } from '../graph/graph.js';
import { attr } from '../graph/onnx-model.js';
import { onnx1, shapeOf, sizeOf } from './raw-onnx.js';

/**
 * The adjoint of padding H and W. Zero padding crops. Reflect and edge padding copied border rows
 * and columns of the input into the pad, so the pad's gradient is added back onto those rows: the
 * interior is cropped (one copy) and the two bands of each axis are scatter-added onto it. This is
 * exact for every size the padding itself accepts (reflection needs pad < size), where splicing
 * the bands with slices and a concat would cost three full copies per axis and fail on sizes
 * smaller than twice the pad.
 */
export function padBackward(g: Graph, gy: Tensor, pads: [number, number, number, number], mode: 'constant' | 'reflect' | 'edge'): Tensor {
  const [t, l, b, r] = pads;
  if (mode === 'constant') return g.slice(gy, [2, 3], [t, l], [b > 0 ? -b : SLICE_END, r > 0 ? -r : SLICE_END]);
  return foldAxis(g, foldAxis(g, gy, 2, t, b, mode), 3, l, r, mode);
}

/**
 * Along `axis`: crop `before` and `after`, then add the cropped bands onto the rows they were
 * copied from (see `addBands`).
 */
function foldAxis(g: Graph, gy: Tensor, axis: number, before: number, after: number, mode: 'reflect' | 'edge'): Tensor {
  if (before === 0 && after === 0) return gy;
  const interior = g.slice(gy, [axis], [before], [after > 0 ? -after : SLICE_END]);
  const start = before > 0 ? { band: g.slice(gy, [axis], [0], [before]), size: before } : undefined;
  const end = after > 0 ? { band: g.slice(gy, [axis], [-after], [SLICE_END]), size: after } : undefined;
  return addBands(g, interior, axis, start, end, mode);
}

/**
 * Add the gradients of a padding's two bands along `axis` onto the input rows they were copied
 * from. Reflection: row k of the start band came from input row (band size) − k, row k of the end
 * band (k = 0 next to the input) from row size − 2 − k. Edge: rows 0 and size − 1.
 */
interface Band {
  band: Tensor;
  /** Its size along the axis (the band's own shape may only know it symbolically). */
  size: number;
}

function addBands(g: Graph, interior: Tensor, axis: number, start: Band | undefined, end: Band | undefined, mode: 'reflect' | 'edge'): Tensor {
  if (!start && !end) return interior;
  const column = (rows: number) => interior.shape.map((_, i) => (i === axis ? rows : 1));
  const bands: Tensor[] = [];
  const rows: Tensor[] = [];
  if (start) {
    const before = start.size;
    bands.push(start.band);
    rows.push(g.int64(Array.from({ length: before }, (_, k) => (mode === 'edge' ? 0 : before - k)), column(before)));
  }
  if (end) {
    const after = end.size;
    bands.push(end.band);
    const size = g.reshape(sizeOf(g, interior, axis), column(1));
    const fromEnd = g.int64(Array.from({ length: after }, (_, k) => (mode === 'edge' ? 1 : 2 + k)), column(after));
    rows.push(g.onnx('Sub', [size, fromEnd], [{ shape: column(after), dtype: 'int64' }])[0]!);
  }
  const total = (start?.size ?? 0) + (end?.size ?? 0);
  const updates = bands.length === 1 ? bands[0]! : g.concat(bands, axis);
  const rowIndex = rows.length === 1 ? rows[0]! : g.onnx('Concat', rows, [{ shape: column(total), dtype: 'int64' }], { axis: attr.i(axis) })[0]!;
  const bandShape = interior.shape.map((d, i) => (i === axis ? total : d));
  const indices = g.onnx('Expand', [rowIndex, shapeOf(g, updates)], [{ shape: bandShape, dtype: 'int64' }])[0]!;
  return onnx1(g, 'ScatterElements', [interior, indices, updates], interior, { axis: attr.i(axis), reduction: attr.s('add') });
}
