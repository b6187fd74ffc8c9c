import { AtelierError } from '../../core/errors.js';
import { Graph, type Tensor } from '../graph/graph.js';
import type { FbTable } from '../weights/flatbuffer-table.js';
import { tfliteTensorValues, type TfliteModel, type TfliteOperator, type TfliteTensor } from '../weights/tflite.js';
import { executionOrder } from './execution-order.js';
import { constantValue, ForeignEmitter, foldBinary, NCHW_AXIS, numel, permuteValues, type ForeignValue } from './foreign-values.js';
import { convPads, inconsistent, stridedSlice, type ImportedGraph, type ImportOptions } from './imported-graph.js';

/**
 * A TFLite subgraph rebuilt as an engine graph with the builder's ops, so an imported network
 * tiles, differentiates, fine-tunes and takes LoRA adapters like one written by hand. Quantised and
 * float16 constants are dequantised to float32 at import (DEQUANTIZE of a constant folds away);
 * quantised activations run in float (QUANTIZE / DEQUANTIZE of an activation are the identity),
 * or, with `simulateQuantization`, are rounded to their int8 grid as the TFLite kernels would.
 * Option tables are read with schema.fbs's field ids (noted at each use).
 */

const FUSED = ['none', 'relu', 'reluN1To1', 'relu6', 'tanh', 'signBit'] as const;

export function importTflite(model: TfliteModel, options: ImportOptions = {}): ImportedGraph {
  const sg = model.subgraphs[options.subgraph ?? 0];
  if (!sg) throw new AtelierError('E_PARAM', `The model has no subgraph ${options.subgraph}`, { subject: model.file });
  const g = options.graph ?? new Graph();
  if (options.paramHook) g.paramHook = options.paramHook;
  const em = new ForeignEmitter(g, options.normStatistics ?? 'own');
  const values = new Map<number, ForeignValue>();
  const key = (i: number) => String(i);
  const label = (o: TfliteOperator) => `operator ${o.index} (${o.op})`;

  // Graph inputs: NHWC images become NCHW engine inputs (the one transpose on the way in).
  const inputs: ImportedGraph['inputs'] = [];
  for (const i of sg.inputs) {
    const t = sg.tensors[i]!;
    const shape = options.inputShapes?.[t.name] ?? t.shape;
    if (shape.length !== t.shape.length || shape.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new AtelierError('E_PARAM', `Input "${t.name}" needs a fixed shape of rank ${t.shape.length}`, { subject: model.file, received: `[${shape}]` });
    }
    const bound = options.bind?.[t.name];
    if (bound) {
      // A tensor of the caller's graph stands for this input (a training batch, a fixed style vector).
      const expected = shape.length === 4 ? [shape[0]!, shape[3]!, shape[1]!, shape[2]!] : shape;
      const dims = bound.shape as number[];
      if (dims.length !== expected.length || dims.some((d, k) => d !== expected[k])) {
        throw new AtelierError('E_INTERNAL', `The tensor bound to "${t.name}" has the wrong shape`, { expected: `[${expected.join(', ')}]`, received: `[${dims.join(', ')}]` });
      }
      values.set(i, shape.length === 4 ? em.fromNchw(bound, shape) : em.fromPlain(bound, shape));
      continue;
    }
    if (shape.length === 4) {
      const x = g.input(t.name, [shape[0]!, shape[3]!, shape[1]!, shape[2]!]);
      values.set(i, em.fromNchw(x, shape));
      inputs.push({ name: t.name, shape: [...x.shape] as number[], nchw: true });
    } else {
      const x = g.input(t.name, shape);
      values.set(i, em.fromPlain(x, shape));
      inputs.push({ name: t.name, shape, nchw: false });
    }
  }
  // The file's own image input size and the one asked for (for constants the size is baked into).
  const imageInput = sg.inputs.find((i) => sg.tensors[i]!.shape.length === 4);
  const native = imageInput === undefined ? undefined : sg.tensors[imageInput]!.shape;
  const actual = imageInput === undefined ? undefined : values.get(imageInput)!.shape;
  const sources = new Set<string>(sg.inputs.map(key));
  sg.tensors.forEach((t, i) => t.data && sources.add(key(i)));

  const order = executionOrder(
    sg.operators.map((o) => ({ label: label(o), inputs: o.inputs.filter((i) => i >= 0).map(key), outputs: o.outputs.map(key) })),
    sg.outputs.map(key),
    sources,
    model.file,
  );

  const usedNames = new Set<string>();
  const paramName = (t: TfliteTensor) => {
    let name = t.name || `tensor${t.index}`;
    if (usedNames.has(name) || name.startsWith('_t')) name = `${name}#${t.index}`;
    usedNames.add(name);
    return name;
  };
  const valueOf = (i: number, o: TfliteOperator): ForeignValue => {
    const v = values.get(i);
    if (v) return v;
    const t = sg.tensors[i]!;
    if (t.data) {
      let c = { ...constantValue(tfliteTensorValues(model, t), t.shape), name: paramName(t) } as ForeignValue & { name: string };
      const resized = imageSizedFill(c, native, actual);
      if (resized) c = { ...resized, name: c.name };
      values.set(i, c);
      return c;
    }
    throw new AtelierError('E_INTERNAL', `${label(o)} reads tensor ${i} before it is computed`, { subject: model.file });
  };
  /** A weight as a trainable parameter (fine-tuning, LoRA) in the engine's layout. */
  const params = new WeakMap<ForeignValue, Tensor>();
  const weight = (v: ForeignValue, shape: number[], data: Float32Array): Tensor => {
    let p = params.get(v);
    if (!p) {
      p = g.param((v as { name?: string }).name ?? `w${g.params.length}`, shape, data);
      params.set(v, p);
    }
    return p;
  };

  for (const index of order) {
    const o = sg.operators[index]!;
    try {
      const where = `${label(o)} of ${model.file}`;
      const ins = o.inputs.map((i) => (i < 0 ? undefined : valueOf(i, o)));
      const outT = sg.tensors[o.outputs[0]!]!;
      let out: ForeignValue;
      const opt = o.options;
      const fused = (v: ForeignValue, field: number): ForeignValue => {
        const code = opt?.scalar(field, 'int8') ?? 0;
        const kind = FUSED[code];
        if (kind === 'none') return v;
        if (!kind || kind === 'signBit') throw unsupported(model.file, o, `fused activation ${kind ?? code}`);
        return em.activation(kind, v);
      };
      const needConst = (v: ForeignValue | undefined, what: string): Float32Array => {
        if (!v?.values) throw unsupported(model.file, o, `a ${what} computed at run time (only constants are supported)`);
        return v.values;
      };
      switch (o.op) {
        case 'CONV_2D':
        case 'DEPTHWISE_CONV_2D': {
          // Conv2DOptions: 0 padding, 1 stride_w, 2 stride_h, 3 fused act, 4 dilation_w, 5 dilation_h.
          // DepthwiseConv2DOptions: 0 padding, 1 stride_w, 2 stride_h, 3 depth_multiplier, 4 fused act, 5/6 dilation w/h.
          const dw = o.op === 'DEPTHWISE_CONV_2D';
          const x = ins[0]!;
          const f = ins[1]!;
          const filter = needConst(f, 'filter');
          const [fo, kh, kw, fi] = f.shape as [number, number, number, number];
          const stride: [number, number] = [opt?.scalar(2, 'int32', 1) || 1, opt?.scalar(1, 'int32', 1) || 1];
          const dilation: [number, number] = dw ? [opt?.scalar(6, 'int32', 1) || 1, opt?.scalar(5, 'int32', 1) || 1] : [opt?.scalar(5, 'int32', 1) || 1, opt?.scalar(4, 'int32', 1) || 1];
          const same = (opt?.scalar(0, 'int8') ?? 0) === 0;
          const pads = convPads(x.shape, [kh, kw], stride, dilation, same);
          const cin = x.shape[3]!;
          // TFLite filters: conv OHWI → engine OIHW; depthwise [1, H, W, C·m] → [C·m, 1, H, W], groups C.
          const w = dw ? weight(f, [fi, 1, kh, kw], permuteValues(filter, f.shape, [3, 0, 1, 2])) : weight(f, [fo, fi, kh, kw], permuteValues(filter, f.shape, [0, 3, 1, 2]));
          if (!dw && fi !== cin) throw unsupported(model.file, o, `a filter of ${fi} input channels on ${cin}`);
          const b = ins[2] ? weight(ins[2], [ins[2].shape[0]!], needConst(ins[2], 'bias')) : undefined;
          const y = g.conv(em.nchw(x), w, b, { stride, dilation, pad: pads, groups: dw ? cin : 1 });
          out = fused(em.fromNchw(y, nhwcOf(y)), dw ? 4 : 3);
          break;
        }
        case 'AVERAGE_POOL_2D': {
          // Pool2DOptions: 0 padding, 1 stride_w, 2 stride_h, 3 filter_width, 4 filter_height, 5 fused act.
          const x = ins[0]!;
          const k: [number, number] = [opt?.scalar(4, 'int32') ?? 1, opt?.scalar(3, 'int32') ?? 1];
          const stride: [number, number] = [opt?.scalar(2, 'int32') || 1, opt?.scalar(1, 'int32') || 1];
          const pads = convPads(x.shape, k, stride, [1, 1], (opt?.scalar(0, 'int8') ?? 0) === 0);
          // TF's SAME average pooling divides by the window's pixels inside the image; the engine's
          // counts padding: refuse rather than be wrong at the borders.
          if (pads.some((p) => p > 0)) throw unsupported(model.file, o, 'SAME average pooling with padding');
          const y = g.avgPool(em.nchw(x), { kernel: k, stride });
          out = fused(em.fromNchw(y, nhwcOf(y)), 5);
          break;
        }
        case 'ADD':
        case 'SUB':
        case 'MUL':
        case 'DIV': {
          const op = o.op.toLowerCase() as 'add' | 'sub' | 'mul' | 'div';
          const [a, b] = [ins[0]!, ins[1]!];
          const f = { add: (p: number, q: number) => p + q, sub: (p: number, q: number) => p - q, mul: (p: number, q: number) => p * q, div: (p: number, q: number) => p / q }[op];
          out = a.values && b.values ? foldBinary(a, b, f, where) : fused(em.binary(op, a, b, where), 0);
          break;
        }
        case 'SQUARED_DIFFERENCE': {
          const d = em.binary('sub', ins[0]!, ins[1]!, where);
          out = em.activation('square', d);
          break;
        }
        case 'RSQRT':
          out = em.activation('rsqrt', ins[0]!);
          break;
        case 'LOGISTIC':
          out = em.activation('sigmoid', ins[0]!);
          break;
        case 'TANH':
          out = em.activation('tanh', ins[0]!);
          break;
        case 'RELU':
          out = em.activation('relu', ins[0]!);
          break;
        case 'RELU6':
          out = em.activation('relu6', ins[0]!);
          break;
        case 'LEAKY_RELU':
          // LeakyReluOptions: 0 alpha.
          out = em.activation('leakyRelu', ins[0]!, opt?.scalar(0, 'float32') ?? 0.2);
          break;
        case 'MEAN':
        case 'SUM':
          // ReducerOptions: 0 keep_dims.
          out = em.reduce(o.op === 'MEAN' ? 'mean' : 'sum', ins[0]!, Array.from(needConst(ins[1], 'axis list')), (opt?.scalar(0, 'uint8') ?? 0) !== 0);
          break;
        case 'MIRROR_PAD':
        case 'PAD': {
          // MirrorPadOptions: 0 mode (0 REFLECT, 1 SYMMETRIC).
          const p = Array.from(needConst(ins[1], 'padding'));
          const x = ins[0]!;
          if (x.shape.length !== 4 || p[0] !== 0 || p[1] !== 0 || p[6] !== 0 || p[7] !== 0) throw unsupported(model.file, o, `padding [${p}] outside H and W`);
          if (o.op === 'MIRROR_PAD' && (opt?.scalar(0, 'int8') ?? 0) !== 0) throw unsupported(model.file, o, 'SYMMETRIC mirror padding');
          const y = g.pad(em.nchw(x), [p[2]!, p[4]!, p[3]!, p[5]!], o.op === 'PAD' ? 'constant' : 'reflect');
          out = em.fromNchw(y, [x.shape[0]!, x.shape[1]! + p[2]! + p[3]!, x.shape[2]! + p[4]! + p[5]!, x.shape[3]!]);
          break;
        }
        case 'RESIZE_NEAREST_NEIGHBOR':
        case 'RESIZE_BILINEAR': {
          // ResizeBilinearOptions: 2 align_corners, 3 half_pixel_centers; ResizeNearestNeighborOptions: 0, 1.
          const nearest = o.op === 'RESIZE_NEAREST_NEIGHBOR';
          const align = opt?.scalar(nearest ? 0 : 2, 'uint8') ?? 0;
          const half = opt?.scalar(nearest ? 1 : 3, 'uint8') ?? 0;
          const x = ins[0]!;
          let [h, w] = Array.from(needConst(ins[1], 'output size'));
          // A size stored in the file was computed for the file's own input size: keep its ratio to
          // the file's recorded input shape, so the network runs at any size (a size folded from
          // SHAPE arithmetic is already right).
          const fileIn = sg.tensors[o.inputs[0]!]!.shape;
          if (sg.tensors[o.inputs[1]!]!.data && fileIn[1]! > 0 && fileIn[2]! > 0 && (fileIn[1] !== x.shape[1] || fileIn[2] !== x.shape[2])) {
            h = Math.round((x.shape[1]! * h!) / fileIn[1]!);
            w = Math.round((x.shape[2]! * w!) / fileIn[2]!);
          }
          if (align) throw unsupported(model.file, o, 'align_corners resizing');
          if (nearest && half) throw unsupported(model.file, o, 'half-pixel nearest resizing');
          const scale = h! / x.shape[1]!;
          if (w! / x.shape[2]! !== scale) throw unsupported(model.file, o, `different scales for H and W (${h}/${x.shape[1]}, ${w}/${x.shape[2]})`);
          const y = g.resize(em.nchw(x), scale, nearest ? 'nearest' : 'linear', half ? 'half_pixel' : 'asymmetric');
          out = em.fromNchw(y, [x.shape[0]!, h!, w!, x.shape[3]!]);
          break;
        }
        case 'CONCATENATION': {
          // ConcatenationOptions: 0 axis, 1 fused act.
          const parts = ins.filter((v): v is ForeignValue => v !== undefined);
          const rank = parts[0]!.shape.length;
          const axisRaw = opt?.scalar(0, 'int32') ?? 0;
          const axis = axisRaw < 0 ? axisRaw + rank : axisRaw;
          const shape = [...parts[0]!.shape];
          shape[axis] = parts.reduce((s, v) => s + v.shape[axis]!, 0);
          const y = rank === 4 ? em.fromNchw(g.concat(parts.map((v) => em.nchw(v)), NCHW_AXIS[axis]!), shape) : em.fromPlain(g.concat(parts.map((v) => em.plain(v)), axis), shape);
          out = fused(y, 1);
          break;
        }
        case 'RESHAPE': {
          // ReshapeOptions: 0 new_shape; the shape may instead come as input 1.
          const given = ins[1]?.values ? Array.from(ins[1].values) : opt?.scalars(0, 'int32', 'new_shape');
          if (!given) throw unsupported(model.file, o, 'a reshape without a known shape');
          const total = numel(ins[0]!.shape);
          const known = given.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
          out = em.reshape(ins[0]!, given.map((d) => (d === -1 ? total / known : d)));
          break;
        }
        case 'SHAPE':
          out = constantValue(ins[0]!.shape, [ins[0]!.shape.length]);
          break;
        case 'PACK': {
          // PackOptions: 0 values_count, 1 axis. Only constant scalars/vectors (shape arithmetic) fold.
          const parts = ins.map((v) => needConst(v, 'packed value'));
          if ((opt?.scalar(1, 'int32') ?? 0) !== 0) throw unsupported(model.file, o, 'packing along an axis other than 0');
          out = constantValue(parts.flatMap((p) => Array.from(p)), [parts.length, ...ins[0]!.shape]);
          break;
        }
        case 'STRIDED_SLICE': {
          // StridedSliceOptions: 0 begin_mask, 1 end_mask, 2 ellipsis_mask, 3 new_axis_mask, 4 shrink_axis_mask.
          const masks = [0, 1, 2, 3, 4].map((f) => opt?.scalar(f, 'int32') ?? 0) as [number, number, number, number, number];
          if (masks[2] || masks[3]) throw unsupported(model.file, o, 'ellipsis or new-axis masks');
          out = stridedSlice(em, ins[0]!, Array.from(needConst(ins[1], 'begin')), Array.from(needConst(ins[2], 'end')), Array.from(needConst(ins[3], 'strides')), masks[0], masks[1], masks[4]);
          break;
        }
        case 'QUANTIZE':
        case 'DEQUANTIZE': {
          const x = ins[0]!;
          out = x.values ? { ...x } : x;
          break;
        }
        default:
          throw unsupported(model.file, o, undefined);
      }
      if (options.simulateQuantization && out.tensor && !out.values) out = fakeQuantize(em, out, outT);
      values.set(o.outputs[0]!, out);
      if (o.outputs.length > 1) throw unsupported(model.file, o, `${o.outputs.length} outputs`);
    } catch (e) {
      throw inconsistent(e, label(o), model.file);
    }
  }

  const outputs: ImportedGraph['outputs'] = sg.outputs.map((i, k) => {
    const v = values.get(i)!;
    const name = options.outputNames?.[k] ?? sg.tensors[i]!.name;
    const t = v.shape.length === 4 ? em.nchw(v) : em.plain(v);
    g.output(name, t);
    return { name, shape: [...t.shape] as number[], nchw: v.shape.length === 4 };
  });
  return { graph: g, inputs, outputs, statistics: em.statistics, source: model.file };
}

/**
 * A constant of one repeated value with the file's input height and width (White-box's guided
 * filter divides by a box filter of `ones[1, 512, 512, 1]`: tf.ones_like of the input, frozen) is
 * the same fill at the size asked for.
 */
function imageSizedFill(c: ForeignValue, native: number[] | undefined, actual: number[] | undefined): ForeignValue | undefined {
  if (!native || !actual || (native[1] === actual[1] && native[2] === actual[2])) return undefined;
  const s = c.shape;
  if (s.length !== 4 || s[1] !== native[1] || s[2] !== native[2] || !c.values!.every((v) => v === c.values![0])) return undefined;
  const shape = [s[0]!, actual[1]!, actual[2]!, s[3]!];
  return constantValue(new Float32Array(numel(shape)).fill(c.values![0]!), shape);
}

/** The NHWC shape of an NCHW engine tensor (sizes fixed at import). */
const nhwcOf = (t: Tensor): number[] => {
  const [n, c, h, w] = t.shape as number[];
  return [n!, h!, w!, c!];
};

function unsupported(file: string, o: TfliteOperator, detail: string | undefined): AtelierError {
  return new AtelierError('E_WEIGHTS_CORRUPT', detail ? `TFLite operator ${o.index} (${o.op}) uses ${detail}, which the importer does not support` : `TFLite operator ${o.index} is ${o.op}, which the importer does not support`, {
    subject: file,
    expected: 'CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, ADD/SUB/MUL/DIV, SQUARED_DIFFERENCE, RSQRT, LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, MEAN, SUM, PAD, MIRROR_PAD, RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR, CONCATENATION, RESHAPE, SHAPE, PACK, STRIDED_SLICE, QUANTIZE, DEQUANTIZE',
    received: `${o.op} at operator ${o.index}`,
    hint: 'this network needs an operator Atelier cannot rebuild; nothing was skipped',
  });
}

/** Round an activation to its int8/uint8 grid: q = clamp(round(x/s) + z), x̂ = s·(q − z). */
function fakeQuantize(em: ForeignEmitter, v: ForeignValue, t: TfliteTensor): ForeignValue {
  const q = t.quantization;
  if (!q || q.scale.length !== 1 || (t.type !== 'int8' && t.type !== 'uint8')) return v;
  const g = em.g;
  const [lo, hi] = t.type === 'int8' ? [-128, 127] : [0, 255];
  const x = v.tensor!;
  const s = q.scale[0]!;
  const z = q.zeroPoint[0]!;
  const scaled = g.add(g.scale(x, 1 / s), g.scalar(z));
  const rounded = g.onnx('Round', [scaled], [{ shape: [...scaled.shape] }])[0]!;
  const clipped = g.onnx('Clip', [rounded, g.scalar(lo), g.scalar(hi)], [{ shape: [...scaled.shape] }])[0]!;
  return { ...v, tensor: g.scale(g.sub(clipped, g.scalar(z)), s) };
}
