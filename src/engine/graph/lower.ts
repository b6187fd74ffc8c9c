import { AtelierError } from '../../core/errors.js';
import { SLICE_END, type Graph, type Node, type Tensor } from './graph.js';
import { attr, encodeModel, NCHWC_DOMAIN, rawBytes, type OnnxAttr, type OnnxGraph, type OnnxNode, type OnnxTensor } from './onnx-model.js';
import type { OpName } from './ops.js';

/**
 * Lowering: the builder's ops → ONNX nodes (opset 18), keeping only what the outputs need.
 */

export interface EmitOptions {
  /** Emit only these outputs (default: all the graph's outputs). */
  outputs?: string[];
  /**
   * Params become graph inputs (fed each run: training) instead of initializers (fixed: inference);
   * a predicate on the param's name makes only those inputs (the trained ones), so frozen weights
   * stay initializers that ORT can fold and never need feeding.
   */
  paramsAsInputs?: boolean | ((name: string) => boolean);
  /**
   * Emit one stage of a graph cut by `planStages` (stages.ts): `results` are its outputs, under
   * their own names (instead of `outputs`), and `fed` values made by earlier stages are its inputs
   * (their producers are not emitted). Only the graph inputs the stage reads are its inputs.
   */
  stage?: { fed: readonly Tensor[]; results: readonly Tensor[] };
  /** Declare the outputs' shapes too (a stage's always are): an If's branches must agree on their ranks. */
  outputShapes?: boolean;
  /**
   * Channels per block of ONNX Runtime's blocked (NCHWc) conv on this CPU (`nchwcBlockSize()`,
   * runtime side); when set, convs whose kernel is computed at run time run blocked
   * (`lowerBlockedConv`). Unset or 0: plain convs.
   */
  nchwcBlock?: number;
}

export interface EmittedModel {
  bytes: Uint8Array;
  inputs: string[];
  outputs: string[];
}

export function emitModel(g: Graph, options: EmitOptions = {}): EmittedModel {
  const { onnx, inputs, outputs } = lowerGraph(g, options);
  return { bytes: encodeModel(onnx), inputs, outputs };
}

/** The ONNX graph `emitModel` encodes, with its input and output names. */
export function lowerGraph(g: Graph, options: EmitOptions = {}): { onnx: OnnxGraph; inputs: string[]; outputs: string[] } {
  const stage = options.stage;
  const outputNames = stage ? stage.results.map((t) => t.name) : (options.outputs ?? [...g.outputs.keys()]);
  const outputs = stage
    ? stage.results.map((t) => [t.name, t] as const)
    : outputNames.map((n) => {
        const t = g.outputs.get(n);
        if (!t) throw new AtelierError('E_INTERNAL', `Graph has no output ${n}`);
        return [n, t] as const;
      });
  const fed = new Set(stage?.fed.map((t) => t.id));
  const needed = reachable(outputs.map(([, t]) => t), fed);
  const asInput = paramsAsInputsTest(options.paramsAsInputs);
  const ctx = new LowerContext(constantsOf(g, asInput), options.nchwcBlock ?? 0);
  for (const node of g.nodes) {
    if (node.outputs.some((o) => needed.has(o.id) && !fed.has(o.id))) lowerNode(ctx, node, needed);
  }
  // A stage's results keep their names; a whole graph's outputs are renamed to the names asked for.
  if (!stage) for (const [name, t] of outputs) ctx.node('Identity', [t.name], [name]);
  const initializers: OnnxTensor[] = [...ctx.initializers];
  const graphInputs = stage ? [...g.inputs.filter((t) => needed.has(t.id)), ...stage.fed] : g.inputs;
  const inputs = [...graphInputs.map((t) => ({ name: t.name, dtype: t.dtype, dims: [...t.shape] }))];
  for (const t of g.tensors) {
    if (!needed.has(t.id) || (t.kind !== 'param' && t.kind !== 'constant')) continue;
    const data = g.data.get(t.id)!;
    if (t.kind === 'param' && asInput(t.name)) inputs.push({ name: t.name, dtype: t.dtype, dims: [...t.shape] });
    else initializers.push({ name: t.name, dtype: t.dtype, dims: t.shape as number[], raw: rawBytes(data) });
  }
  const onnx: OnnxGraph = {
    name: 'atelier',
    nodes: ctx.nodes,
    initializers,
    inputs,
    outputs: outputs.map(([name, t]) => ({ name, dtype: t.dtype, ...((stage || options.outputShapes) && { dims: [...t.shape] }) })),
  };
  return { onnx, inputs: inputs.map((i) => i.name), outputs: outputNames };
}

function paramsAsInputsTest(option: EmitOptions['paramsAsInputs']): (name: string) => boolean {
  if (typeof option === 'function') return option;
  const all = option ?? false;
  return () => all;
}

/** Tensors computed from the model's constants alone (ORT folds them at session start). */
function constantsOf(g: Graph, asInput: (name: string) => boolean): Set<number> {
  const known = new Set<number>();
  for (const t of g.tensors) if (t.kind === 'constant' || (t.kind === 'param' && !asInput(t.name))) known.add(t.id);
  for (const n of g.nodes) if (n.inputs.length > 0 && n.inputs.every((t) => known.has(t.id))) for (const o of n.outputs) known.add(o.id);
  return known;
}

/** Tensors the roots are computed from, not looking past `stops` (values fed to a stage). */
function reachable(roots: readonly Tensor[], stops: ReadonlySet<number> = new Set()): Set<number> {
  const seen = new Set<number>();
  const stack = [...roots];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t.id)) continue;
    seen.add(t.id);
    if (t.producer && !stops.has(t.id)) for (const i of t.producer.inputs) stack.push(i);
  }
  return seen;
}

class LowerContext {
  constructor(
    readonly constants: Set<number>,
    readonly nchwcBlock: number,
  ) {}
  nodes: OnnxNode[] = [];
  initializers: OnnxTensor[] = [];
  /** Blocked reorders of run-time kernels, by kernel name: a weight read by several convs is reordered once. */
  blockedKernels = new Map<string, string>();
  private count = 0;

  node(op: string, inputs: string[], outputs: string[], attrs?: Record<string, OnnxAttr>, domain?: string): void {
    this.nodes.push({ op, inputs, outputs, ...(attrs && { attrs }), ...(domain && { domain }) });
  }

  int64(values: number[]): string {
    const name = `_c${this.count++}`;
    this.initializers.push({ name, dtype: 'int64', dims: [values.length], raw: rawBytes(BigInt64Array.from(values.map(BigInt))) });
    return name;
  }

  tensor(values: ArrayLike<number>, dims: number[], dtype: 'float32' | 'float64'): string {
    const name = `_c${this.count++}`;
    const data = dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
    this.initializers.push({ name, dtype, dims, raw: rawBytes(data) });
    return name;
  }

  float(values: number[]): string {
    const name = `_c${this.count++}`;
    this.initializers.push({ name, dtype: 'float32', dims: [values.length], raw: rawBytes(Float32Array.from(values)) });
    return name;
  }

  temp(): string {
    return `_l${this.count++}`;
  }
}

/**
 * A kernel with few output channels (a 9×9 or 3×3 conv to RGB) runs as two convs. 'rows': a 1×kw
 * conv that makes, for every kernel row i, that row's partial sums (kh·cout channels), then a fixed
 * kh×1 conv that adds partial sum i from i rows below. The same sums, but ONNX Runtime's im2col
 * copies kw·cin + kh²·cout values per pixel instead of kh·kw·cin (5× less for 9×9 from 32 channels
 * to 3, 2.6× for 3×3 from 64). Measured: Johnson's 9×9 last layer 17 → 6 ms at 256²; the 3×3 input
 * gradient of VGG's first layer 8.8 → 7.3 ms in a 256² microbenchmark that includes feeding the
 * input.
 *
 * 'columns', where rows would make more channels than come in (kh·cout > cin: MicroAST's 9×9
 * from 16 channels to 3): the kernel's columns in G groups of gw, a kh×gw conv making each group's
 * partial sums (G·cout channels, about 16), then a fixed 1×G conv of dilation gw adding group j's
 * from j·gw columns to the right. ORT's blocked (NCHWc) convs compute whole blocks of 8 or 16
 * output channels, so a direct conv to 3 channels does 16/3 times the work it needs; the groups
 * fill the block. Measured (1 thread, 512², AVX-512): MicroAST's last layer 105 → 46 ms.
 *
 * Only the lowering changes: autodiff still sees one conv, so its backward keeps the single-conv
 * forms (`conv-backward.ts`).
 */
export function convInTwoPasses(n: Node): boolean {
  return convTwoPassForm(n) !== undefined;
}

/** Channels the 'columns' form's first conv aims to fill: one block of ORT's widest NCHWc kernels. */
const COLUMN_CHANNELS = 16;

export function convTwoPassForm(n: Node): 'rows' | 'columns' | undefined {
  const a = n.attrs as { stride: number[]; dilation: number[]; groups: number; kernel: number[] };
  const [cout, cin] = n.inputs[1]!.shape as number[];
  const [kh, kw] = a.kernel as [number, number];
  const plain = a.groups === 1 && a.stride.every((v) => v === 1) && a.dilation.every((v) => v === 1);
  if (!plain || kh < 3 || kw < 3) return undefined;
  if (kh * cout! <= cin!) return 'rows';
  // Thin inputs (a few channels) gain little: their direct im2col is small already.
  return cout! <= 4 && cin! >= 8 ? 'columns' : undefined;
}

function lowerConvInTwoPasses(ctx: LowerContext, n: Node, ins: string[], out: string): void {
  if (convTwoPassForm(n) === 'columns') return lowerConvByColumns(ctx, n, ins, out);
  const [cout, cin, kh, kw] = n.inputs[1]!.shape as number[];
  const transposed = ctx.temp();
  const rows = ctx.temp();
  const partial = ctx.temp();
  ctx.node('Transpose', [ins[1]!], [transposed], { perm: attr.ints([2, 0, 1, 3]) });
  ctx.node('Reshape', [transposed, ctx.int64([kh! * cout!, cin!, 1, kw!])], [rows]);
  ctx.node('Conv', [ins[0]!, rows], [partial], { kernel_shape: attr.ints([1, kw!]), pads: attr.ints(n.attrs.pads as number[]) });
  const sumRows = new Float32Array(cout! * kh! * cout! * kh!);
  for (let o = 0; o < cout!; o++) for (let i = 0; i < kh!; i++) sumRows[(o * kh! * cout! + i * cout! + o) * kh! + i] = 1;
  const kernel = ctx.tensor(sumRows, [cout!, kh! * cout!, kh!, 1], n.inputs[1]!.dtype as 'float32' | 'float64');
  ctx.node('Conv', [partial, kernel, ...ins.slice(2)], [out], { kernel_shape: attr.ints([kh!, 1]) });
}

function lowerConvByColumns(ctx: LowerContext, n: Node, ins: string[], out: string): void {
  const [cout, cin, kh, kw] = n.inputs[1]!.shape as number[];
  const width = Math.ceil(kw! / Math.max(2, Math.floor(COLUMN_CHANNELS / cout!)));
  const groups = Math.ceil(kw! / width);
  // The kernel widened with zero columns to groups·width, then cut into [cout·groups, cin, kh, width]
  // (output channel o·groups + j holds columns j·width … of output o): in-graph, so a fed kernel works too.
  const extra = groups * width - kw!;
  let w = ins[1]!;
  if (extra > 0) {
    const widened = ctx.temp();
    ctx.node('Pad', [w, ctx.int64([0, 0, 0, 0, 0, 0, 0, extra])], [widened]);
    w = widened;
  }
  const split = ctx.temp();
  const grouped = ctx.temp();
  const columns = ctx.temp();
  ctx.node('Reshape', [w, ctx.int64([cout!, cin!, kh!, groups, width])], [split]);
  ctx.node('Transpose', [split], [grouped], { perm: attr.ints([0, 3, 1, 2, 4]) });
  ctx.node('Reshape', [grouped, ctx.int64([cout! * groups, cin!, kh!, width])], [columns]);
  // The partial sums reach (groups − 1)·width columns further right than the output needs.
  const [t, l, b, r] = n.attrs.pads as number[];
  const partial = ctx.temp();
  ctx.node('Conv', [ins[0]!, columns], [partial], { kernel_shape: attr.ints([kh!, width]), pads: attr.ints([t!, l!, b!, r! + extra]) });
  const sumColumns = new Float32Array(cout! * cout! * groups * groups);
  for (let o = 0; o < cout!; o++) for (let j = 0; j < groups; j++) sumColumns[(o * cout! * groups + o * groups + j) * groups + j] = 1;
  const kernel = ctx.tensor(sumColumns, [cout!, cout! * groups, 1, groups], n.inputs[1]!.dtype as 'float32' | 'float64');
  ctx.node('Conv', [partial, kernel, ...ins.slice(2)], [out], { kernel_shape: attr.ints([1, groups]), dilations: attr.ints([1, width]) });
}

/**
 * A conv whose kernel is computed at run time (a trained weight fed each step, or the flipped
 * kernel of an input gradient), with both channel counts multiples of the CPU's block: ONNX
 * Runtime blocks only convs with constant kernels (its optimiser reorders the kernel once), so a
 * training graph's convs ran im2col + GEMM. Here the kernel is reordered by the graph itself
 * (Reshape/Transpose: a few hundred thousand values), the input into the blocked layout and the
 * output back (a copy each). The blocked kernel measured ~10 % less CPU than im2col for
 * CycleGAN's 256-channel 3×3 convs at 64² including the three reorders.
 */
export function convRunsBlocked(n: Node, block: number, constants: ReadonlySet<number>): boolean {
  if (block <= 1 || n.outputs[0]!.dtype !== 'float32' || constants.has(n.inputs[1]!.id)) return false;
  const a = n.attrs as { dilation: number[]; groups: number; kernel: number[] };
  const [cout, cin] = n.inputs[1]!.shape as number[];
  return a.kernel.length === 2 && a.groups === 1 && a.dilation.every((d) => d === 1) && cout! % block === 0 && cin! % block === 0;
}

function lowerBlockedConv(ctx: LowerContext, n: Node, ins: string[], out: string): void {
  const B = ctx.nchwcBlock;
  const [cout, cin, kh, kw] = n.inputs[1]!.shape as number[];
  const a = attrsOf(n);
  // Kernel [O, I, kh, kw] → [O/B, I/B, kh, kw, I-in-block, O-in-block], the order MLAS's blocked
  // conv reads (its optimiser's OIHWBiBo reorder), in two cheap steps: the taps before the input
  // channels within each block (a batch of small 2-D transposes), then ReorderInput of that as an
  // image [1, O, (I/B)·kh·kw, B], which moves each output-channel block innermost. (One 6-D
  // Transpose did the same at ~4× the cost: ORT's general transpose copies element by element.)
  // Once per kernel (a generator runs three times a step: ORT would not merge the copies).
  let kernel = ctx.blockedKernels.get(ins[1]!);
  if (!kernel) {
    const split = ctx.temp();
    const moved = ctx.temp();
    const image = ctx.temp();
    const reordered = ctx.temp();
    kernel = ctx.temp();
    ctx.node('Reshape', [ins[1]!, ctx.int64([cout!, cin! / B, B, kh! * kw!])], [split]);
    ctx.node('Transpose', [split], [moved], { perm: attr.ints([0, 1, 3, 2]) });
    ctx.node('Reshape', [moved, ctx.int64([1, cout!, (cin! / B) * kh! * kw!, B])], [image]);
    ctx.node('ReorderInput', [image], [reordered], undefined, NCHWC_DOMAIN);
    ctx.node('Reshape', [reordered, ctx.int64([cout!, cin!, kh!, kw!])], [kernel]);
    ctx.blockedKernels.set(ins[1]!, kernel);
  }
  const input = ctx.temp();
  const output = ctx.temp();
  ctx.node('ReorderInput', [ins[0]!], [input], undefined, NCHWC_DOMAIN);
  ctx.node('Conv', [input, kernel, ...ins.slice(2)], [output], {
    kernel_shape: attr.ints(a.kernel),
    strides: attr.ints(a.stride),
    pads: attr.ints(a.pads),
    dilations: attr.ints(a.dilation),
    group: attr.i(1),
  }, NCHWC_DOMAIN);
  ctx.node('ReorderOutput', [output], [out], { channels: attr.i(cout!) }, NCHWC_DOMAIN);
}

/** How one builder op becomes ONNX nodes: `ins` are its input names, `out` its first output's. */
type Lowering = (ctx: LowerContext, n: Node, ins: string[], out: string, needed: Set<number>) => void;

const attrsOf = (n: Node) => n.attrs as Record<string, never>;
const onnxOp =
  (op: string): Lowering =>
  (ctx, _n, ins, out) =>
    ctx.node(op, ins, [out]);

function lowerPool(ctx: LowerContext, n: Node, ins: string[], out: string, needed: Set<number>): void {
  const a = attrsOf(n);
  const attrs: Record<string, OnnxAttr> = {
    kernel_shape: attr.ints(a.kernel),
    strides: attr.ints(a.stride),
    pads: attr.ints(a.pads),
    ceil_mode: attr.i(a.ceil ? 1 : 0),
  };
  if (n.op === 'avgPool') return ctx.node('AveragePool', ins, [out], { ...attrs, count_include_pad: attr.i(1) });
  const outs = needed.has(n.outputs[1]!.id) ? [out, n.outputs[1]!.name] : [out];
  return ctx.node('MaxPool', ins, outs, attrs);
}

function lowerReduce(ctx: LowerContext, n: Node, ins: string[], out: string): void {
  const a = attrsOf(n);
  return ctx.node(n.op === 'reduceSum' ? 'ReduceSum' : 'ReduceMean', [ins[0]!, ctx.int64(a.axes)], [out], { keepdims: attr.i(a.keepdims ? 1 : 0) });
}

/** One lowering per op: a missing one is a compile error (OpName in ops.ts lists them). */
const LOWERINGS: Record<OpName, Lowering> = {
  conv: (ctx, n, ins, out) => {
    if (convInTwoPasses(n)) return lowerConvInTwoPasses(ctx, n, ins, out);
    if (convRunsBlocked(n, ctx.nchwcBlock, ctx.constants)) return lowerBlockedConv(ctx, n, ins, out);
    const a = attrsOf(n);
    return ctx.node('Conv', ins, [out], {
      kernel_shape: attr.ints(a.kernel),
      strides: attr.ints(a.stride),
      pads: attr.ints(a.pads),
      dilations: attr.ints(a.dilation),
      group: attr.i(a.groups),
    });
  },
  convTranspose: (ctx, n, ins, out) => {
    const a = attrsOf(n);
    return ctx.node('ConvTranspose', ins, [out], {
      kernel_shape: attr.ints(a.kernel),
      strides: attr.ints(a.stride),
      pads: attr.ints(a.pads),
      output_padding: attr.ints(a.outputPadding),
    });
  },
  pad: (ctx, n, ins, out) => {
    const [t, l, b, r] = attrsOf(n).pads as number[];
    return ctx.node('Pad', [ins[0]!, ctx.int64([0, 0, t!, l!, 0, 0, b!, r!])], [out], { mode: attr.s(attrsOf(n).mode) });
  },
  maxPool: lowerPool,
  avgPool: lowerPool,
  depthToSpace: (ctx, n, ins, out) => ctx.node('DepthToSpace', ins, [out], { blocksize: attr.i(attrsOf(n).block), mode: attr.s('DCR') }),
  resize: (ctx, n, ins, out) => {
    const a = attrsOf(n);
    const s = a.scale as number;
    const mode = a.mode as string;
    return ctx.node('Resize', [ins[0]!, '', ctx.float([1, 1, s, s])], [out], {
      mode: attr.s(mode),
      coordinate_transformation_mode: attr.s(mode === 'nearest' || a.coordinates === 'asymmetric' ? 'asymmetric' : 'half_pixel'),
      ...(mode === 'nearest' && { nearest_mode: attr.s('floor') }),
    });
  },
  instanceNorm: (ctx, n, ins, out) => ctx.node('InstanceNormalization', ins, [out], { epsilon: attr.f(attrsOf(n).eps) }),
  relu: onnxOp('Relu'),
  leakyRelu: (ctx, n, ins, out) => ctx.node('LeakyRelu', ins, [out], { alpha: attr.f(attrsOf(n).alpha) }),
  tanh: onnxOp('Tanh'),
  sigmoid: onnxOp('Sigmoid'),
  erf: onnxOp('Erf'),
  exp: onnxOp('Exp'),
  log: onnxOp('Log'),
  sqrt: onnxOp('Sqrt'),
  neg: onnxOp('Neg'),
  abs: onnxOp('Abs'),
  add: onnxOp('Add'),
  sub: onnxOp('Sub'),
  mul: onnxOp('Mul'),
  div: onnxOp('Div'),
  atLeast: (ctx, n, ins, out) => {
    const above = ctx.temp();
    const dtype = n.outputs[0]!.dtype as 'float32' | 'float64';
    ctx.node('GreaterOrEqual', [ins[0]!, ctx.tensor([attrsOf(n).threshold], [], dtype)], [above]);
    return ctx.node('Cast', [above], [out], { to: attr.i(dtype === 'float64' ? 11 : 1) });
  },
  gather: (ctx, n, ins, out) => ctx.node('Gather', ins, [out], { axis: attr.i(attrsOf(n).axis) }),
  concat: (ctx, n, ins, out) => ctx.node('Concat', ins, [out], { axis: attr.i(attrsOf(n).axis) }),
  split: (ctx, n, ins) => ctx.node('Split', [ins[0]!, ctx.int64(attrsOf(n).sizes)], n.outputs.map((o) => o.name), { axis: attr.i(attrsOf(n).axis) }),
  slice: (ctx, n, ins, out) => {
    const a = attrsOf(n);
    return ctx.node('Slice', [ins[0]!, ctx.int64(a.starts), ctx.int64(a.ends), ctx.int64(a.axes), ctx.int64(a.steps)], [out]);
  },
  reverseTaps: (ctx, n, ins, out) => {
    const [a0, b0, kh, kw] = n.inputs[0]!.shape as number[];
    if (ctx.constants.has(n.inputs[0]!.id)) {
      return ctx.node('Slice', [ins[0]!, ctx.int64([-1, -1]), ctx.int64([-SLICE_END, -SLICE_END]), ctx.int64([2, 3]), ctx.int64([-1, -1])], [out]);
    }
    const taps = kh! * kw!;
    const reversal = new Float32Array(taps * taps);
    for (let k = 0; k < taps; k++) reversal[k * taps + (taps - 1 - k)] = 1;
    const flat = ctx.temp();
    const product = ctx.temp();
    ctx.node('Reshape', [ins[0]!, ctx.int64([a0!, b0!, taps])], [flat]);
    ctx.node('MatMul', [flat, ctx.tensor(reversal, [taps, taps], n.outputs[0]!.dtype as 'float32' | 'float64')], [product]);
    return ctx.node('Reshape', [product, ctx.int64([a0!, b0!, kh!, kw!])], [out]);
  },
  reshape: (ctx, n, ins, out) => ctx.node('Reshape', [ins[0]!, ctx.int64(attrsOf(n).shape)], [out]),
  reshapeLike: (ctx, _n, ins, out) => {
    const shape = ctx.temp();
    ctx.node('Shape', [ins[1]!], [shape]);
    return ctx.node('Reshape', [ins[0]!, shape], [out]);
  },
  transpose: (ctx, n, ins, out) => ctx.node('Transpose', ins, [out], { perm: attr.ints(attrsOf(n).perm) }),
  matmul: onnxOp('MatMul'),
  reduceSum: lowerReduce,
  reduceMean: lowerReduce,
  elementCount: (ctx, n, ins, out) => {
    const shape = ctx.temp();
    const picked = ctx.temp();
    const count = ctx.temp();
    ctx.node('Shape', [ins[0]!], [shape]);
    ctx.node('Gather', [shape, ctx.int64(attrsOf(n).axes)], [picked], { axis: attr.i(0) });
    ctx.node('ReduceProd', [picked], [count], { keepdims: attr.i(0) });
    return ctx.node('Cast', [count], [out], { to: attr.i(n.outputs[0]!.dtype === 'float64' ? 11 : 1) });
  },
  softmax: (ctx, n, ins, out) => ctx.node('Softmax', ins, [out], { axis: attr.i(attrsOf(n).axis) }),
  onnx: (ctx, n, ins) => {
    const slots = (n.attrs.inputSlots as boolean[]) ?? [];
    const names: string[] = [];
    let k = 0;
    for (const present of slots) names.push(present ? ins[k++]! : '');
    return ctx.node(n.attrs.opType as string, names, n.outputs.map((o) => o.name), n.attrs.attrs as Record<string, OnnxAttr>);
  },
};

/** The ops that have a lowering (all of them; test/engine/ops.test.ts checks it at run time too). */
export const LOWERED_OPS: readonly string[] = Object.keys(LOWERINGS);

function lowerNode(ctx: LowerContext, n: Node, needed: Set<number>): void {
  const lowering = LOWERINGS[n.op];
  if (!lowering) throw new AtelierError('E_INTERNAL', `No ONNX lowering for op ${n.op}`);
  lowering(ctx, n, n.inputs.map((t) => t.name), n.outputs[0]!.name, needed);
}
