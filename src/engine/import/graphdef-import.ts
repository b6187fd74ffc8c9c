import { AtelierError } from '../../core/errors.js';
import { Graph, type Tensor } from '../graph/graph.js';
import type { TfAttr, TfGraph, TfNode } from '../weights/graphdef.js';
import { executionOrder } from './execution-order.js';
import { constantValue, ForeignEmitter, foldBinary, NCHW_AXIS, numel, permuteValues, type ForeignValue } from './foreign-values.js';
import { convPads, inconsistent, stridedSlice, type ImportedGraph, type ImportOptions } from './imported-graph.js';

/**
 * A TensorFlow 1 frozen graph rebuilt as an engine graph (see tflite-import.ts for the principles).
 *
 * TensorFlow's 8-bit rewrite (`quantize_graph --mode=eightbit`) wraps each float op X as
 * Dequantize(Requantize(QuantizedX(QuantizeV2(x, min(x), max(x)), weights_quint8, ranges))). The
 * importer reads that pattern as X in float32: QuantizeV2, Requantize and Dequantize pass the value
 * on, the min/max side computations are never built (nothing the outputs need reads them), and
 * quint8 weights are dequantised at import with their min/max constants. The rebuilt graph thus
 * computes what the float network did, without the activations' 8-bit rounding.
 */

/** The inputs each op reads for its value (the rest are quantisation ranges the float graph does not need). */
const VALUE_INPUTS: Record<string, (n: TfNode) => number[]> = {
  QuantizeV2: () => [0],
  Requantize: () => [0],
  Dequantize: () => [0],
  QuantizedRelu: () => [0],
  QuantizedRelu6: () => [0],
  QuantizedReshape: () => [0, 1],
  QuantizedConv2D: () => [0, 1, 4, 5],
  QuantizedBiasAdd: () => [0, 1, 4, 5],
};

const SUPPORTED = [
  'Placeholder', 'Const', 'Identity', 'Conv2D', 'DepthwiseConv2dNative', 'BiasAdd', 'QuantizedConv2D', 'QuantizeV2', 'Requantize',
  'Dequantize', 'QuantizedRelu', 'QuantizedRelu6', 'QuantizedReshape', 'MirrorPad', 'Pad', 'Relu', 'Relu6', 'LeakyRelu', 'Tanh', 'Sigmoid',
  'Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'SquaredDifference', 'Square', 'Rsqrt', 'Reciprocal', 'Sum', 'Mean', 'Prod', 'Shape', 'Cast',
  'Gather', 'GatherV2', 'ExpandDims', 'Squeeze', 'Reshape', 'StridedSlice', 'Pack', 'ConcatV2', 'ResizeNearestNeighbor', 'ResizeBilinear', 'AvgPool',
];

export function importGraphDef(tf: TfGraph, options: ImportOptions & { outputs: string[] }): ImportedGraph {
  const g = options.graph ?? new Graph();
  if (options.paramHook) g.paramHook = options.paramHook;
  const em = new ForeignEmitter(g, options.normStatistics ?? 'own');
  const byName = new Map(tf.nodes.map((n) => [n.name, n]));
  const key = (input: string) => (input.includes(':') ? input : `${input}:0`);
  const label = (n: TfNode) => `node "${n.name}" (${n.op})`;
  const values = new Map<string, ForeignValue>();
  const inputs: ImportedGraph['inputs'] = [];
  const sources = new Set<string>();

  for (const n of tf.nodes) {
    if (n.op === 'Const') {
      const a = n.attrs.value;
      if (a?.kind !== 'tensor') throw corrupt(tf.file, n, 'a Const with a tensor value');
      const param = options.trainableConstants?.(n.name) ? { param: n.name } : {};
      values.set(`${n.name}:0`, { ...constantValue(a.value.values, a.value.shape), ...{ name: n.name, dtype: a.value.dtype }, ...param } as ForeignValue);
      sources.add(`${n.name}:0`);
    }
  }
  const wanted = options.outputs.map(key);
  for (const w of wanted) if (!byName.has(w.split(':')[0]!)) throw new AtelierError('E_PARAM', `The graph has no node "${w}"`, { subject: tf.file });
  // Placeholders the outputs depend on become engine inputs.
  for (const n of tf.nodes) {
    if (n.op !== 'Placeholder') continue;
    const declared = n.attrs.shape?.kind === 'shape' ? n.attrs.shape.value : [];
    const shape = options.inputShapes?.[n.name] ?? declared;
    sources.add(`${n.name}:0`);
    if (shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
      values.set(`${n.name}:0`, { shape: [], nchw: false, pending: true } as never);
      continue;
    }
    addInput(n, shape);
  }
  function addInput(n: TfNode, shape: number[]) {
    const bound = options.bind?.[n.name];
    if (bound) {
      const dims = bound.shape as number[];
      const expected = shape.length === 4 ? [shape[0]!, shape[3]!, shape[1]!, shape[2]!] : shape;
      if (dims.length !== expected.length || dims.some((d, i) => d !== expected[i])) {
        throw new AtelierError('E_INTERNAL', `The tensor bound to "${n.name}" has the wrong shape`, { expected: `[${expected.join(', ')}]`, received: `[${dims.join(', ')}]` });
      }
      values.set(`${n.name}:0`, shape.length === 4 ? em.fromNchw(bound, shape) : em.fromPlain(bound, shape));
      return;
    }
    if (shape.length === 4) {
      const x = g.input(n.name, [shape[0]!, shape[3]!, shape[1]!, shape[2]!]);
      values.set(`${n.name}:0`, em.fromNchw(x, shape));
      inputs.push({ name: n.name, shape: [...x.shape] as number[], nchw: true });
    } else {
      const x = g.input(n.name, shape);
      values.set(`${n.name}:0`, em.fromPlain(x, shape));
      inputs.push({ name: n.name, shape, nchw: false });
    }
  }

  const ops = tf.nodes.filter((n) => n.op !== 'Const' && n.op !== 'Placeholder');
  const order = executionOrder(
    ops.map((n) => ({
      label: label(n),
      inputs: (VALUE_INPUTS[n.op]?.(n) ?? n.inputs.map((_, i) => i)).map((i) => key(n.inputs[i] ?? '')),
      outputs: [0, 1, 2].map((k) => `${n.name}:${k}`),
    })),
    wanted,
    sources,
    tf.file,
  );

  const params = new Map<string, Tensor>();
  const weight = (name: string, shape: number[], data: Float32Array): Tensor => {
    let p = params.get(name);
    if (!p) {
      p = g.param(name.startsWith('_t') ? `w${name}` : name, shape, data);
      params.set(name, p);
    }
    return p;
  };

  for (const index of order) {
    const n = ops[index]!;
    try {
      const where = `${label(n)} of ${tf.file}`;
      const input = (i: number): ForeignValue => {
        const v = values.get(key(n.inputs[i] ?? ''));
        if (!v) throw new AtelierError('E_INTERNAL', `${label(n)} reads "${n.inputs[i]}" before it is computed`, { subject: tf.file });
        if ((v as { pending?: boolean }).pending) {
          throw new AtelierError('E_PARAM', `Input "${n.inputs[i]}" needs a fixed shape`, { subject: tf.file, hint: 'pass inputShapes for it' });
        }
        return v;
      };
      const constant = (i: number, what: string): Float32Array => {
        const v = input(i);
        if (!v.values) throw unsupported(tf.file, n, `a ${what} computed at run time (only constants are supported)`);
        return v.values;
      };
      const ints = (name: string): number[] => {
        const a = n.attrs[name];
        return a?.kind === 'list' ? a.ints : [];
      };
      const attrS = (name: string): string | undefined => {
        const a: TfAttr | undefined = n.attrs[name];
        return a?.kind === 's' ? a.value : undefined;
      };
      const flag = (name: string): boolean => {
        const a = n.attrs[name];
        return a?.kind === 'b' ? a.value : false;
      };
      const intAttr = (name: string): number => {
        const a = n.attrs[name];
        return a?.kind === 'i' ? a.value : 0;
      };
      let out: ForeignValue;
      switch (n.op) {
        case 'Identity':
        case 'QuantizeV2':
        case 'Requantize':
        case 'Dequantize':
          out = input(0);
          break;
        case 'Conv2D':
        case 'QuantizedConv2D':
        case 'DepthwiseConv2dNative': {
          const x = input(0);
          const fv = input(1);
          let filter = constant(1, 'filter');
          if (n.op === 'QuantizedConv2D') filter = dequantizeQuint8(filter, constant(4, 'filter min')[0]!, constant(5, 'filter max')[0]!, tf.file, n);
          const [kh, kw, fi, fo] = fv.shape as [number, number, number, number];
          const s = ints('strides');
          const d = ints('dilations');
          if ((s.length && (s[0] !== 1 || s[3] !== 1)) || attrS('data_format') === 'NCHW') throw unsupported(tf.file, n, 'a layout or stride other than NHWC with strides over H and W');
          const stride: [number, number] = [s[1] ?? 1, s[2] ?? 1];
          const dilation: [number, number] = [d[1] ?? 1, d[2] ?? 1];
          const padding = attrS('padding');
          if (padding !== 'SAME' && padding !== 'VALID') throw unsupported(tf.file, n, `padding ${padding}`);
          const pads = convPads(x.shape, [kh, kw], stride, dilation, padding === 'SAME');
          const name = (n.inputs[1] ?? n.name).split(':')[0]!;
          const dw = n.op === 'DepthwiseConv2dNative';
          // TF filters are HWIO (depthwise: H, W, C, multiplier) → engine OIHW ([C·m, 1, H, W], groups C).
          const w = dw ? weight(name, [fi * fo, 1, kh, kw], permuteValues(filter, fv.shape, [2, 3, 0, 1])) : weight(name, [fo, fi, kh, kw], permuteValues(filter, fv.shape, [3, 2, 0, 1]));
          const y = g.conv(em.nchw(x), w, undefined, { stride, dilation, pad: pads, groups: dw ? fi : 1 });
          const [nn, c, h, ww] = y.shape as number[];
          out = em.fromNchw(y, [nn!, h!, ww!, c!]);
          break;
        }
        case 'BiasAdd':
          out = em.binary('add', input(0), input(1), where);
          break;
        case 'QuantizedRelu':
        case 'Relu':
          out = em.activation('relu', input(0));
          break;
        case 'QuantizedRelu6':
        case 'Relu6':
          out = em.activation('relu6', input(0));
          break;
        case 'LeakyRelu': {
          const a = n.attrs.alpha;
          out = em.activation('leakyRelu', input(0), a?.kind === 'f' ? a.value : 0.2);
          break;
        }
        case 'Tanh':
          out = em.activation('tanh', input(0));
          break;
        case 'Sigmoid':
          out = em.activation('sigmoid', input(0));
          break;
        case 'Rsqrt':
          out = fold1(input(0), (v) => 1 / Math.sqrt(v)) ?? em.activation('rsqrt', input(0));
          break;
        case 'Square':
          out = fold1(input(0), (v) => v * v) ?? em.activation('square', input(0));
          break;
        case 'Reciprocal':
          out = fold1(input(0), (v) => 1 / v) ?? em.binary('div', constantValue([1], []), input(0), where);
          break;
        case 'Cast':
          out = fold1(input(0), (v) => v) ?? input(0);
          break;
        case 'Add':
        case 'AddV2':
        case 'Sub':
        case 'Mul':
        case 'RealDiv': {
          const op = ({ Add: 'add', AddV2: 'add', Sub: 'sub', Mul: 'mul', RealDiv: 'div' } as const)[n.op];
          const f = { add: (p: number, q: number) => p + q, sub: (p: number, q: number) => p - q, mul: (p: number, q: number) => p * q, div: (p: number, q: number) => p / q }[op];
          const [a, b] = [input(0), input(1)];
          out = a.values && b.values ? foldBinary(a, b, f, where) : em.binary(op, a, b, where);
          break;
        }
        case 'SquaredDifference':
          out = em.activation('square', em.binary('sub', input(0), input(1), where));
          break;
        case 'Sum':
        case 'Mean':
        case 'Prod': {
          const x = input(0);
          const axes = Array.from(constant(1, 'axis list'));
          const keep = flag('keep_dims');
          if (x.values) {
            out = foldReduce(x, axes, keep, n.op);
          } else {
            if (n.op === 'Prod') throw unsupported(tf.file, n, 'a product over run-time values');
            out = em.reduce(n.op === 'Sum' ? 'sum' : 'mean', x, axes, keep);
          }
          break;
        }
        case 'Shape':
          out = constantValue(input(0).shape, [input(0).shape.length]);
          break;
        case 'Gather':
        case 'GatherV2': {
          const x = input(0);
          const idx = Array.from(constant(1, 'index list'));
          if (!x.values || x.shape.length !== 1) throw unsupported(tf.file, n, 'gathering from a run-time or multi-axis tensor');
          out = constantValue(idx.map((i) => x.values![i]!), [idx.length]);
          break;
        }
        case 'ExpandDims': {
          const x = input(0);
          let axis = constant(1, 'axis')[0]!;
          if (axis < 0) axis += x.shape.length + 1;
          const shape = [...x.shape];
          shape.splice(axis, 0, 1);
          out = em.reshape(x, shape);
          break;
        }
        case 'Squeeze': {
          const x = input(0);
          const dims = ints('squeeze_dims').map((a) => (a < 0 ? a + x.shape.length : a));
          out = em.reshape(x, x.shape.filter((d, i) => !(d === 1 && (dims.length === 0 || dims.includes(i)))));
          break;
        }
        case 'Reshape':
        case 'QuantizedReshape': {
          const x = input(0);
          const given = Array.from(constant(1, 'shape'));
          const known = given.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
          out = em.reshape(x, given.map((d) => (d === -1 ? numel(x.shape) / known : d)));
          break;
        }
        case 'StridedSlice': {
          if (intAttr('ellipsis_mask') || intAttr('new_axis_mask')) throw unsupported(tf.file, n, 'ellipsis or new-axis masks');
          out = stridedSlice(em, input(0), Array.from(constant(1, 'begin')), Array.from(constant(2, 'end')), Array.from(constant(3, 'strides')), intAttr('begin_mask'), intAttr('end_mask'), intAttr('shrink_axis_mask'));
          break;
        }
        case 'Pack': {
          if (intAttr('axis') !== 0) throw unsupported(tf.file, n, 'packing along an axis other than 0');
          const parts = n.inputs.map((_, i) => constant(i, 'packed value'));
          out = constantValue(parts.flatMap((p) => Array.from(p)), [parts.length, ...input(0).shape]);
          break;
        }
        case 'ConcatV2': {
          const count = n.inputs.length - 1;
          const parts = n.inputs.slice(0, count).map((_, i) => input(i));
          const rank = parts[0]!.shape.length;
          let axis = constant(count, 'axis')[0]!;
          if (axis < 0) axis += rank;
          const shape = [...parts[0]!.shape];
          shape[axis] = parts.reduce((s, v) => s + v.shape[axis]!, 0);
          out = rank === 4 ? em.fromNchw(g.concat(parts.map((v) => em.nchw(v)), NCHW_AXIS[axis]!), shape) : em.fromPlain(g.concat(parts.map((v) => em.plain(v)), axis), shape);
          break;
        }
        case 'MirrorPad':
        case 'Pad': {
          const x = input(0);
          const p = Array.from(constant(1, 'padding'));
          if (x.shape.length !== 4 || p[0] || p[1] || p[6] || p[7]) throw unsupported(tf.file, n, `padding [${p}] outside H and W`);
          const mode = n.op === 'Pad' ? 'constant' : attrS('mode') === 'REFLECT' ? 'reflect' : undefined;
          if (!mode) throw unsupported(tf.file, n, `mirror padding mode ${attrS('mode')}`);
          const y = g.pad(em.nchw(x), [p[2]!, p[4]!, p[3]!, p[5]!], mode);
          out = em.fromNchw(y, [x.shape[0]!, x.shape[1]! + p[2]! + p[3]!, x.shape[2]! + p[4]! + p[5]!, x.shape[3]!]);
          break;
        }
        case 'ResizeNearestNeighbor':
        case 'ResizeBilinear': {
          const x = input(0);
          const [h, w] = Array.from(constant(1, 'output size'));
          if (flag('align_corners')) throw unsupported(tf.file, n, 'align_corners resizing');
          const half = flag('half_pixel_centers');
          const nearest = n.op === 'ResizeNearestNeighbor';
          if (nearest && half) throw unsupported(tf.file, n, 'half-pixel nearest resizing');
          const scale = h! / x.shape[1]!;
          if (w! / x.shape[2]! !== scale) throw unsupported(tf.file, n, 'different scales for H and W');
          const y = g.resize(em.nchw(x), scale, nearest ? 'nearest' : 'linear', half ? 'half_pixel' : 'asymmetric');
          out = em.fromNchw(y, [x.shape[0]!, h!, w!, x.shape[3]!]);
          break;
        }
        case 'AvgPool': {
          const x = input(0);
          const k = ints('ksize');
          const s = ints('strides');
          const pads = convPads(x.shape, [k[1]!, k[2]!], [s[1]!, s[2]!], [1, 1], attrS('padding') === 'SAME');
          if (pads.some((p) => p > 0)) throw unsupported(tf.file, n, 'SAME average pooling with padding');
          const y = g.avgPool(em.nchw(x), { kernel: [k[1]!, k[2]!], stride: [s[1]!, s[2]!] });
          const [nn, c, h, ww] = y.shape as number[];
          out = em.fromNchw(y, [nn!, h!, ww!, c!]);
          break;
        }
        default:
          throw unsupported(tf.file, n, undefined);
      }
      values.set(`${n.name}:0`, out);
    } catch (e) {
      throw inconsistent(e, label(n), tf.file);
    }
  }

  const outputs: ImportedGraph['outputs'] = wanted.map((w, k) => {
    const v = values.get(w)!;
    const name = options.outputNames?.[k] ?? w.replace(/:0$/, '');
    const t = v.shape.length === 4 ? em.nchw(v) : em.plain(v);
    g.output(name, t);
    return { name, shape: [...t.shape] as number[], nchw: v.shape.length === 4 };
  });
  return { graph: g, inputs, outputs, statistics: em.statistics, source: tf.file };
}

function fold1(v: ForeignValue, f: (x: number) => number): ForeignValue | undefined {
  return v.values ? constantValue(Array.from(v.values, f), v.shape) : undefined;
}

function foldReduce(x: ForeignValue, axes: number[], keep: boolean, op: string): ForeignValue {
  const rank = x.shape.length;
  const ax = axes.map((a) => (a < 0 ? a + rank : a));
  const outShapeKeep = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const out = new Float32Array(numel(outShapeKeep)).fill(op === 'Prod' ? 1 : 0);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < x.values!.length; i++) {
    let at = 0;
    for (let a = 0; a < rank; a++) at = at * outShapeKeep[a]! + (ax.includes(a) ? 0 : idx[a]!);
    out[at] = op === 'Prod' ? out[at]! * x.values![i]! : out[at]! + x.values![i]!;
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a]! < x.shape[a]!) break;
      idx[a] = 0;
    }
  }
  if (op === 'Mean') {
    const count = ax.reduce((p, a) => p * x.shape[a]!, 1);
    for (let i = 0; i < out.length; i++) out[i]! /= count;
  }
  return constantValue(out, keep ? outShapeKeep : x.shape.filter((_, i) => !ax.includes(i)));
}

/**
 * quint8 weights of TF's eight-bit graphs: QuantizedConv2D computes with (q − offset) where
 * offset = −round(min·255/(max − min)) is zero's code (TF's FloatToQuantizedUnclamped), so the
 * weight it applies is (q − offset)·(max − min)/255.
 */
export function dequantizeQuint8(q: Float32Array, min: number, max: number, file: string, n: TfNode): Float32Array {
  if (!(max > min) || !Number.isFinite(min) || !Number.isFinite(max)) {
    throw new AtelierError('E_WEIGHTS_CORRUPT', `The quantised weights of ${n.name} have an empty or invalid range`, {
      subject: file,
      expected: 'min < max (a positive quantisation scale)',
      received: `min ${min}, max ${max}`,
      hint: 'the file is damaged; pull the model again',
    });
  }
  const step = (max - min) / 255;
  // std::round: halves away from zero (Math.round would take −127.5 to −127).
  const scaled = min / step;
  const offset = -Math.sign(scaled) * Math.round(Math.abs(scaled));
  return Float32Array.from(q, (v) => (v - offset) * step);
}

function corrupt(file: string, n: TfNode, expected: string): AtelierError {
  return new AtelierError('E_WEIGHTS_CORRUPT', `${n.op} node "${n.name}" is malformed`, { subject: file, expected });
}

function unsupported(file: string, n: TfNode, detail: string | undefined): AtelierError {
  return new AtelierError('E_WEIGHTS_CORRUPT', detail ? `TensorFlow node "${n.name}" (${n.op}) uses ${detail}, which the importer does not support` : `TensorFlow node "${n.name}" is a ${n.op}, which the importer does not support`, {
    subject: file,
    expected: SUPPORTED.join(', '),
    received: `${n.op} at node "${n.name}"`,
    hint: 'this network needs an operator Atelier cannot rebuild; nothing was skipped',
  });
}
