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

/** Seeded initial weights: PyTorch's default conv init (uniform ±1/√fan-in), norms at 1 and 0. */
export function randomTransformerNetWeights(seed: number): TensorMap {
  const rng = new Rng(seed);
  const map: TensorMap = new Map();
  const shapes = transformerNetShapes();
  for (const [name, shape] of shapes) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const isNorm = /(^|\.)in\d\.weight$/.test(name) || /^in\d\./.test(name);
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
