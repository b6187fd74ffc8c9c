import { AtelierError } from '../../core/errors.js';
import { addDim, broadcastDims, formatShape, scaleDim, transposedWindowDim, windowDim, type Dim } from './dims.js';
import type { OpName } from './ops.js';
import type { DType, OnnxAttr } from './onnx-model.js';

/**
 * The graph builder's data model: a Graph owns Tensors (values) and Nodes (operations on them).
 * Ops are recorded at a level above ONNX (e.g. `conv` with reflect padding, `maxPool` with its
 * indices) so that autodiff has one backward rule per op; `lower.ts` turns them into ONNX nodes.
 */

export type TensorKind = 'input' | 'param' | 'constant' | 'value';

export class Tensor {
  constructor(
    readonly graph: Graph,
    readonly id: number,
    readonly kind: TensorKind,
    readonly shape: readonly Dim[],
    readonly dtype: DType,
    /** Graph inputs and params carry their own names; other tensors are named by id. */
    readonly name: string,
    readonly producer?: Node,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  toString(): string {
    return `${this.name}${formatShape(this.shape)}`;
  }
}

export interface Node {
  id: number;
  op: OpName;
  inputs: Tensor[];
  outputs: Tensor[];
  attrs: Record<string, unknown>;
}

export interface ConstantData {
  tensor: Tensor;
  data: Float32Array | Float64Array | BigInt64Array;
}

export type FloatArray = Float32Array | Float64Array;

/**
 * Rewrites a weight as a network declares it: given the name, shape and values `Graph.param` was
 * called with, return the tensor the network should use instead (e.g. W + ΔW of a LoRA adapter, or
 * W frozen as a constant while only the adapter trains), or undefined to keep the plain param.
 * It is switched off while it runs, so the tensors it builds (the adapter's own params) are plain.
 */
export type ParamHook = (g: Graph, name: string, shape: number[], data: FloatArray) => Tensor | undefined;

/**
 * A low-rank update ΔW = scale·reshape(B·A) riding on a weight W [d0, d1, kh, kw] (LoRA):
 * A [r, d1·kh·kw], B [d0, r]. See `Graph.withLowRank`.
 */
export interface LowRankUpdate {
  a: Tensor;
  b: Tensor;
  scale: number;
}

export interface ConvOptions {
  stride?: number | [number, number];
  /** Same padding on all sides, or [top, left, bottom, right]. */
  pad?: number | [number, number, number, number];
  padMode?: 'zeros' | 'reflect';
  dilation?: number | [number, number];
  groups?: number;
}

export interface PoolOptions {
  kernel: number | [number, number];
  stride?: number | [number, number];
  pad?: number | [number, number, number, number];
  /** Round the output size up (PyTorch's ceil_mode): the last window may hang over the edge. */
  ceil?: boolean;
}

const pair = (v: number | [number, number] | undefined, dflt: number): [number, number] =>
  v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : v;
const quad = (v: number | [number, number, number, number] | undefined): [number, number, number, number] =>
  v === undefined ? [0, 0, 0, 0] : typeof v === 'number' ? [v, v, v, v] : v;

/** ONNX's "to the end" for Slice ends. */
export const SLICE_END = 2 ** 53 - 1;

export class Graph {
  readonly nodes: Node[] = [];
  readonly tensors: Tensor[] = [];
  readonly inputs: Tensor[] = [];
  readonly params: Tensor[] = [];
  readonly data = new Map<number, FloatArray | BigInt64Array>();
  readonly outputs = new Map<string, Tensor>();
  private nextId = 0;
  /** See `ParamHook`: set before the network is built (engine/lora/graph-adapter.ts sets it). */
  paramHook?: ParamHook;
  /** W + ΔW tensors made by `withLowRank` (by id), with their W and updates. */
  private readonly lowRank = new Map<number, { weight: Tensor; updates: LowRankUpdate[] }>();

  /** Float element type of inputs, params and constants: float32 normally, float64 for checks. */
  constructor(readonly floatType: 'float32' | 'float64' = 'float32') {}

  // ---------------------------------------------------------------- sources

  /** A graph input fed at run time. Strings in `shape` are sizes given at run time (dynamic H/W). */
  input(name: string, shape: Dim[], dtype: DType = this.floatType): Tensor {
    this.checkName(name);
    const t = this.newTensor('input', shape, dtype, name);
    this.inputs.push(t);
    return t;
  }

  /** A named weight: an initializer, or a graph input when emitted with `paramsAsInputs` (training). */
  param(name: string, shape: number[], data: FloatArray): Tensor {
    this.checkName(name);
    const size = shape.reduce((a, b) => a * b, 1);
    if (data.length !== size) {
      throw new AtelierError('E_WEIGHTS_INVALID', `Weight ${name} has ${data.length} values`, {
        expected: `${size} values for shape ${formatShape(shape)}`,
      });
    }
    const hook = this.paramHook;
    if (hook) {
      this.paramHook = undefined;
      try {
        const replaced = hook(this, name, shape, data);
        if (replaced) return replaced;
      } finally {
        this.paramHook = hook;
      }
    }
    const t = this.newTensor('param', shape, this.floatType, name);
    this.params.push(t);
    this.data.set(t.id, data);
    return t;
  }

  /** A fixed float tensor (not trainable). */
  constant(values: ArrayLike<number>, shape: number[] = [values.length]): Tensor {
    const t = this.newTensor('constant', shape, this.floatType);
    this.data.set(t.id, this.floatType === 'float32' ? Float32Array.from(values) : Float64Array.from(values));
    return t;
  }

  scalar(value: number): Tensor {
    return this.constant([value], []);
  }

  /** A fixed int64 tensor (shapes, axes, indices). */
  int64(values: number[], shape: number[] = [values.length]): Tensor {
    const t = this.newTensor('constant', shape, 'int64');
    this.data.set(t.id, BigInt64Array.from(values.map((v) => BigInt(v))));
    return t;
  }

  /** Mark a tensor as a named output of the graph. */
  output(name: string, t: Tensor): Tensor {
    this.checkName(name);
    this.outputs.set(name, t);
    return t;
  }

  // ---------------------------------------------------------------- convolution, pooling, resize

  /**
   * 2-D convolution, NCHW, weight [Cout, Cin/groups, kh, kw]. `padMode: 'reflect'` pads by
   * reflection (a separate `pad` op) before an unpadded conv.
   */
  conv(x: Tensor, weight: Tensor, bias: Tensor | undefined, o: ConvOptions = {}): Tensor {
    this.expectRank(x, 4, 'conv input');
    this.expectRank(weight, 4, 'conv weight');
    let pads = quad(o.pad);
    if (o.padMode === 'reflect' && pads.some((p) => p > 0)) {
      x = this.pad(x, pads, 'reflect');
      pads = [0, 0, 0, 0];
    }
    const stride = pair(o.stride, 1);
    const dilation = pair(o.dilation, 1);
    const groups = o.groups ?? 1;
    const [cout, cinPerGroup, kh, kw] = weight.shape as number[];
    if (typeof x.shape[1] === 'number' && x.shape[1] !== cinPerGroup! * groups) {
      throw new AtelierError('E_ENGINE', 'Conv input channels do not match its weight', {
        expected: `${cinPerGroup! * groups} channels (weight ${formatShape(weight.shape)}, groups ${groups})`,
        received: `input ${formatShape(x.shape)}`,
      });
    }
    const shape: Dim[] = [
      x.shape[0]!,
      cout!,
      windowDim(x.shape[2]!, kh!, pads[0], pads[2], stride[0], dilation[0]),
      windowDim(x.shape[3]!, kw!, pads[1], pads[3], stride[1], dilation[1]),
    ];
    const inputs = bias ? [x, weight, bias] : [x, weight];
    const attrs = { stride, pads, dilation, groups, kernel: [kh, kw] };
    const lowRank = this.lowRank.get(weight.id);
    if (!lowRank || groups !== 1) return this.add1('conv', inputs, shape, attrs);
    // conv(x, W + s·B·A) = conv(x, W) + s·conv1×1(conv(x, A as [r, Cin, kh, kw]), B as [Cout, r, 1, 1]):
    // the update's cost and its gradients scale with r, not with W's size (W itself needs no gradient).
    let y = this.add1('conv', bias ? [x, lowRank.weight, bias] : [x, lowRank.weight], shape, attrs);
    for (const u of lowRank.updates) {
      const r = u.a.shape[0] as number;
      const h = this.add1('conv', [x, this.reshape(u.a, [r, cinPerGroup!, kh!, kw!])], [shape[0]!, r, shape[2]!, shape[3]!], attrs);
      const branch = this.add1('conv', [h, this.reshape(u.b, [cout!, r, 1, 1])], shape, { stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1], groups: 1, kernel: [1, 1] });
      y = this.add(y, this.scale(branch, u.scale));
    }
    return y;
  }

  /**
   * W + Σ scale·reshape(B·A, W's shape) for a weight W (LoRA), as a tensor any op can read. A
   * convolution with groups 1 reading it computes the updates as side branches instead (see
   * `conv`), so neither W + ΔW nor its gradient is ever formed there; the nodes that form it are
   * then unused and left out of the emitted model.
   */
  /**
   * The frozen weight and updates behind a tensor `withLowRank` made, or undefined: for layers that
   * read a weight through something other than one conv (the fast net's upsampling conv folds its
   * kernel into four phases first) and would otherwise form, and differentiate, W + ΔW whole.
   */
  lowRankOf(t: Tensor): { weight: Tensor; updates: readonly LowRankUpdate[] } | undefined {
    return this.lowRank.get(t.id);
  }

  withLowRank(weight: Tensor, updates: LowRankUpdate[]): Tensor {
    let merged = weight;
    for (const u of updates) {
      const [r, cols] = u.a.shape as number[];
      const rest = (weight.shape.slice(1) as number[]).reduce((p, q) => p * q, 1);
      if (u.b.shape[0] !== weight.shape[0] || u.b.shape[1] !== r || cols !== rest) {
        throw new AtelierError('E_ENGINE', 'A low-rank update does not fit its weight', {
          expected: `A [r, ${rest}] and B [${weight.shape[0]}, r] for ${weight}`,
          received: `A ${formatShape(u.a.shape)}, B ${formatShape(u.b.shape)}`,
        });
      }
      merged = this.add(merged, this.scale(this.reshape(this.matmul(u.b, u.a), weight.shape as number[]), u.scale));
    }
    this.lowRank.set(merged.id, { weight, updates });
    return merged;
  }

  /**
   * Transposed 2-D convolution (PyTorch's ConvTranspose2d, ONNX ConvTranspose), NCHW, weight
   * [Cin, Cout, kh, kw]: the adjoint of a conv with that kernel, the learned ×stride upsampling of
   * GAN generators. `outputPadding` adds rows and columns at the end so that a stride-s conv of the
   * result gives back the input size (CycleGAN's k 3, pad 1, output padding 1).
   */
  convTranspose(x: Tensor, weight: Tensor, bias: Tensor | undefined, o: { stride?: number; pad?: number; outputPadding?: number } = {}): Tensor {
    this.expectRank(x, 4, 'convTranspose input');
    this.expectRank(weight, 4, 'convTranspose weight');
    const stride = o.stride ?? 1;
    const pad = o.pad ?? 0;
    const outputPadding = o.outputPadding ?? 0;
    const [cin, cout, kh, kw] = weight.shape as number[];
    if (typeof x.shape[1] === 'number' && x.shape[1] !== cin) {
      throw new AtelierError('E_ENGINE', 'ConvTranspose input channels do not match its weight', {
        expected: `${cin} channels (weight ${formatShape(weight.shape)}, laid out [Cin, Cout, kh, kw])`,
        received: `input ${formatShape(x.shape)}`,
      });
    }
    if (outputPadding >= stride) {
      throw new AtelierError('E_ENGINE', 'ConvTranspose output padding must be smaller than its stride', { received: `output padding ${outputPadding}, stride ${stride}` });
    }
    const shape: Dim[] = [
      x.shape[0]!,
      cout!,
      transposedWindowDim(x.shape[2]!, kh!, pad, pad, stride, outputPadding),
      transposedWindowDim(x.shape[3]!, kw!, pad, pad, stride, outputPadding),
    ];
    const inputs = bias ? [x, weight, bias] : [x, weight];
    return this.add1('convTranspose', inputs, shape, { stride: [stride, stride], pads: [pad, pad, pad, pad], outputPadding: [outputPadding, outputPadding], kernel: [kh, kw] });
  }

  /** Pad H and W by [top, left, bottom, right]: zeros, reflection (without the edge) or edge copies. */
  pad(x: Tensor, pads: [number, number, number, number], mode: 'constant' | 'reflect' | 'edge' = 'constant'): Tensor {
    this.expectRank(x, 4, 'pad input');
    const shape: Dim[] = [x.shape[0]!, x.shape[1]!, addDim(x.shape[2]!, pads[0] + pads[2]), addDim(x.shape[3]!, pads[1] + pads[3])];
    return this.add1('pad', [x], shape, { pads, mode });
  }

  /** Max pooling. The node also yields ONNX's flat indices of the maxima (used by the backward rule). */
  maxPool(x: Tensor, o: PoolOptions): Tensor {
    return this.pool('maxPool', x, o);
  }

  /** Average pooling (padding counts as zeros, like PyTorch's default). */
  avgPool(x: Tensor, o: PoolOptions): Tensor {
    return this.pool('avgPool', x, o);
  }

  private pool(op: 'maxPool' | 'avgPool', x: Tensor, o: PoolOptions): Tensor {
    this.expectRank(x, 4, `${op} input`);
    const kernel = pair(o.kernel, 1);
    const stride = pair(o.stride, kernel[0]);
    const pads = quad(o.pad);
    const ceil = o.ceil ?? false;
    const out = (d: Dim, k: number, p0: number, p1: number, s: number) =>
      ceil ? (typeof d === 'number' ? Math.ceil((d + p0 + p1 - k) / s) + 1 : `${d}|cw${k},${p0},${p1},${s}`) : windowDim(d, k, p0, p1, s, 1);
    const shape: Dim[] = [
      x.shape[0]!,
      x.shape[1]!,
      out(x.shape[2]!, kernel[0], pads[0], pads[2], stride[0]),
      out(x.shape[3]!, kernel[1], pads[1], pads[3], stride[1]),
    ];
    const attrs = { kernel, stride, pads, ceil };
    if (op === 'maxPool') return this.addNode(op, [x], [shape, shape], attrs, [x.dtype, 'int64']).outputs[0]!;
    return this.add1(op, [x], shape, attrs);
  }

  /**
   * Depth to space (ONNX DCR order): [N, b²·C, H, W] → [N, C, b·H, b·W], where output pixel
   * (b·h + r, b·w + s) of channel c is input channel (r·b + s)·C + c at (h, w).
   */
  depthToSpace(x: Tensor, block: number): Tensor {
    this.expectRank(x, 4, 'depthToSpace input');
    const c = x.shape[1];
    if (typeof c !== 'number' || c % (block * block) !== 0) {
      throw new AtelierError('E_ENGINE', 'depthToSpace needs a channel count divisible by the block area', {
        expected: `a multiple of ${block * block}`,
        received: `${formatShape(x.shape)}`,
      });
    }
    return this.add1('depthToSpace', [x], [x.shape[0]!, c / (block * block), scaleDim(x.shape[2]!, block), scaleDim(x.shape[3]!, block)], { block });
  }

  /**
   * Resize H and W by an integer or fractional factor: 'nearest' (floor) or 'linear'. Linear maps
   * output pixel o to input o·(1/scale) at 'half_pixel' centres (PyTorch align_corners=False, TF2) by
   * default, or at 'asymmetric' corners (TensorFlow 1's resize_bilinear without half_pixel_centers).
   */
  resize(x: Tensor, scale: number, mode: 'nearest' | 'linear' = 'nearest', coordinates: 'half_pixel' | 'asymmetric' = 'half_pixel'): Tensor {
    this.expectRank(x, 4, 'resize input');
    const shape: Dim[] = [x.shape[0]!, x.shape[1]!, scaleDim(x.shape[2]!, scale), scaleDim(x.shape[3]!, scale)];
    return this.add1('resize', [x], shape, mode === 'linear' && coordinates === 'asymmetric' ? { scale, mode, coordinates } : { scale, mode });
  }

  // ---------------------------------------------------------------- normalisation

  /** Instance normalisation over H, W per channel, with per-channel scale and bias. */
  instanceNorm(x: Tensor, scale: Tensor, bias: Tensor, eps = 1e-5): Tensor {
    this.expectRank(x, 4, 'instanceNorm input');
    return this.add1('instanceNorm', [x, scale, bias], x.shape, { eps });
  }

  /** Batch normalisation with fixed statistics (inference form): an affine map per channel. */
  batchNorm(x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor, eps = 1e-5): Tensor {
    const c = (t: Tensor) => this.reshape(t, [1, -1, 1, 1]);
    const inv = this.div(c(scale), this.sqrt(this.add(c(variance), this.scalar(eps))));
    return this.add(this.mul(this.sub(x, c(mean)), inv), c(bias));
  }

  /** Group normalisation: statistics over each group of channels and H, W; per-channel affine. */
  groupNorm(x: Tensor, groups: number, scale: Tensor, bias: Tensor, eps = 1e-5): Tensor {
    const channels = x.shape[1] as number;
    const grouped = this.reshape(x, [0, groups, -1]);
    const mean = this.reduceMean(grouped, [2], true);
    const centred = this.sub(grouped, mean);
    const variance = this.reduceMean(this.mul(centred, centred), [2], true);
    const normed = this.div(centred, this.sqrt(this.add(variance, this.scalar(eps))));
    const back = this.reshapeLike(normed, x);
    const c = (t: Tensor) => this.reshape(t, [1, channels, 1, 1]);
    return this.add(this.mul(back, c(scale)), c(bias));
  }

  // ---------------------------------------------------------------- activations and elementwise

  relu(x: Tensor): Tensor {
    return this.add1('relu', [x], x.shape);
  }
  leakyRelu(x: Tensor, alpha = 0.01): Tensor {
    return this.add1('leakyRelu', [x], x.shape, { alpha });
  }
  tanh(x: Tensor): Tensor {
    return this.add1('tanh', [x], x.shape);
  }
  sigmoid(x: Tensor): Tensor {
    return this.add1('sigmoid', [x], x.shape);
  }
  /** The Gauss error function erf(x) = 2/√π ∫₀ˣ e^(−t²) dt. */
  erf(x: Tensor): Tensor {
    return this.add1('erf', [x], x.shape);
  }
  /** SiLU (swish): x · sigmoid(x). */
  silu(x: Tensor): Tensor {
    return this.mul(x, this.sigmoid(x));
  }
  exp(x: Tensor): Tensor {
    return this.add1('exp', [x], x.shape);
  }
  log(x: Tensor): Tensor {
    return this.add1('log', [x], x.shape);
  }
  sqrt(x: Tensor): Tensor {
    return this.add1('sqrt', [x], x.shape);
  }
  neg(x: Tensor): Tensor {
    return this.add1('neg', [x], x.shape);
  }
  abs(x: Tensor): Tensor {
    return this.add1('abs', [x], x.shape);
  }
  square(x: Tensor): Tensor {
    return this.mul(x, x);
  }

  /**
   * 1 where x ≥ threshold, else 0 (x's float type). A step function: its gradient is zero almost
   * everywhere, so it masks a loss term without differentiating the mask.
   */
  atLeast(x: Tensor, threshold: number): Tensor {
    return this.add1('atLeast', [x], x.shape, { threshold });
  }

  add(a: Tensor, b: Tensor): Tensor {
    return this.binary('add', a, b);
  }
  sub(a: Tensor, b: Tensor): Tensor {
    return this.binary('sub', a, b);
  }
  mul(a: Tensor, b: Tensor): Tensor {
    return this.binary('mul', a, b);
  }
  div(a: Tensor, b: Tensor): Tensor {
    return this.binary('div', a, b);
  }
  /** Multiply by a number. */
  scale(x: Tensor, k: number): Tensor {
    return k === 1 ? x : this.mul(x, this.scalar(k));
  }

  private binary(op: 'add' | 'sub' | 'mul' | 'div', a: Tensor, b: Tensor): Tensor {
    let shape: Dim[];
    try {
      shape = broadcastDims(a.shape as Dim[], b.shape as Dim[]);
    } catch (e) {
      throw new AtelierError('E_ENGINE', `Cannot ${op} ${a} and ${b}`, { expected: 'shapes that broadcast', cause: e });
    }
    return this.add1(op, [a, b], shape);
  }

  // ---------------------------------------------------------------- shape ops

  concat(xs: Tensor[], axis: number): Tensor {
    const a = this.axis(xs[0]!, axis);
    const shape = [...xs[0]!.shape];
    const sizes = xs.map((x) => x.shape[a]!);
    shape[a] = sizes.every((s) => typeof s === 'number') ? (sizes as number[]).reduce((p, q) => p + q, 0) : `cat${this.nextId}`;
    return this.add1('concat', xs, shape, { axis: a });
  }

  /** Split along `axis` into pieces of the given sizes. */
  split(x: Tensor, axis: number, sizes: number[]): Tensor[] {
    const a = this.axis(x, axis);
    const shapes = sizes.map((s) => x.shape.map((d, i) => (i === a ? s : d)));
    return this.addNode('split', [x], shapes, { axis: a, sizes }).outputs;
  }

  /**
   * Slice along axes: `starts`/`ends` may be negative (from the end); `ends` may be SLICE_END.
   * Steps other than 1 are allowed but have no backward rule.
   */
  slice(x: Tensor, axes: number[], starts: number[], ends: number[], steps?: number[]): Tensor {
    const shape = [...x.shape];
    const ax = axes.map((a) => this.axis(x, a));
    ax.forEach((a, i) => {
      const d = x.shape[a]!;
      const step = steps?.[i] ?? 1;
      if (typeof d === 'number') {
        const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
        const s = clamp(starts[i]! < 0 ? d + starts[i]! : starts[i]!, step > 0 ? 0 : -1, step > 0 ? d : d - 1);
        const e = clamp(ends[i]! < 0 ? d + ends[i]! : ends[i]!, step > 0 ? 0 : -1, step > 0 ? d : d - 1);
        shape[a] = Math.max(0, Math.ceil((e - s) / step));
      } else if (starts[i]! >= 0 && ends[i]! === SLICE_END && step === 1) {
        shape[a] = addDim(d, -starts[i]!);
      } else if (starts[i]! >= 0 && ends[i]! < 0 && step === 1) {
        shape[a] = addDim(d, -starts[i]! + ends[i]!);
      } else if (starts[i]! < 0 && ends[i]! <= 0 && step === 1) {
        shape[a] = ends[i] === 0 ? 0 : -starts[i]! + ends[i]!;
        if (ends[i] === 0) throw new AtelierError('E_ENGINE', 'slice end 0 with a negative start is empty; use SLICE_END');
      } else {
        shape[a] = `${d}|s${starts[i]},${ends[i]},${step}`;
      }
    });
    return this.add1('slice', [x], shape, { axes: ax, starts, ends, steps: steps ?? ax.map(() => 1) });
  }

  /** Reverse the order along one axis. */
  reverse(x: Tensor, axis: number): Tensor {
    const a = this.axis(x, axis);
    return this.add1('slice', [x], x.shape, { axes: [a], starts: [-1], ends: [-(2 ** 53 - 1)], steps: [-1] });
  }

  /**
   * Reverse both spatial axes of a kernel [A, B, kh, kw] (its taps). Lowered as a reversed Slice
   * when the kernel is a constant of the emitted model (ORT folds it once), else as a product with
   * a reversal matrix: ORT copies a reversed Slice one element at a time, every run.
   */
  reverseTaps(x: Tensor): Tensor {
    this.expectRank(x, 4, 'reverseTaps input');
    return this.add1('reverseTaps', [x], x.shape);
  }

  /** Reshape with ONNX conventions: 0 copies the input's size, -1 is inferred. */
  reshape(x: Tensor, shape: number[]): Tensor {
    const known = x.shape.every((d) => typeof d === 'number');
    const out: Dim[] = shape.map((s, i) => (s === 0 ? x.shape[i]! : s));
    const unknown = out.indexOf(-1);
    if (unknown >= 0) {
      const rest = out.filter((_, i) => i !== unknown);
      if (known && rest.every((d) => typeof d === 'number')) {
        const total = (x.shape as number[]).reduce((p, q) => p * q, 1);
        out[unknown] = total / (rest as number[]).reduce((p, q) => p * q, 1);
      } else {
        out[unknown] = `r${this.nextId}`;
      }
    }
    return this.add1('reshape', [x], out, { shape });
  }

  /** Reshape `x` to the (run-time) shape of `like`. */
  reshapeLike(x: Tensor, like: Tensor): Tensor {
    return this.add1('reshapeLike', [x, like], like.shape);
  }

  transpose(x: Tensor, perm: number[]): Tensor {
    return this.add1(
      'transpose',
      [x],
      perm.map((p) => x.shape[p]!),
      { perm },
    );
  }

  /**
   * Pick positions along `axis` by `indices` (an int64 [P] tensor, each in [0, size)): the output has
   * x's shape with that axis P long (ONNX Gather). Indices may repeat; the gradient adds up the
   * repeats. A resampling with fixed coordinates (a perspective warp) is a few of these, weighted.
   */
  gather(x: Tensor, axis: number, indices: Tensor): Tensor {
    const a = this.axis(x, axis);
    if (indices.dtype !== 'int64' || indices.rank !== 1) {
      throw new AtelierError('E_ENGINE', 'gather takes a one-axis int64 index tensor', { received: `${indices} (${indices.dtype})` });
    }
    return this.add1('gather', [x, indices], x.shape.map((d, i) => (i === a ? indices.shape[0]! : d)), { axis: a });
  }

  /** Matrix product over the last two axes, broadcasting the leading ones. */
  matmul(a: Tensor, b: Tensor): Tensor {
    const batch = broadcastDims(a.shape.slice(0, -2) as Dim[], b.shape.slice(0, -2) as Dim[]);
    return this.add1('matmul', [a, b], [...batch, a.shape[a.rank - 2]!, b.shape[b.rank - 1]!]);
  }

  reduceSum(x: Tensor, axes: number[], keepdims = false): Tensor {
    return this.reduce('reduceSum', x, axes, keepdims);
  }
  reduceMean(x: Tensor, axes: number[], keepdims = false): Tensor {
    return this.reduce('reduceMean', x, axes, keepdims);
  }
  /** Sum of every element, as a scalar of shape []. */
  sumAll(x: Tensor): Tensor {
    return this.reduceSum(x, x.shape.map((_, i) => i));
  }
  meanAll(x: Tensor): Tensor {
    return this.reduceMean(x, x.shape.map((_, i) => i));
  }

  private reduce(op: 'reduceSum' | 'reduceMean', x: Tensor, axes: number[], keepdims: boolean): Tensor {
    const ax = axes.map((a) => this.axis(x, a)).sort((p, q) => p - q);
    const shape = keepdims ? x.shape.map((d, i) => (ax.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !ax.includes(i));
    return this.add1(op, [x], shape, { axes: ax, keepdims });
  }

  /**
   * The number of elements of `x` over `axes` (all by default), as a float scalar: a constant when
   * those sizes are fixed, else computed at run time. Carries no gradient (it is piecewise constant).
   */
  elementCount(x: Tensor, axes?: number[]): Tensor {
    const ax = (axes ?? x.shape.map((_, i) => i)).map((a) => this.axis(x, a));
    const dims = ax.map((a) => x.shape[a]!);
    if (dims.every((d) => typeof d === 'number')) return this.scalar((dims as number[]).reduce((p, q) => p * q, 1));
    return this.add1('elementCount', [x], [], { axes: ax });
  }

  softmax(x: Tensor, axis = -1): Tensor {
    return this.add1('softmax', [x], x.shape, { axis: this.axis(x, axis) });
  }

  /**
   * Any ONNX operator, for plumbing that needs no gradient (shape arithmetic, indices). The caller
   * states the outputs' shapes and types. Autodiff refuses to differentiate through it.
   */
  onnx(opType: string, inputs: (Tensor | undefined)[], outputs: { shape: Dim[]; dtype?: DType }[], attrs: Record<string, OnnxAttr> = {}): Tensor[] {
    const node = this.addNode(
      'onnx',
      inputs.filter((t): t is Tensor => t !== undefined),
      outputs.map((o) => o.shape),
      { opType, attrs, inputSlots: inputs.map((t) => t !== undefined) },
      outputs.map((o) => o.dtype ?? this.floatType),
    );
    return node.outputs;
  }

  // ---------------------------------------------------------------- internals

  /** Record a node. Exposed for backward rules; networks use the named methods above. */
  addNode(op: OpName, inputs: Tensor[], shapes: Dim[][], attrs: Record<string, unknown> = {}, dtypes?: DType[]): Node {
    for (const t of inputs) {
      if (t.graph !== this) throw new AtelierError('E_INTERNAL', `Tensor ${t} belongs to another graph`);
    }
    const node: Node = { id: this.nodes.length, op, inputs, outputs: [], attrs };
    node.outputs = shapes.map((s, i) => this.newTensor('value', s, dtypes?.[i] ?? inputs[0]?.dtype ?? this.floatType, undefined, node));
    this.nodes.push(node);
    return node;
  }

  add1(op: OpName, inputs: Tensor[], shape: readonly Dim[], attrs: Record<string, unknown> = {}): Tensor {
    return this.addNode(op, inputs, [[...shape]], attrs).outputs[0]!;
  }

  private newTensor(kind: TensorKind, shape: readonly Dim[], dtype: DType, name?: string, producer?: Node): Tensor {
    const id = this.nextId++;
    const t = new Tensor(this, id, kind, [...shape], dtype, name ?? `_t${id}`, producer);
    this.tensors.push(t);
    return t;
  }

  private checkName(name: string): void {
    if (name.startsWith('_t') || this.inputs.some((t) => t.name === name) || this.params.some((t) => t.name === name) || this.outputs.has(name)) {
      throw new AtelierError('E_INTERNAL', `Graph name ${JSON.stringify(name)} is already used or reserved`);
    }
  }

  private axis(x: Tensor, a: number): number {
    const r = a < 0 ? a + x.rank : a;
    if (r < 0 || r >= x.rank) throw new AtelierError('E_ENGINE', `Axis ${a} is out of range for ${x}`);
    return r;
  }

  private expectRank(x: Tensor, rank: number, what: string): void {
    if (x.rank !== rank) {
      throw new AtelierError('E_ENGINE', `The ${what} must have ${rank} axes`, { received: `${x}` });
    }
  }
}
