import { AtelierError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import type { Graph, Tensor } from '../graph/graph.js';
import type { TensorMap } from '../weights/tensor.js';

/**
 * The feed-forward image transformation network of Johnson, Alahi & Fei-Fei 2016 ("Perceptual
 * Losses for Real-Time Style Transfer"), with the instance normalisation of Ulyanov et al. and the
 * nearest-upsample + conv decoder, in the key layout of PyTorch's examples/fast_neural_style
 * (`conv1.conv2d.weight`, `in1.weight`, `res1.conv1.conv2d.weight`, `deconv1.conv2d.weight`, …).
 * Input and output are RGB in the 0–255 range of those checkpoints.
 */

/**
 * The published fast-style networks all share this layout and differ in four details, so one
 * definition takes them as a spec:
 * - PyTorch's examples (and the ONNX-zoo / ncnn copies, and fst-small's retrained nets): every
 *   conv reflection-padded by k/2 with a bias; upsampling by nearest ×2 then a 3×3 conv; instance
 *   norm ε = 1e-5; the last conv's output is the image.
 * - Engstrom's TensorFlow fast-style-transfer (and its deeplearn.js port): convs padded 'SAME'
 *   with zeros (at stride 2 on an even size: 0 before, 1 after), no conv biases (the instance
 *   norm's shift takes their place), stride-2 transposed convs up, instance norm ε = 1e-3 with
 *   one after the last conv too, and the image is tanh(x)·150 + 127.5.
 */
export interface JohnsonNetSpec {
  /** Channels of the first conv; then 2× and 4× (Johnson et al.: 32; fst-small: 16 or 8). */
  width: number;
  padding: 'reflect' | 'tf-same';
  upsampling: 'nearest-conv' | 'transposed-conv';
  convBias: boolean;
  normEps: number;
  /** 'linear': the last conv is the image; 'norm-tanh': instance norm, then tanh(x)·150 + 127.5. */
  head: 'linear' | 'norm-tanh';
}

export const PYTORCH_EXAMPLES_NET: JohnsonNetSpec = { width: 32, padding: 'reflect', upsampling: 'nearest-conv', convBias: true, normEps: 1e-5, head: 'linear' };
export const ENGSTROM_NET: JohnsonNetSpec = { width: 32, padding: 'tf-same', upsampling: 'transposed-conv', convBias: false, normEps: 1e-3, head: 'norm-tanh' };

interface ConvLayer {
  key: string;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  /** ×2 on the way up: nearest upsampling + conv, or a stride-2 transposed conv (per spec). */
  up?: boolean;
  /** The instance norm after this conv, if any. */
  norm?: string;
  relu: boolean;
}

const RESIDUAL_BLOCKS = 5;

/** The convs in network order (residual blocks' convs included), for a spec. */
function layers(spec: JohnsonNetSpec): ConvLayer[] {
  const [c1, c2, c3] = [spec.width, 2 * spec.width, 4 * spec.width];
  const out: ConvLayer[] = [
    { key: 'conv1', cin: 3, cout: c1, k: 9, stride: 1, norm: 'in1', relu: true },
    { key: 'conv2', cin: c1, cout: c2, k: 3, stride: 2, norm: 'in2', relu: true },
    { key: 'conv3', cin: c2, cout: c3, k: 3, stride: 2, norm: 'in3', relu: true },
  ];
  for (let r = 1; r <= RESIDUAL_BLOCKS; r++) {
    out.push({ key: `res${r}.conv1`, cin: c3, cout: c3, k: 3, stride: 1, norm: `res${r}.in1`, relu: true });
    out.push({ key: `res${r}.conv2`, cin: c3, cout: c3, k: 3, stride: 1, norm: `res${r}.in2`, relu: false });
  }
  out.push({ key: 'deconv1', cin: c3, cout: c2, k: 3, stride: 1, up: true, norm: 'in4', relu: true });
  out.push({ key: 'deconv2', cin: c2, cout: c1, k: 3, stride: 1, up: true, norm: 'in5', relu: true });
  out.push({ key: 'deconv3', cin: c1, cout: 3, k: 9, stride: 1, ...(spec.head === 'norm-tanh' && { norm: 'in6' }), relu: false });
  return out;
}

/**
 * The weight name of a conv: `KEY.conv2d.weight` [cout, cin, k, k]; a transposed conv is
 * `KEY.conv_transpose.weight` in PyTorch's ConvTranspose2d layout [cin, cout, k, k].
 */
function weightName(l: ConvLayer, spec: JohnsonNetSpec): string {
  return l.up && spec.upsampling === 'transposed-conv' ? `${l.key}.conv_transpose.weight` : `${l.key}.conv2d.weight`;
}

/** Every weight name with its shape (PyTorch examples' key layout; see `weightName`). */
export function transformerNetShapes(spec: JohnsonNetSpec = PYTORCH_EXAMPLES_NET): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const l of layers(spec)) {
    const name = weightName(l, spec);
    shapes.set(name, name.includes('conv_transpose') ? [l.cin, l.cout, l.k, l.k] : [l.cout, l.cin, l.k, l.k]);
    if (spec.convBias) shapes.set(name.replace(/weight$/, 'bias'), [l.cout]);
    if (l.norm) {
      shapes.set(`${l.norm}.weight`, [l.cout]);
      shapes.set(`${l.norm}.bias`, [l.cout]);
    }
  }
  return shapes;
}

/** Parameters of a spec's network (1,679,235 for PyTorch examples' 32-wide net). */
export function transformerNetParamCount(spec: JohnsonNetSpec = PYTORCH_EXAMPLES_NET): number {
  let n = 0;
  for (const shape of transformerNetShapes(spec).values()) n += shape.reduce((a, b) => a * b, 1);
  return n;
}

/**
 * Add the network to `g` (image N×3×H×W, RGB 0–255, H and W multiples of 4 so that the output
 * has the input's size); weights by name (see `transformerNetShapes`). With `normStatistics`, each
 * instance norm uses the per-channel mean and variance it returns (whole-image statistics for
 * tiles) instead of its input's own.
 */
export function transformerNet(g: Graph, image: Tensor, weights: TensorMap, spec: JohnsonNetSpec = PYTORCH_EXAMPLES_NET, options: TransformerNetOptions = {}): Tensor {
  const shapes = transformerNetShapes(spec);
  const p = (name: string) => {
    const t = weights.get(name);
    const shape = shapes.get(name)!;
    if (!t) {
      throw new AtelierError('E_WEIGHTS_INVALID', `The fast-style network's weights lack ${name}`, {
        expected: `${shapes.size} tensors (${[...shapes.keys()].slice(0, 3).join(', ')}, …) for a ${spec.width}-wide ${spec.upsampling} net`,
        received: `${weights.size} tensors (${[...weights.keys()].slice(0, 3).join(', ')}, …)`,
      });
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new AtelierError('E_WEIGHTS_INVALID', `Fast-style weight ${name} has the wrong shape`, { expected: `[${shape.join(', ')}]`, received: `[${t.shape.join(', ')}]` });
    }
    return g.param(name, shape, t.data);
  };
  const norm = (x: Tensor, key: string) => {
    const given = options.normStatistics?.(key, x);
    if (!given) return g.instanceNorm(x, p(`${key}.weight`), p(`${key}.bias`), spec.normEps);
    const c = x.shape[1] as number;
    // (x − μ)·γ/√(σ² + ε) + β as one multiply-add per element: the factors are [1, C, 1, 1].
    const gain = g.div(g.reshape(p(`${key}.weight`), [1, c, 1, 1]), g.sqrt(g.add(given.variance, g.scalar(spec.normEps))));
    const offset = g.sub(g.reshape(p(`${key}.bias`), [1, c, 1, 1]), g.mul(given.mean, gain));
    return g.add(g.mul(x, gain), offset);
  };
  const conv = (x: Tensor, l: ConvLayer) => {
    const name = weightName(l, spec);
    const bias = spec.convBias ? p(name.replace(/weight$/, 'bias')) : undefined;
    if (l.up && spec.upsampling === 'transposed-conv') return transposedConv2x(g, x, p(name), bias);
    if (l.up) return upsampleConv(g, x, p(name), bias ?? g.constant(new Float32Array(l.cout)));
    if (spec.padding === 'reflect') return g.conv(x, p(name), bias, { pad: Math.floor(l.k / 2), padMode: 'reflect', stride: l.stride });
    // TensorFlow 'SAME': total padding k − stride on a size divisible by the stride, the extra on the far side.
    const total = Math.max(l.k - l.stride, 0);
    const before = Math.floor(total / 2);
    return g.conv(x, p(name), bias, { pad: [before, before, total - before, total - before], stride: l.stride });
  };
  const layer = (x: Tensor, l: ConvLayer) => {
    let h = conv(x, l);
    if (l.norm) h = norm(h, l.norm);
    return l.relu ? g.relu(h) : h;
  };
  const all = layers(spec);
  let h = image;
  for (let i = 0; i < all.length; i++) {
    const l = all[i]!;
    if (l.key.endsWith('.conv1')) {
      const inner = layer(h, l);
      h = g.add(h, layer(inner, all[++i]!));
    } else {
      h = layer(h, l);
    }
  }
  if (spec.head === 'norm-tanh') h = g.add(g.scale(g.tanh(h), 150), g.scalar(127.5));
  return h;
}

export interface TransformerNetOptions {
  /**
   * Per-channel statistics for an instance norm instead of its input's own (`InstanceNormalization`):
   * given the norm's key and input, return its mean and variance, each [1, C, 1, 1] (graph inputs
   * for tiles that share whole-image statistics, or reductions of `x` to output them), or
   * undefined for the plain norm.
   */
  normStatistics?: (norm: string, x: Tensor) => { mean: Tensor; variance: Tensor } | undefined;
}

/** The instance norms of a spec, in network order, with their channel counts and the resolution they work at (1, 2 or 4: a fraction of the image's). */
export function transformerNetNorms(spec: JohnsonNetSpec = PYTORCH_EXAMPLES_NET): { key: string; channels: number; stride: number }[] {
  let stride = 1;
  return layers(spec).flatMap((l) => {
    stride = l.up ? stride / 2 : stride * l.stride;
    return l.norm ? [{ key: l.norm, channels: l.cout, stride }] : [];
  });
}

/**
 * TensorFlow's stride-2 3×3 transposed conv with 'SAME' padding (output exactly 2H × 2W):
 * y[2m] = x[m]·w0 + x[m−1]·w2 and y[2m+1] = x[m]·w1 along each axis. Computed as four output
 * phases of one 2×2 conv over the input zero-padded by one row and column before, interleaved by
 * depth-to-space: the same sums without the zeros a strided transposed conv scatters between
 * inputs. `weight` is [cin, cout, 3, 3] (PyTorch's ConvTranspose2d layout).
 */
export function transposedConv2x(g: Graph, x: Tensor, weight: Tensor, bias: Tensor | undefined): Tensor {
  const [cin, cout] = weight.shape as number[];
  // B[r][t][i]: tap t (of 2, reading x[m − 1 + t]) of phase r takes kernel tap i.
  const B = [
    [[0, 0, 1], [1, 0, 0]],
    [[0, 0, 0], [0, 1, 0]],
  ];
  const map = new Float32Array(9 * 16);
  for (let r = 0; r < 2; r++)
    for (let s = 0; s < 2; s++)
      for (let t = 0; t < 2; t++)
        for (let u = 0; u < 2; u++)
          for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) map[(i * 3 + j) * 16 + (r * 2 + s) * 4 + t * 2 + u] = B[r]![t]![i]! * B[s]![u]![j]!;
  const oihw = g.transpose(weight, [1, 0, 2, 3]);
  const phases = g.matmul(g.reshape(oihw, [cout! * cin!, 9]), g.constant(map, [9, 16]));
  const kernel = g.reshape(g.transpose(g.reshape(phases, [cout!, cin!, 4, 4]), [2, 0, 1, 3]), [4 * cout!, cin!, 2, 2]);
  const bias4 = bias ? g.concat([bias, bias, bias, bias], 0) : undefined;
  return g.depthToSpace(g.conv(x, kernel, bias4, { pad: [1, 1, 0, 0] }), 2);
}

/**
 * Nearest ×2 upsampling, reflect pad 1 and a 3×3 conv, computed at the input's resolution: the
 * reflect-padded upsampled image is the upsampled edge-padded input, so each of the four output
 * phases (row parity r, column parity s) is a 3×3 conv of the edge-padded input whose taps are sums
 * of W's: along an axis, phase 0 takes [w0, w1 + w2, 0] and phase 1 [0, w0 + w1, w2]. The four
 * phases come from one conv with 4·cout outputs and are interleaved by depth-to-space. The same
 * arithmetic as the published layer; the training step no longer materialises, pads, copies and
 * folds back the 4× larger upsampled activations (5 % off the Johnson step).
 */
export function upsampleConv(g: Graph, x: Tensor, weight: Tensor, bias: Tensor): Tensor {
  const [cout, cin] = weight.shape as number[];
  const lowRank = g.lowRankOf(weight);
  if (lowRank) {
    // A LoRA-adapted weight (W frozen): upsampleConv(x, W + s·B·A) = upsampleConv(x, W) +
    // s·conv1×1(upsampleConv(x, A as r 3×3 filters), B), since both are linear in the kernel. W's
    // phases are then constants and nothing of W's size is ever differentiated; A's phases are r/cout of them.
    let y = upsampleConv(g, x, lowRank.weight, bias);
    for (const u of lowRank.updates) {
      const r = u.a.shape[0] as number;
      const h = upsampleConv(g, x, g.reshape(u.a, [r, cin!, 3, 3]), g.constant(new Float32Array(r), [r]));
      y = g.add(y, g.scale(g.conv(h, g.reshape(u.b, [cout!, r, 1, 1]), undefined), u.scale));
    }
    return y;
  }
  // A[r][t][i]: tap t of phase r collects original tap i.
  const A = [
    [[1, 0, 0], [0, 1, 1], [0, 0, 0]],
    [[0, 0, 0], [1, 1, 0], [0, 0, 1]],
  ];
  const map = new Float32Array(9 * 36);
  for (let r = 0; r < 2; r++)
    for (let s = 0; s < 2; s++)
      for (let t = 0; t < 3; t++)
        for (let u = 0; u < 3; u++)
          for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) map[(i * 3 + j) * 36 + (r * 2 + s) * 9 + t * 3 + u] = A[r]![t]![i]! * A[s]![u]![j]!;
  const phases = g.matmul(g.reshape(weight, [cout! * cin!, 9]), g.constant(map, [9, 36]));
  const kernel = g.reshape(g.transpose(g.reshape(phases, [cout!, cin!, 4, 9]), [2, 0, 1, 3]), [4 * cout!, cin!, 3, 3]);
  const bias4 = g.concat([bias, bias, bias, bias], 0);
  return g.depthToSpace(g.conv(g.pad(x, [1, 1, 1, 1], 'edge'), kernel, bias4), 2);
}

/** Seeded initial weights: PyTorch's default conv init (uniform ±1/√fan-in), norms at 1 and 0. */
export function randomTransformerNetWeights(seed: number, spec: JohnsonNetSpec = PYTORCH_EXAMPLES_NET): TensorMap {
  const rng = new Rng(seed);
  const map: TensorMap = new Map();
  const shapes = transformerNetShapes(spec);
  for (const [name, shape] of shapes) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const isNorm = /(^|\.)in\d\.(weight|bias)$/.test(name);
    if (isNorm) data.fill(name.endsWith('.weight') ? 1 : 0);
    else {
      const weightShape = shapes.get(name.replace(/bias$/, 'weight'))!;
      const fanIn = (name.includes('conv_transpose') ? weightShape[0]! : weightShape[1]!) * weightShape[2]! * weightShape[3]!;
      const bound = 1 / Math.sqrt(fanIn);
      for (let i = 0; i < size; i++) data[i] = rng.uniform(-bound, bound);
    }
    map.set(name, { name, shape, data });
  }
  return map;
}
