import type { Graph, Tensor } from '../graph/graph.js';
import type { ParameterSpec } from '../optim/parameter-set.js';

/**
 * CycleGAN's networks (Zhu, Park, Isola & Efros 2017, and their pytorch-CycleGAN-and-pix2pix
 * code, whose state-dict names these are, so a published `latest_net_G.pth` loads by name):
 *
 * ResNet generator (`model.N…`): reflection pad 3, 7×7 conv to `width`, instance norm, ReLU; two
 * stride-2 3×3 convs (pad 1) doubling the channels, each with instance norm and ReLU; `blocks`
 * residual blocks of [reflection pad 1, 3×3 conv, instance norm, ReLU, reflection pad 1, 3×3 conv,
 * instance norm] added to their input; two stride-2 3×3 transposed convs (pad 1, output padding 1)
 * halving the channels, each with instance norm and ReLU; reflection pad 3, 7×7 conv to RGB, tanh.
 * Every conv has a bias (the instance norm has no affine parameters, so the code keeps the biases).
 * Published: width 64, 9 blocks at 256², 6 at 128².
 *
 * 70×70 PatchGAN discriminator (`model.N…`, n_layers 3): 4×4 convs, pad 1: stride 2 to `width`
 * then LeakyReLU 0.2; stride 2 to 2·width and 4·width, each with instance norm and LeakyReLU;
 * stride 1 to 8·width with instance norm and LeakyReLU; stride 1 to one channel (a score per
 * 70×70 patch). Every conv has a bias.
 *
 * Initialisation as the code's init_weights('normal', 0.02): conv weights N(0, 0.02²), biases 0.
 * Images are RGB in [−1, 1]. Optional, not published: `skip` adds the input to the output (the
 * result can leave [−1, 1]; inference clips it).
 */

export interface CycleGanGeneratorConfig {
  /** Channels after the first conv (ngf; published 64). */
  width: number;
  /** Residual blocks (published 9 at 256², 6 at 128²). */
  blocks: number;
  /**
   * Add the input image to the output (a global skip; NOT in the published generator, off by default).
   * The instance norm right after the first conv makes the published generator blind to each
   * channel's offset and to the image's contrast (G(a·x + c) = G(x)), so it must guess an image's
   * colours from its content; with the skip it sees them, and starts near the identity map.
   */
  skip?: boolean;
}

export interface PatchGanConfig {
  /** Channels of the first conv (ndf; published 64). */
  width: number;
  /** Strided layers (n_layers; published 3, the 70×70 receptive field). */
  layers: number;
}

const INIT = { kind: 'normal', std: 0.02 } as const;
const ZERO = { kind: 'constant', value: 0 } as const;

interface ConvEntry {
  index: number;
  cin: number;
  cout: number;
  k: number;
}

/** Sequential indices of the generator's convs, as nn.Sequential numbers them (pads, norms and ReLUs count). */
function generatorLayout(c: CycleGanGeneratorConfig) {
  const w = c.width;
  const first: ConvEntry = { index: 1, cin: 3, cout: w, k: 7 };
  const down: ConvEntry[] = [
    { index: 4, cin: w, cout: 2 * w, k: 3 },
    { index: 7, cin: 2 * w, cout: 4 * w, k: 3 },
  ];
  const blocks = Array.from({ length: c.blocks }, (_, b) => 10 + b);
  const up: ConvEntry[] = [
    { index: 10 + c.blocks, cin: 4 * w, cout: 2 * w, k: 3 },
    { index: 13 + c.blocks, cin: 2 * w, cout: w, k: 3 },
  ];
  const last: ConvEntry = { index: 17 + c.blocks, cin: w, cout: 3, k: 7 };
  return { first, down, blocks, up, last };
}

export function cycleGanGeneratorSpecs(c: CycleGanGeneratorConfig, prefix = ''): ParameterSpec[] {
  const l = generatorLayout(c);
  const conv = (key: string, cout: number, cin: number, k: number): ParameterSpec[] => [
    { name: `${prefix}${key}.weight`, shape: [cout, cin, k, k], init: INIT },
    { name: `${prefix}${key}.bias`, shape: [cout], init: ZERO },
  ];
  const specs = [...conv(`model.${l.first.index}`, l.first.cout, 3, 7)];
  for (const d of l.down) specs.push(...conv(`model.${d.index}`, d.cout, d.cin, 3));
  const dim = 4 * c.width;
  for (const b of l.blocks) specs.push(...conv(`model.${b}.conv_block.1`, dim, dim, 3), ...conv(`model.${b}.conv_block.5`, dim, dim, 3));
  // ConvTranspose2d weights are [cin, cout, k, k].
  for (const u of l.up) specs.push(...conv(`model.${u.index}`, u.cin, u.cout, 3).map((s, i) => (i === 1 ? { ...s, shape: [u.cout] } : s)));
  specs.push(...conv(`model.${l.last.index}`, 3, c.width, 7));
  return specs;
}

/** Instance norm without affine parameters (the code's InstanceNorm2d default). */
function plainInstanceNorm(g: Graph, x: Tensor): Tensor {
  const c = x.shape[1] as number;
  return g.instanceNorm(x, g.constant(new Float32Array(c).fill(1)), g.constant(new Float32Array(c)));
}

/** The generator on an N×3×H×W image in [−1, 1] (H and W multiples of 4), parameters from `p`. */
export function cycleGanGenerator(g: Graph, x: Tensor, p: (name: string) => Tensor, c: CycleGanGeneratorConfig): Tensor {
  const l = generatorLayout(c);
  const w = (i: number | string) => p(`model.${i}.weight`);
  const b = (i: number | string) => p(`model.${i}.bias`);
  let h = g.relu(plainInstanceNorm(g, g.conv(x, w(l.first.index), b(l.first.index), { pad: 3, padMode: 'reflect' })));
  for (const d of l.down) h = g.relu(plainInstanceNorm(g, g.conv(h, w(d.index), b(d.index), { pad: 1, stride: 2 })));
  for (const blk of l.blocks) {
    const k1 = `${blk}.conv_block.1`;
    const k5 = `${blk}.conv_block.5`;
    const inner = g.relu(plainInstanceNorm(g, g.conv(h, w(k1), b(k1), { pad: 1, padMode: 'reflect' })));
    h = g.add(h, plainInstanceNorm(g, g.conv(inner, w(k5), b(k5), { pad: 1, padMode: 'reflect' })));
  }
  for (const u of l.up) h = g.relu(plainInstanceNorm(g, g.convTranspose(h, w(u.index), b(u.index), { stride: 2, pad: 1, outputPadding: 1 })));
  const y = g.tanh(g.conv(h, w(l.last.index), b(l.last.index), { pad: 3, padMode: 'reflect' }));
  return c.skip ? g.add(x, y) : y;
}

function patchGanLayout(c: PatchGanConfig) {
  // n_layers strided convs (the first without a norm), one stride-1 conv with norm, the 1-channel head.
  const convs: { index: number; cin: number; cout: number; stride: number; norm: boolean }[] = [{ index: 0, cin: 3, cout: c.width, stride: 2, norm: false }];
  let mult = 1;
  let index = 2;
  for (let n = 1; n < c.layers; n++) {
    const prev = mult;
    mult = Math.min(2 ** n, 8);
    convs.push({ index, cin: c.width * prev, cout: c.width * mult, stride: 2, norm: true });
    index += 3;
  }
  const prev = mult;
  mult = Math.min(2 ** c.layers, 8);
  convs.push({ index, cin: c.width * prev, cout: c.width * mult, stride: 1, norm: true });
  index += 3;
  return { convs, head: { index, cin: c.width * mult } };
}

export function patchGanSpecs(c: PatchGanConfig, prefix = ''): ParameterSpec[] {
  const l = patchGanLayout(c);
  const specs: ParameterSpec[] = [];
  for (const v of [...l.convs, { index: l.head.index, cin: l.head.cin, cout: 1 }]) {
    specs.push({ name: `${prefix}model.${v.index}.weight`, shape: [v.cout, v.cin, 4, 4], init: INIT });
    specs.push({ name: `${prefix}model.${v.index}.bias`, shape: [v.cout], init: ZERO });
  }
  return specs;
}

/** The PatchGAN scores (N×1×h×w, no sigmoid: the least-squares loss takes them raw). */
export function patchGan(g: Graph, x: Tensor, p: (name: string) => Tensor, c: PatchGanConfig): Tensor {
  const l = patchGanLayout(c);
  let h = x;
  for (const v of l.convs) {
    h = g.conv(h, p(`model.${v.index}.weight`), p(`model.${v.index}.bias`), { pad: 1, stride: v.stride });
    if (v.norm) h = plainInstanceNorm(g, h);
    h = g.leakyRelu(h, 0.2);
  }
  return g.conv(h, p(`model.${l.head.index}.weight`), p(`model.${l.head.index}.bias`), { pad: 1 });
}
