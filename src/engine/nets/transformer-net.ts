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

interface ConvLayer {
  key: string;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  /** Nearest upsampling by this factor before the conv. */
  upsample?: number;
}

const ENCODER: ConvLayer[] = [
  { key: 'conv1', cin: 3, cout: 32, k: 9, stride: 1 },
  { key: 'conv2', cin: 32, cout: 64, k: 3, stride: 2 },
  { key: 'conv3', cin: 64, cout: 128, k: 3, stride: 2 },
];
const DECODER: ConvLayer[] = [
  { key: 'deconv1', cin: 128, cout: 64, k: 3, stride: 1, upsample: 2 },
  { key: 'deconv2', cin: 64, cout: 32, k: 3, stride: 1, upsample: 2 },
];
const OUTPUT: ConvLayer = { key: 'deconv3', cin: 32, cout: 3, k: 9, stride: 1 };
const RESIDUAL_BLOCKS = 5;

/** Every weight name with its shape. */
export function transformerNetShapes(): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const conv = (l: ConvLayer) => {
    shapes.set(`${l.key}.conv2d.weight`, [l.cout, l.cin, l.k, l.k]);
    shapes.set(`${l.key}.conv2d.bias`, [l.cout]);
  };
  const norm = (key: string, c: number) => {
    shapes.set(`${key}.weight`, [c]);
    shapes.set(`${key}.bias`, [c]);
  };
  ENCODER.forEach((l, i) => (conv(l), norm(`in${i + 1}`, l.cout)));
  for (let r = 1; r <= RESIDUAL_BLOCKS; r++) {
    for (const j of [1, 2]) {
      conv({ key: `res${r}.conv${j}`, cin: 128, cout: 128, k: 3, stride: 1 });
      norm(`res${r}.in${j}`, 128);
    }
  }
  DECODER.forEach((l, i) => (conv(l), norm(`in${i + 4}`, l.cout)));
  conv(OUTPUT);
  return shapes;
}

/** Add the network to `g`; weights by name (see `transformerNetShapes`). */
export function transformerNet(g: Graph, image: Tensor, weights: TensorMap): Tensor {
  const p = (name: string) => {
    const t = weights.get(name);
    if (!t) throw new Error(`transformer net weight ${name} missing`);
    return g.param(name, t.shape, t.data);
  };
  const conv = (x: Tensor, l: ConvLayer) => {
    if (l.upsample === 2 && l.k === 3 && l.stride === 1) return upsampleConv(g, x, p(`${l.key}.conv2d.weight`), p(`${l.key}.conv2d.bias`));
    const input = l.upsample ? g.resize(x, l.upsample, 'nearest') : x;
    return g.conv(input, p(`${l.key}.conv2d.weight`), p(`${l.key}.conv2d.bias`), { pad: Math.floor(l.k / 2), padMode: 'reflect', stride: l.stride });
  };
  const norm = (x: Tensor, key: string) => g.instanceNorm(x, p(`${key}.weight`), p(`${key}.bias`));
  let h = image;
  ENCODER.forEach((l, i) => (h = g.relu(norm(conv(h, l), `in${i + 1}`))));
  for (let r = 1; r <= RESIDUAL_BLOCKS; r++) {
    const c = { cin: 128, cout: 128, k: 3, stride: 1 };
    const a = g.relu(norm(conv(h, { key: `res${r}.conv1`, ...c }), `res${r}.in1`));
    h = g.add(h, norm(conv(a, { key: `res${r}.conv2`, ...c }), `res${r}.in2`));
  }
  DECODER.forEach((l, i) => (h = g.relu(norm(conv(h, l), `in${i + 4}`))));
  return conv(h, OUTPUT);
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
export function randomTransformerNetWeights(seed: number): TensorMap {
  const rng = new Rng(seed);
  const map: TensorMap = new Map();
  const shapes = transformerNetShapes();
  for (const [name, shape] of shapes) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const isNorm = /(^|\.)in\d\.(weight|bias)$/.test(name);
    if (isNorm) data.fill(name.endsWith('.weight') ? 1 : 0);
    else {
      const weightShape = shapes.get(name.replace(/bias$/, 'weight'))!;
      const bound = 1 / Math.sqrt(weightShape[1]! * weightShape[2]! * weightShape[3]!);
      for (let i = 0; i < size; i++) data[i] = rng.uniform(-bound, bound);
    }
    map.set(name, { name, shape, data });
  }
  return map;
}
