import type { Graph, Tensor } from '../graph/graph.js';
import type { ParameterSpec } from '../optim/parameter-set.js';

/**
 * StarGAN's networks (Choi et al., CVPR 2018, and the authors' PyTorch code, whose state-dict
 * names these are):
 *
 * Generator (`main.N…`): the image concatenated with the target domain's one-hot label, tiled over
 * the image; 7×7 conv (pad 3) to `width`, instance norm (affine), ReLU; two stride-2 4×4 convs
 * (pad 1) doubling the channels, each with instance norm and ReLU; `blocks` residual blocks of
 * [3×3 conv, instance norm, ReLU, 3×3 conv, instance norm] added to their input; two stride-2 4×4
 * transposed convs (pad 1) halving the channels, each with instance norm and ReLU; 7×7 conv to RGB,
 * tanh. Zero padding and no conv biases. Published: width 64, 6 blocks.
 *
 * Discriminator: `layers` stride-2 4×4 convs (pad 1, with biases) each followed by LeakyReLU 0.01,
 * doubling the channels from `width`; then two heads without biases: `conv1`, a 3×3 conv (pad 1) to
 * one channel (real/fake score per patch, no sigmoid: WGAN-GP), and `conv2`, a conv whose kernel
 * covers the whole last feature map (size / 2^layers) to one logit per domain. Published: width 64,
 * 6 layers at 128². The discriminator is piecewise linear in its input (convs and leaky ReLUs), which
 * the gradient penalty's exact parameter gradient relies on (see `discriminatorTangent`).
 *
 * Initialisation as PyTorch's defaults, which the code keeps: conv weights and biases U(±1/√fan_in)
 * (fan_in = in-channels·k², for a transposed conv its weight's dim 1·k²), instance-norm scale 1 and
 * shift 0. Images are RGB in [−1, 1].
 */

export interface StarGanGeneratorConfig {
  width: number;
  blocks: number;
  domains: number;
  /** Add the input image to the output (not published, off by default: see CycleGanGeneratorConfig.skip). */
  skip?: boolean;
  /**
   * The label also shifts every instance norm's output (not published, off by default): a learned
   * per-domain offset per channel, `label.N.weight` [domains, channels] for the norm `main.N`,
   * i.e. conditional instance normalisation's shift (Dumoulin, Shlens & Kudlur 2017). Why: the
   * published label planes are constant over the image, and the instance norm right after the
   * first conv subtracts each channel's mean, which removes a constant's contribution everywhere
   * but within the 7×7 conv's reach of the border (zero padding). What is left of the label is a
   * border effect, so the conditioning weakens as the image grows: at initialisation (width 16, 3
   * blocks) the output 8 px or more inside the border moves by a mean 0.090 on a change of label
   * at 64², 0.045 at 128×192 (test/train/stargan.test.ts checks the fall). A shift after the norm
   * reaches every pixel alike at any size. Zero at initialisation: the generator starts as the
   * published one. Trained, the published generator learns to carry the label inward all the same:
   * in the proof runs (bench/results/gan-proof-stargan-xdog-pencil-watercolor*.json) the output
   * inside a 128×192 image moved as much on a change of label with and without the shifts, and the
   * scores matched, so this is an option, not what made StarGAN learn there.
   */
  labelNorm?: boolean;
}

export interface StarGanDiscriminatorConfig {
  width: number;
  layers: number;
  /** Training image side: sets the classification head's kernel (size / 2^layers). */
  size: number;
  domains: number;
}

const uniform = (fanIn: number) => ({ kind: 'uniform', bound: 1 / Math.sqrt(fanIn) }) as const;
const ONE = { kind: 'constant', value: 1 } as const;
const ZERO = { kind: 'constant', value: 0 } as const;

function generatorLayout(c: StarGanGeneratorConfig) {
  const w = c.width;
  const u = 9 + c.blocks;
  return {
    first: { index: 0, norm: 1, cin: 3 + c.domains, cout: w, k: 7 },
    down: [
      { index: 3, norm: 4, cin: w, cout: 2 * w, k: 4 },
      { index: 6, norm: 7, cin: 2 * w, cout: 4 * w, k: 4 },
    ],
    blocks: Array.from({ length: c.blocks }, (_, b) => 9 + b),
    up: [
      { index: u, norm: u + 1, cin: 4 * w, cout: 2 * w, k: 4 },
      { index: u + 3, norm: u + 4, cin: 2 * w, cout: w, k: 4 },
    ],
    last: { index: u + 6, cin: w, cout: 3, k: 7 },
  };
}

export function starGanGeneratorSpecs(c: StarGanGeneratorConfig, prefix = 'G.'): ParameterSpec[] {
  const l = generatorLayout(c);
  const specs: ParameterSpec[] = [];
  const conv = (key: string, cout: number, cin: number, k: number) => specs.push({ name: `${prefix}${key}.weight`, shape: [cout, cin, k, k], init: uniform(cin * k * k) });
  const norm = (key: string, channels: number) =>
    specs.push({ name: `${prefix}${key}.weight`, shape: [channels], init: ONE }, { name: `${prefix}${key}.bias`, shape: [channels], init: ZERO });
  for (const v of [l.first, ...l.down]) {
    conv(`main.${v.index}`, v.cout, v.cin, v.k);
    norm(`main.${v.norm}`, v.cout);
  }
  const dim = 4 * c.width;
  for (const b of l.blocks) {
    conv(`main.${b}.main.0`, dim, dim, 3);
    norm(`main.${b}.main.1`, dim);
    conv(`main.${b}.main.3`, dim, dim, 3);
    norm(`main.${b}.main.4`, dim);
  }
  for (const v of l.up) {
    // ConvTranspose2d: weight [cin, cout, k, k], fan_in from its dim 1.
    specs.push({ name: `${prefix}main.${v.index}.weight`, shape: [v.cin, v.cout, v.k, v.k], init: uniform(v.cout * v.k * v.k) });
    norm(`main.${v.norm}`, v.cout);
  }
  conv(`main.${l.last.index}`, 3, c.width, 7);
  if (c.labelNorm) for (const [index, channels] of normLayers(c)) specs.push({ name: `${prefix}label.${index}.weight`, shape: [c.domains, channels], init: ZERO });
  return specs;
}

/** Every instance norm of the generator: its `main.` index and channels (the label shifts' layout). */
function normLayers(c: StarGanGeneratorConfig): [number | string, number][] {
  const l = generatorLayout(c);
  const dim = 4 * c.width;
  return [
    ...[l.first, ...l.down].map((v) => [v.norm, v.cout] as [number, number]),
    ...l.blocks.flatMap((b) => [[`${b}.main.1`, dim], [`${b}.main.4`, dim]] as [string, number][]),
    ...l.up.map((v) => [v.norm, v.cout] as [number, number]),
  ];
}

/**
 * The generator on an N×3×H×W image in [−1, 1] (H and W multiples of 4) and N×domains labels
 * (one-hot, or any mix), parameters from `p`.
 */
export function starGanGenerator(g: Graph, x: Tensor, label: Tensor, p: (name: string) => Tensor, c: StarGanGeneratorConfig): Tensor {
  const l = generatorLayout(c);
  const w = (k: number | string) => p(`main.${k}.weight`);
  const n = x.shape[0] as number;
  const norm = (h: Tensor, k: number | string) => {
    const y = g.instanceNorm(h, p(`main.${k}.weight`), p(`main.${k}.bias`));
    // Conditional shift: the label's row mix of the embedding, [N, C] → [N, C, 1, 1].
    return c.labelNorm ? g.add(y, g.reshape(g.matmul(label, p(`label.${k}.weight`)), [n, h.shape[1] as number, 1, 1])) : y;
  };
  // The label tiled over the image: [N, d, 1, 1] broadcast against a zero plane of the image.
  const plane = g.scale(g.slice(x, [1], [0], [1]), 0);
  const tiled = g.add(plane, g.reshape(label, [n, c.domains, 1, 1]));
  let h = g.relu(norm(g.conv(g.concat([x, tiled], 1), w(l.first.index), undefined, { pad: 3 }), l.first.norm));
  for (const d of l.down) h = g.relu(norm(g.conv(h, w(d.index), undefined, { pad: 1, stride: 2 }), d.norm));
  for (const b of l.blocks) {
    const r = g.relu(norm(g.conv(h, w(`${b}.main.0`), undefined, { pad: 1 }), `${b}.main.1`));
    h = g.add(h, norm(g.conv(r, w(`${b}.main.3`), undefined, { pad: 1 }), `${b}.main.4`));
  }
  for (const u of l.up) h = g.relu(norm(g.convTranspose(h, w(u.index), undefined, { stride: 2, pad: 1 }), u.norm));
  const y = g.tanh(g.conv(h, w(l.last.index), undefined, { pad: 3 }));
  return c.skip ? g.add(x, y) : y;
}

function discriminatorLayout(c: StarGanDiscriminatorConfig) {
  const convs = Array.from({ length: c.layers }, (_, i) => ({ index: 2 * i, cin: i === 0 ? 3 : c.width * 2 ** (i - 1), cout: c.width * 2 ** i }));
  return { convs, last: c.width * 2 ** (c.layers - 1), kernel: c.size / 2 ** c.layers };
}

export function starGanDiscriminatorSpecs(c: StarGanDiscriminatorConfig, prefix = 'D.'): ParameterSpec[] {
  const l = discriminatorLayout(c);
  const specs: ParameterSpec[] = [];
  for (const v of l.convs) {
    specs.push({ name: `${prefix}main.${v.index}.weight`, shape: [v.cout, v.cin, 4, 4], init: uniform(v.cin * 16) });
    specs.push({ name: `${prefix}main.${v.index}.bias`, shape: [v.cout], init: uniform(v.cin * 16) });
  }
  specs.push({ name: `${prefix}conv1.weight`, shape: [1, l.last, 3, 3], init: uniform(l.last * 9) });
  specs.push({ name: `${prefix}conv2.weight`, shape: [c.domains, l.last, l.kernel, l.kernel], init: uniform(l.last * l.kernel * l.kernel) });
  return specs;
}

export interface StarGanDiscriminatorOutputs {
  /** Real/fake scores, N×1×(size/2^layers)². */
  source: Tensor;
  /** Domain logits, N×domains. */
  classes: Tensor;
  /** Each hidden layer's pre-activation (what the leaky ReLUs' slopes depend on). */
  preActivations: Tensor[];
}

export function starGanDiscriminator(g: Graph, x: Tensor, p: (name: string) => Tensor, c: StarGanDiscriminatorConfig): StarGanDiscriminatorOutputs {
  const l = discriminatorLayout(c);
  let h = x;
  const preActivations: Tensor[] = [];
  for (const v of l.convs) {
    const a = g.conv(h, p(`main.${v.index}.weight`), p(`main.${v.index}.bias`), { pad: 1, stride: 2 });
    preActivations.push(a);
    h = g.leakyRelu(a, 0.01);
  }
  const source = g.conv(h, p('conv1.weight'), undefined, { pad: 1 });
  const classes = g.reshape(g.conv(h, p('conv2.weight'), undefined), [x.shape[0] as number, c.domains]);
  return { source, classes, preActivations };
}

/**
 * The directional derivative of Σ source(x) along `v`, as a function of the parameters: the
 * discriminator's tangent (forward-mode) pass, convs without biases and each leaky ReLU replaced by
 * its slope at x (`slopes[l]`: 1 where the pre-activation is positive, 0.01 elsewhere, fed in from
 * a forward pass at x). Returns the per-sample sums [N, 1, 1, 1].
 *
 * This is what the gradient penalty needs: with g = ∇ₓΣ source(x) and v = g held fixed,
 * ∂‖g‖/∂θ = ∂(v·g)/∂θ / ‖g‖ and v·g is this tangent. Since the discriminator is piecewise linear,
 * the slopes are constant in θ almost everywhere, so differentiating the tangent graph gives the
 * penalty's exact parameter gradient (PyTorch gets the same through double backprop).
 */
export function discriminatorTangent(g: Graph, v: Tensor, slopes: Tensor[], p: (name: string) => Tensor, c: StarGanDiscriminatorConfig): Tensor {
  const l = discriminatorLayout(c);
  let t = v;
  l.convs.forEach((conv, i) => {
    t = g.mul(g.conv(t, p(`main.${conv.index}.weight`), undefined, { pad: 1, stride: 2 }), slopes[i]!);
  });
  return g.reduceSum(g.conv(t, p('conv1.weight'), undefined, { pad: 1 }), [1, 2, 3], true);
}
