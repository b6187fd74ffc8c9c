import { AtelierError } from '../../core/errors.js';
import type { Graph, Tensor } from '../graph/graph.js';

/**
 * The values of a foreign (TensorFlow / TFLite) graph while it is rebuilt with the engine's graph
 * builder. TensorFlow graphs are NHWC; the engine is NCHW. Every value keeps its shape as the
 * foreign graph states it (NHWC for images), and a 4-D activation is held as an NCHW engine tensor
 * (`nchw: true`): the image is transposed once at the graph input and once at the output, and the
 * ops in between (conv, pad, resize, reductions over H and W, per-channel arithmetic) use the
 * NCHW tensor with their axes mapped. Values the engine does not lay out as images (style vectors,
 * gamma tables) stay in the foreign order (`nchw: false`). Constants stay as numbers until an op
 * needs them in the graph, so shape arithmetic (Shape → StridedSlice → Pack) folds at import.
 */

/**
 * How norms get their spatial statistics: from the values they normalise ('own', as published);
 * 'capture' also outputs them; 'fed' reads them from graph inputs (tiles sharing whole-image ones).
 */
export type NormStatistics = 'own' | 'capture' | 'fed';

export interface ForeignValue {
  /** Shape in the foreign graph's order (NHWC for images). Sizes are fixed: one graph per input size. */
  shape: number[];
  /** Known at import: the values in the foreign order. */
  values?: Float32Array;
  tensor?: Tensor;
  /** Whether `tensor` is the NCHW permutation of this NHWC value. */
  nchw: boolean;
  /** A constant that becomes a named, trainable param of the graph (kept in the foreign order). */
  param?: string;
}

/** NHWC axis → its position in NCHW. */
export const NCHW_AXIS = [0, 2, 3, 1] as const;

export const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function constantValue(values: ArrayLike<number>, shape: number[]): ForeignValue {
  return { shape, values: Float32Array.from(values), nchw: false };
}

/** Permute a row-major array of `shape` by `perm` (out axis i = in axis perm[i]). */
export function permuteValues(values: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i]!;
  }
  const strides = perm.map((p) => inStrides[p]!);
  const out = new Float32Array(values.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let at = 0;
    for (let i = 0; i < rank; i++) at += idx[i]! * strides[i]!;
    out[o] = values[at]!;
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i]! < outShape[i]!) break;
      idx[i] = 0;
    }
  }
  return out;
}

/** Broadcast two shapes numpy-style (TensorFlow's rule). */
export function broadcastShapes(a: readonly number[], b: readonly number[], where: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new AtelierError('E_WEIGHTS_CORRUPT', `${where}: shapes [${a}] and [${b}] do not broadcast`, { expected: 'shapes that broadcast' });
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Evaluate a binary op on constants with broadcasting (import-time folding). */
export function foldBinary(a: ForeignValue, b: ForeignValue, f: (x: number, y: number) => number, where: string): ForeignValue {
  const shape = broadcastShapes(a.shape, b.shape, where);
  const rank = shape.length;
  const pad = (s: number[]) => [...new Array<number>(rank - s.length).fill(1), ...s];
  const sa = pad(a.shape);
  const sb = pad(b.shape);
  const out = new Float32Array(numel(shape));
  const idx = new Array<number>(rank).fill(0);
  const flat = (s: number[]) => {
    let at = 0;
    for (let i = 0; i < rank; i++) at = at * s[i]! + (s[i] === 1 ? 0 : idx[i]!);
    return at;
  };
  for (let o = 0; o < out.length; o++) {
    out[o] = f(a.values![flat(sa)]!, b.values![flat(sb)]!);
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i]! < shape[i]!) break;
      idx[i] = 0;
    }
  }
  return { shape, values: out, nchw: false };
}

/**
 * Emits engine ops for foreign values, converting layouts where an op needs it. The translators
 * (TFLite, GraphDef) call these; all engine-graph construction of imported networks goes through
 * here, so both formats share the NHWC ↔ NCHW rules.
 */
export class ForeignEmitter {
  /** The spatial statistics of this graph's norms, in order (see `NormStatistics`). */
  readonly statistics: { name: string; shape: number[] }[] = [];

  constructor(
    readonly g: Graph,
    readonly statisticsMode: NormStatistics = 'own',
  ) {}

  /** The value as an NCHW engine tensor (rank 4 only). */
  nchw(v: ForeignValue): Tensor {
    if (v.shape.length !== 4) throw new AtelierError('E_INTERNAL', `nchw() on a rank-${v.shape.length} value`);
    if (v.tensor && v.nchw) return v.tensor;
    if (v.param) throw new AtelierError('E_INTERNAL', `The trainable constant ${v.param} is used as an image-shaped value`);
    if (v.values) {
      const t = this.g.constant(permuteValues(v.values, v.shape, [0, 3, 1, 2]), NCHW_AXIS.map((_, i) => v.shape[[0, 3, 1, 2][i]!]!));
      return t;
    }
    return this.g.transpose(v.tensor!, [0, 3, 1, 2]);
  }

  private readonly params = new Map<string, Tensor>();

  /** The value as an engine tensor in the foreign order. */
  plain(v: ForeignValue): Tensor {
    if (v.tensor && !v.nchw) return v.tensor;
    if (v.param && v.values) {
      let p = this.params.get(v.param);
      if (!p) this.params.set(v.param, (p = this.g.param(v.param, v.shape, v.values)));
      return p;
    }
    if (v.values) return this.g.constant(v.values, v.shape);
    return this.g.transpose(v.tensor!, [0, 2, 3, 1]);
  }

  /** Wrap an NCHW tensor as a value of NHWC shape. */
  fromNchw(t: Tensor, nhwc: number[]): ForeignValue {
    return { shape: nhwc, tensor: t, nchw: true };
  }

  fromPlain(t: Tensor, shape: number[]): ForeignValue {
    return { shape, tensor: t, nchw: false };
  }

  /**
   * A binary elementwise op with broadcasting. When either side is an NCHW image, the other is
   * brought to NCHW too (a constant is permuted at import; a smaller tensor gets leading 1s and a
   * transpose), so the product of an image and a per-channel vector stays one broadcast op.
   */
  binary(op: 'add' | 'sub' | 'mul' | 'div', a: ForeignValue, b: ForeignValue, where: string): ForeignValue {
    const shape = broadcastShapes(a.shape, b.shape, where);
    const image = shape.length === 4 && ((a.tensor && a.nchw) || (b.tensor && b.nchw));
    if (image) {
      const to4 = (v: ForeignValue): Tensor => {
        if (v.shape.length === 4) return this.nchw(v);
        const s4 = [...new Array<number>(4 - v.shape.length).fill(1), ...v.shape];
        if (v.values) return this.nchw({ shape: s4, values: v.values, nchw: false });
        return this.g.transpose(this.g.reshape(v.tensor!, s4), [0, 3, 1, 2]);
      };
      return this.fromNchw(this.g[op](to4(a), to4(b)), shape);
    }
    return this.fromPlain(this.g[op](this.plain(a), this.plain(b)), shape);
  }

  /** Activations applied in place of TFLite's fused activation or TF's ops (layout-preserving). */
  activation(kind: 'relu' | 'relu6' | 'reluN1To1' | 'tanh' | 'sigmoid' | 'leakyRelu' | 'rsqrt' | 'square', v: ForeignValue, alpha = 0.2): ForeignValue {
    const g = this.g;
    const t = v.tensor && v.nchw ? v.tensor : this.plain(v);
    let y: Tensor;
    switch (kind) {
      case 'relu':
        y = g.relu(t);
        break;
      // Clipped ReLUs as differences of ReLUs: differentiable with the engine's existing rules.
      case 'relu6':
        y = g.sub(g.relu(t), g.relu(g.sub(t, g.scalar(6))));
        break;
      case 'reluN1To1':
        y = g.sub(g.sub(g.relu(g.add(t, g.scalar(1))), g.relu(g.sub(t, g.scalar(1)))), g.scalar(1));
        break;
      case 'tanh':
        y = g.tanh(t);
        break;
      case 'sigmoid':
        y = g.sigmoid(t);
        break;
      case 'leakyRelu':
        y = g.leakyRelu(t, alpha);
        break;
      case 'rsqrt':
        y = g.div(g.scalar(1), g.sqrt(t));
        break;
      case 'square':
        y = g.mul(t, t);
        break;
    }
    return { shape: v.shape, tensor: y, nchw: Boolean(v.tensor && v.nchw) };
  }

  /**
   * Reduce (mean or sum) over foreign axes. An NCHW image reduced over axes that keep the remaining
   * order (keep_dims, or H and W together) stays NCHW; otherwise the reduction runs in the foreign order.
   */
  reduce(kind: 'mean' | 'sum', v: ForeignValue, axes: number[], keepDims: boolean): ForeignValue {
    const rank = v.shape.length;
    const ax = [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort();
    const shape = keepDims ? v.shape.map((d, i) => (ax.includes(i) ? 1 : d)) : v.shape.filter((_, i) => !ax.includes(i));
    const op = kind === 'mean' ? 'reduceMean' : 'reduceSum';
    const kept = [0, 1, 2, 3].filter((a) => !ax.includes(a)).map((a) => NCHW_AXIS[a]!);
    const orderKept = kept.every((p, i) => i === 0 || p > kept[i - 1]!);
    if (v.tensor && v.nchw && keepDims && ax.includes(1) && ax.includes(2) && this.statisticsMode !== 'own') return this.sharedStatistic(kind, v, ax, shape);
    if (v.tensor && v.nchw && (keepDims || orderKept)) {
      const t = this.g[op](v.tensor!, ax.map((a) => NCHW_AXIS[a]!), keepDims);
      return keepDims ? this.fromNchw(t, shape) : this.fromPlain(t, shape);
    }
    return this.fromPlain(this.g[op](this.plain(v), ax, keepDims), shape);
  }

  /**
   * A mean (or sum) over H and W of an image — a norm's statistic — that tiles share: 'capture'
   * outputs it (as a mean) from a run on the whole image shrunk to one tile; 'fed' takes it as a graph
   * input instead of computing it from the tile (a sum is the fed mean times this tile's count).
   */
  private sharedStatistic(kind: 'mean' | 'sum', v: ForeignValue, ax: number[], shape: number[]): ForeignValue {
    const g = this.g;
    const axes = ax.map((a) => NCHW_AXIS[a]!);
    const name = `norm_statistic_${this.statistics.length}`;
    const nchwShape = [shape[0]!, shape[3]!, shape[1]!, shape[2]!];
    this.statistics.push({ name, shape: nchwShape });
    let mean: Tensor;
    if (this.statisticsMode === 'capture') {
      mean = g.reduceMean(v.tensor!, axes, true);
      g.output(name, mean);
    } else {
      mean = g.input(name, nchwShape);
    }
    const count = ax.reduce((p, a) => p * v.shape[a]!, 1);
    return this.fromNchw(kind === 'mean' ? mean : g.scale(mean, count), shape);
  }

  /** Reshape in the foreign (row-major NHWC) order; a 4-D result that looks like an image goes back to NCHW lazily. */
  reshape(v: ForeignValue, shape: number[]): ForeignValue {
    if (v.values) return { shape, values: v.values, nchw: false };
    // Dropping or adding unit axes around the channel axis of [1,1,1,C] needs no transpose.
    return this.fromPlain(this.g.reshape(this.plain(v), shape), shape);
  }
}
