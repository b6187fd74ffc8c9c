import type { Graph, Tensor } from '../graph/graph.js';
import type { TensorLedger } from '../weights/tensor-ledger.js';
import type { NormWeights } from '../nets/transformer-layers.js';

/**
 * The convolutional parts latent diffusion's VAE and UNet share (Rombach et al. 2022, after
 * Ho et al. 2020's DDPM UNet): 3×3 and 1×1 convs, group norm, the residual block
 * (norm → SiLU → conv, twice, a 1×1 shortcut when the width changes, an optional time-embedding
 * shift between the convs), and the single-head spatial self-attention of the VAE's middle.
 * Weights are read by their original (CompVis `ldm`) names through a TensorLedger; a layout
 * adapter turns those names into another layout's before the ledger sees them.
 */

export interface ConvWeights {
  weight: Float32Array;
  bias: Float32Array;
  cout: number;
  cin: number;
  kernel: number;
}

export interface ResBlockWeights {
  norm1: NormWeights;
  conv1: ConvWeights;
  /** The time embedding's projection (UNet blocks only): [cout, time width]. */
  timeProjection?: { weight: Float32Array; bias: Float32Array; cout: number; cin: number };
  norm2: NormWeights;
  conv2: ConvWeights;
  shortcut?: ConvWeights;
}

export interface SpatialAttentionWeights {
  norm: NormWeights;
  q: ConvWeights;
  k: ConvWeights;
  v: ConvWeights;
  proj: ConvWeights;
}

/** Reads ldm-named tensors, renamed into the file's layout. */
export interface LdmReader {
  ledger: TensorLedger;
  rename: (ldmName: string) => string;
}

export function readConv(r: LdmReader, name: string, cout: number, cin: number, kernel: number): ConvWeights {
  // a 1×1 conv may be stored as a linear layer [cout, cin] (diffusers' newer attention names)
  const alternative = kernel === 1 ? [cout, cin] : undefined;
  return {
    weight: r.ledger.take(r.rename(`${name}.weight`), [cout, cin, kernel, kernel], alternative),
    bias: r.ledger.take(r.rename(`${name}.bias`), [cout]),
    cout,
    cin,
    kernel,
  };
}

export function readNorm(r: LdmReader, name: string, channels: number): NormWeights {
  return { weight: r.ledger.take(r.rename(`${name}.weight`), [channels]), bias: r.ledger.take(r.rename(`${name}.bias`), [channels]) };
}

export function readResBlock(r: LdmReader, name: string, cin: number, cout: number, timeWidth?: number): ResBlockWeights {
  const hasShortcut = cin !== cout || r.ledger.has(r.rename(`${name}.nin_shortcut.weight`));
  return {
    norm1: readNorm(r, `${name}.norm1`, cin),
    conv1: readConv(r, `${name}.conv1`, cout, cin, 3),
    ...(timeWidth !== undefined && {
      timeProjection: {
        weight: r.ledger.take(r.rename(`${name}.temb_proj.weight`), [cout, timeWidth]),
        bias: r.ledger.take(r.rename(`${name}.temb_proj.bias`), [cout]),
        cout,
        cin: timeWidth,
      },
    }),
    norm2: readNorm(r, `${name}.norm2`, cout),
    conv2: readConv(r, `${name}.conv2`, cout, cout, 3),
    ...(hasShortcut && { shortcut: readConv(r, `${name}.nin_shortcut`, cout, cin, 1) }),
  };
}

export function readSpatialAttention(r: LdmReader, name: string, channels: number): SpatialAttentionWeights {
  return {
    norm: readNorm(r, `${name}.norm`, channels),
    q: readConv(r, `${name}.q`, channels, channels, 1),
    k: readConv(r, `${name}.k`, channels, channels, 1),
    v: readConv(r, `${name}.v`, channels, channels, 1),
    proj: readConv(r, `${name}.proj_out`, channels, channels, 1),
  };
}

let counter = 0;
/** Graph param names must be unique; weights are addressed by object, so a running count suffices. */
const fresh = (what: string) => `${what}_${counter++}`;

export function conv(g: Graph, x: Tensor, w: ConvWeights, options: { stride?: number; pad?: number | [number, number, number, number] } = {}): Tensor {
  const weight = g.param(fresh('conv_w'), [w.cout, w.cin, w.kernel, w.kernel], w.weight);
  const bias = g.param(fresh('conv_b'), [w.cout], w.bias);
  return g.conv(x, weight, bias, { stride: options.stride ?? 1, pad: options.pad ?? (w.kernel - 1) / 2 });
}

export function groupNorm(g: Graph, x: Tensor, w: NormWeights, groups: number, eps: number): Tensor {
  return g.groupNorm(x, groups, g.param(fresh('gn_w'), [w.weight.length], w.weight), g.param(fresh('gn_b'), [w.bias.length], w.bias), eps);
}

/**
 * x + conv2(SiLU(norm2(conv1(SiLU(norm1(x))) [+ time shift]))), the shortcut a 1×1 conv when the
 * width changes. `time` is the UNet's SiLU'd time embedding [N, T]; its projection is added per channel.
 */
export function resBlock(g: Graph, x: Tensor, w: ResBlockWeights, groups: number, eps: number, time?: Tensor): Tensor {
  let h = conv(g, g.silu(groupNorm(g, x, w.norm1, groups, eps)), w.conv1);
  if (w.timeProjection && time) {
    const p = w.timeProjection;
    const weight = g.param(fresh('temb_w'), [p.cin, p.cout], transposed(p.weight, p.cout, p.cin));
    const shift = g.add(g.matmul(time, weight), g.param(fresh('temb_b'), [p.cout], p.bias));
    h = g.add(h, g.reshape(shift, [0, p.cout, 1, 1]));
  }
  h = conv(g, g.silu(groupNorm(g, h, w.norm2, groups, eps)), w.conv2);
  return g.add(w.shortcut ? conv(g, x, w.shortcut) : x, h);
}

function transposed(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** Single-head self-attention over the H·W positions of a feature map, residual (the VAE's middle). */
export function spatialAttention(g: Graph, x: Tensor, w: SpatialAttentionWeights, groups: number, eps: number): Tensor {
  const c = w.q.cout;
  const h = groupNorm(g, x, w.norm, groups, eps);
  const flat = (t: Tensor) => g.reshape(t, [0, c, -1]); // [N, C, HW]
  const q = g.transpose(flat(conv(g, h, w.q)), [0, 2, 1]); // [N, HW, C]
  const k = flat(conv(g, h, w.k)); // [N, C, HW]
  const v = g.transpose(flat(conv(g, h, w.v)), [0, 2, 1]); // [N, HW, C]
  const weights = g.softmax(g.scale(g.matmul(q, k), 1 / Math.sqrt(c)), -1);
  const mixed = g.reshapeLike(g.transpose(g.matmul(weights, v), [0, 2, 1]), x);
  return g.add(x, conv(g, mixed, w.proj));
}
