import { AtelierError } from '../../core/errors.js';
import type { Graph, ParamHook, Tensor } from '../graph/graph.js';
import { constantValue, type ForeignEmitter, type ForeignValue, type NormStatistics } from './foreign-values.js';

/** What the importers (TFLite, GraphDef) take and give, and the op semantics both formats share. */

export interface ImportOptions {
  /** Fixed input shapes in the foreign order (NHWC), by input name; default: the file's own. */
  inputShapes?: Record<string, number[]>;
  /** Engine output names, in the order of the foreign graph's outputs (default: its tensor names). */
  outputNames?: string[];
  /** TFLite: which subgraph (default 0). */
  subgraph?: number;
  /** GraphDef: the nodes whose values are the outputs. */
  outputs?: string[];
  /**
   * Round each int8 activation to its quantisation grid as the TFLite kernels do (inference only:
   * the rounding has no gradient). Default: activations run in float32.
   */
  simulateQuantization?: boolean;
  /** Build into this graph (e.g. to add a loss and differentiate); default a new one. */
  graph?: Graph;
  /**
   * Tensors of `graph` that stand for some inputs (GraphDef placeholders, TFLite subgraph inputs) instead of new graph inputs
   * (an image batch N×C×H×W for an NHWC placeholder, a fixed style vector…), by placeholder name.
   */
  bind?: Record<string, Tensor>;
  /** GraphDef: constants (by node name) that become named params of the graph (to train them) instead of folded values. */
  trainableConstants?: (name: string) => boolean;
  /** Where norms take their spatial statistics (tiles share the whole image's): see NormStatistics. */
  normStatistics?: NormStatistics;
  /** Set on the graph before the weights are declared: LoRA adapters at run time (engine/lora/graph-adapter.ts). */
  paramHook?: ParamHook;
}

export interface ImportedGraph {
  graph: Graph;
  /** Engine inputs: images as NCHW (`nchw: true`, converted once at the boundary), others as in the file. */
  inputs: { name: string; shape: number[]; nchw: boolean }[];
  outputs: { name: string; shape: number[]; nchw: boolean }[];
  /** The norms' spatial statistics (NCHW means) the graph outputs ('capture') or takes ('fed'), in order. */
  statistics: { name: string; shape: number[] }[];
  source: string;
}

/**
 * TensorFlow's padding of a window op over NHWC `x`: VALID none; SAME enough for ⌈size/stride⌉
 * outputs, the odd pixel at the bottom/right. Returns [top, left, bottom, right].
 */
export function convPads(x: readonly number[], k: [number, number], stride: [number, number], dilation: [number, number], same: boolean): [number, number, number, number] {
  if (!same) return [0, 0, 0, 0];
  const one = (size: number, kk: number, s: number, d: number): [number, number] => {
    const out = Math.ceil(size / s);
    const total = Math.max((out - 1) * s + (kk - 1) * d + 1 - size, 0);
    return [Math.floor(total / 2), total - Math.floor(total / 2)];
  };
  const [t, b] = one(x[1]!, k[0], stride[0], dilation[0]);
  const [l, r] = one(x[2]!, k[1], stride[1], dilation[1]);
  return [t, l, b, r];
}

/**
 * TensorFlow's StridedSlice with begin/end/shrink masks (bit i: ignore begin[i] / end[i]; drop axis
 * i). Constants fold at import; tensors are sliced in the foreign order.
 */
export function stridedSlice(em: ForeignEmitter, x: ForeignValue, begin: number[], end: number[], strides: number[], beginMask: number, endMask: number, shrinkMask: number): ForeignValue {
  const rank = x.shape.length;
  const starts: number[] = [];
  const stops: number[] = [];
  const steps: number[] = [];
  const outShape: number[] = [];
  const kept: number[] = [];
  for (let i = 0; i < rank; i++) {
    const size = x.shape[i]!;
    const step = i < strides.length ? strides[i]! : 1;
    if (step === 0) throw new AtelierError('E_WEIGHTS_CORRUPT', 'A strided slice has a stride of 0', { expected: 'non-zero strides' });
    const norm = (v: number) => (v < 0 ? v + size : v);
    let s: number;
    let e: number;
    if (i >= begin.length) {
      [s, e] = step > 0 ? [0, size] : [size - 1, -1];
    } else {
      s = beginMask & (1 << i) ? (step > 0 ? 0 : size - 1) : Math.min(Math.max(norm(begin[i]!), step > 0 ? 0 : -1), step > 0 ? size : size - 1);
      e = endMask & (1 << i) ? (step > 0 ? size : -1) : Math.min(Math.max(norm(end[i]!), step > 0 ? 0 : -1), step > 0 ? size : size - 1);
    }
    if (shrinkMask & (1 << i)) {
      e = s + 1;
    } else kept.push(outShape.length);
    const n = Math.max(0, Math.ceil((e - s) / step));
    starts.push(s);
    stops.push(e);
    steps.push(step);
    outShape.push(n);
  }
  const finalShape = outShape.filter((_, i) => !(shrinkMask & (1 << i)));
  if (x.values) {
    const out: number[] = [];
    const idx = new Array<number>(rank).fill(0);
    const total = outShape.reduce((a, b) => a * b, 1);
    for (let o = 0; o < total; o++) {
      let at = 0;
      for (let i = 0; i < rank; i++) at = at * x.shape[i]! + starts[i]! + idx[i]! * steps[i]!;
      out.push(x.values[at]!);
      for (let i = rank - 1; i >= 0; i--) {
        if (++idx[i]! < outShape[i]!) break;
        idx[i] = 0;
      }
    }
    return constantValue(out, finalShape);
  }
  const t = em.g.slice(em.plain(x), [...Array(rank).keys()], starts, stops.map((e, i) => (e < 0 && steps[i]! < 0 ? -(2 ** 53 - 1) : e)), steps);
  return em.reshape(em.fromPlain(t, outShape), finalShape);
}

/**
 * An engine error while building an imported op means the file's own shapes do not fit together
 * (a damaged file): say so, with the operator, instead of blaming the engine.
 */
export function inconsistent(e: unknown, where: string, file: string): unknown {
  if (!(e instanceof AtelierError) || (e.code !== 'E_ENGINE' && e.code !== 'E_WEIGHTS_INVALID')) return e;
  return new AtelierError('E_WEIGHTS_CORRUPT', `The model's ${where} does not fit its inputs (${e.message})`, {
    subject: file,
    expected: 'operators whose shapes agree with their inputs',
    hint: 'the file is damaged or not the model it claims to be; pull it again',
    cause: e,
  });
}
