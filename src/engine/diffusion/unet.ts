import { AtelierError } from '../../core/errors.js';
import { Graph, type Tensor } from '../graph/graph.js';
import { compile, type Runner, type TensorValue } from '../runtime.js';
import { attention, gelu, layerNorm, linear, type LinearWeights, type NormWeights } from '../nets/transformer-layers.js';
import { TensorLedger } from '../weights/tensor-ledger.js';
import type { TensorMap } from '../weights/tensor.js';
import { conv, groupNorm, readConv, readNorm, readResBlock, resBlock, type ConvWeights, type LdmReader, type ResBlockWeights } from './conv-blocks.js';

/**
 * Latent diffusion's noise predictor ε(z_t, t, c) (Rombach et al. 2022, §3.3; the UNet of Ho et
 * al. 2020 / Dhariwal & Nichol 2021 with cross-attention to the text): a sinusoidal time embedding
 * through two linear layers; levels of residual blocks (time-shifted) each followed, at the
 * attention levels, by a spatial transformer (group norm, 1×1 in, per position: self-attention,
 * cross-attention to the text states, a GEGLU feed-forward, each pre-layer-norm and residual; 1×1
 * out, residual); stride-2 downsampling between levels; a middle of block, transformer, block; the
 * mirrored up path, each block reading the matching down-path output concatenated; group norm,
 * SiLU and a conv to the 4 latent channels.
 *
 * SD 1.5's configuration (v1-inference.yaml unet_config: model_channels 320, channel_mult 1,2,4,4,
 * num_res_blocks 2, attention at the first three levels, 8 heads, transformer_depth 1,
 * context_dim 768) is read from the checkpoint's shapes except the head count (8) and the group
 * count (32), which come from the config.
 *
 * Layouts: the original names (`input_blocks.K.0.in_layers.0…`, `…K.1.transformer_blocks.0.attn2…`,
 * under `model.diffusion_model.` in single files) and diffusers' (`down_blocks.L.resnets.J.norm1…`,
 * `down_blocks.L.attentions.J…`, the unet/ folder).
 */

export interface UnetConfig {
  channels: number;
  multipliers: number[];
  resBlocks: number;
  /** Whether each level has spatial transformers. */
  attentionLevels: boolean[];
  heads: number;
  contextDim: number;
  inChannels: number;
  outChannels: number;
  groups: number;
  /** Transformer blocks per spatial transformer. */
  depth: number;
}

export const SD15_UNET = { heads: 8, groups: 32 } as const;

export type UnetLayout = 'ldm' | 'diffusers';

export interface AttentionWeights {
  q: LinearWeights;
  k: LinearWeights;
  v: LinearWeights;
  out: LinearWeights;
}

interface TransformerBlockWeights {
  norm1: NormWeights;
  attn1: AttentionWeights;
  norm2: NormWeights;
  attn2: AttentionWeights;
  norm3: NormWeights;
  ffIn: LinearWeights;
  ffOut: LinearWeights;
}

export interface SpatialTransformerWeights {
  norm: NormWeights;
  projIn: ConvWeights;
  blocks: TransformerBlockWeights[];
  projOut: ConvWeights;
}

interface Stage {
  res: ResBlockWeights;
  transformer?: SpatialTransformerWeights;
}

export interface UnetWeights {
  config: UnetConfig;
  layout: UnetLayout;
  prefix: string;
  convIn: ConvWeights;
  time1: LinearWeights;
  time2: LinearWeights;
  down: { stages: Stage[]; downsample?: ConvWeights }[];
  middle: { res1: ResBlockWeights; transformer: SpatialTransformerWeights; res2: ResBlockWeights };
  /** From the widest level to the narrowest, as the up path runs. */
  up: { stages: Stage[]; upsample?: ConvWeights }[];
  normOut: NormWeights;
  convOut: ConvWeights;
  used: string[];
}

/** Where each part lives in a layout. */
interface UnetSpelling {
  convIn: string;
  time1: string;
  time2: string;
  normOut: string;
  convOut: string;
  downRes(level: number, j: number, perLevel: number): string;
  downAttn(level: number, j: number, perLevel: number): string;
  downsample(level: number, perLevel: number): string;
  midRes(i: number): string;
  midAttn: string;
  upRes(fromTop: number, j: number, perLevel: number): string;
  upAttn(fromTop: number, j: number, perLevel: number): string;
  upsample(fromTop: number, perLevel: number, hasAttention: boolean): string;
  /** The residual blocks' own parts (VAE-style names norm1, conv1, temb_proj, …) in this layout. */
  resPart(name: string): string;
}

const LDM_RES_PARTS: Record<string, string> = {
  norm1: 'in_layers.0',
  conv1: 'in_layers.2',
  temb_proj: 'emb_layers.1',
  norm2: 'out_layers.0',
  conv2: 'out_layers.3',
  nin_shortcut: 'skip_connection',
};
const DIFFUSERS_RES_PARTS: Record<string, string> = { temb_proj: 'time_emb_proj', nin_shortcut: 'conv_shortcut' };

const LDM: UnetSpelling = {
  convIn: 'input_blocks.0.0',
  time1: 'time_embed.0',
  time2: 'time_embed.2',
  normOut: 'out.0',
  convOut: 'out.2',
  downRes: (level, j, r) => `input_blocks.${1 + level * (r + 1) + j}.0`,
  downAttn: (level, j, r) => `input_blocks.${1 + level * (r + 1) + j}.1`,
  downsample: (level, r) => `input_blocks.${1 + level * (r + 1) + r}.0.op`,
  midRes: (i) => `middle_block.${i === 0 ? 0 : 2}`,
  midAttn: 'middle_block.1',
  upRes: (top, j, r) => `output_blocks.${top * (r + 1) + j}.0`,
  upAttn: (top, j, r) => `output_blocks.${top * (r + 1) + j}.1`,
  upsample: (top, r, att) => `output_blocks.${top * (r + 1) + r}.${att ? 2 : 1}.conv`,
  // transformer blocks have norm1/norm2 of their own, spelled alike in both layouts
  resPart: (name) =>
    name.includes('.transformer_blocks.') ? name : name.replace(/\.(norm1|conv1|temb_proj|norm2|conv2|nin_shortcut)\.(weight|bias)$/, (_, p: string, s: string) => `.${LDM_RES_PARTS[p]}.${s}`),
};

const DIFFUSERS: UnetSpelling = {
  convIn: 'conv_in',
  time1: 'time_embedding.linear_1',
  time2: 'time_embedding.linear_2',
  normOut: 'conv_norm_out',
  convOut: 'conv_out',
  downRes: (level, j) => `down_blocks.${level}.resnets.${j}`,
  downAttn: (level, j) => `down_blocks.${level}.attentions.${j}`,
  downsample: (level) => `down_blocks.${level}.downsamplers.0.conv`,
  midRes: (i) => `mid_block.resnets.${i}`,
  midAttn: 'mid_block.attentions.0',
  upRes: (top, j) => `up_blocks.${top}.resnets.${j}`,
  upAttn: (top, j) => `up_blocks.${top}.attentions.${j}`,
  upsample: (top) => `up_blocks.${top}.upsamplers.0.conv`,
  resPart: (name) => name.replace(/\.(temb_proj|nin_shortcut)\.(weight|bias)$/, (_, p: string, s: string) => `.${DIFFUSERS_RES_PARTS[p]}.${s}`),
};

export interface UnetLoadOptions {
  heads?: number;
  groups?: number;
  prefix?: string;
  subject?: string;
}

export function loadUnetWeights(tensors: TensorMap, options: UnetLoadOptions = {}): UnetWeights {
  const infos = [...tensors.values()].map((t) => ({ name: t.name, shape: t.shape }));
  return readUnet(infos, (n) => tensors.get(n)!.data, options);
}

export function planUnetCheckpoint(infos: { name: string; shape: number[] }[], options: UnetLoadOptions = {}): UnetWeights {
  return readUnet(infos, () => new Float32Array(0), options);
}

function detect(infos: { name: string }[], given: string | undefined, subject: string): { layout: UnetLayout; prefix: string } {
  const marks: [string, UnetLayout][] = [
    ['input_blocks.0.0.weight', 'ldm'],
    ['down_blocks.0.resnets.0.conv1.weight', 'diffusers'],
  ];
  for (const { name } of infos) {
    for (const [mark, layout] of marks) {
      if (!name.endsWith(mark)) continue;
      const prefix = name.slice(0, name.length - mark.length);
      if ((given === undefined || prefix === given) && (prefix === '' || prefix.endsWith('.'))) return { layout, prefix };
    }
  }
  throw new AtelierError('E_WEIGHTS_INVALID', 'The file holds no latent-diffusion UNet Atelier can read', {
    subject,
    expected: 'input_blocks.0.0.weight (original; model.diffusion_model. in single files) or down_blocks.0.resnets.0.conv1.weight (diffusers unet/)',
    received: `${infos.length} tensors, e.g. ${infos.slice(0, 3).map((i) => i.name).join(', ')}`,
  });
}

function readLinear(ledger: TensorLedger, name: string, inFeatures: number, outFeatures: number, bias = true): LinearWeights {
  return {
    weight: ledger.take(`${name}.weight`, [outFeatures, inFeatures]),
    ...(bias && { bias: ledger.take(`${name}.bias`, [outFeatures]) }),
    inFeatures,
    outFeatures,
  };
}

function readTransformer(r: LdmReader, name: string, channels: number, contextDim: number): SpatialTransformerWeights {
  const l = r.ledger;
  const depth = l.count(`${name}.transformer_blocks.`);
  const attn = (n: string, kvIn: number): AttentionWeights => ({
    q: readLinear(l, `${n}.to_q`, channels, channels, false),
    k: readLinear(l, `${n}.to_k`, kvIn, channels, false),
    v: readLinear(l, `${n}.to_v`, kvIn, channels, false),
    out: readLinear(l, `${n}.to_out.0`, channels, channels),
  });
  const blocks = Array.from({ length: depth }, (_, i): TransformerBlockWeights => {
    const b = `${name}.transformer_blocks.${i}`;
    return {
      norm1: readNorm(r, `${b}.norm1`, channels),
      attn1: attn(`${b}.attn1`, channels),
      norm2: readNorm(r, `${b}.norm2`, channels),
      attn2: attn(`${b}.attn2`, contextDim),
      norm3: readNorm(r, `${b}.norm3`, channels),
      ffIn: readLinear(l, `${b}.ff.net.0.proj`, channels, 8 * channels),
      ffOut: readLinear(l, `${b}.ff.net.2`, 4 * channels, channels),
    };
  });
  return {
    norm: readNorm(r, `${name}.norm`, channels),
    projIn: readConv(r, `${name}.proj_in`, channels, channels, 1),
    blocks,
    projOut: readConv(r, `${name}.proj_out`, channels, channels, 1),
  };
}

function readUnet(infos: { name: string; shape: number[] }[], data: (name: string) => Float32Array, options: UnetLoadOptions): UnetWeights {
  const subject = options.subject ?? 'the UNet checkpoint';
  const { layout, prefix } = detect(infos, options.prefix, subject);
  const inScope = infos.filter((i) => i.name.startsWith(prefix));
  const ledger = new TensorLedger(new Map(inScope.map((i) => [i.name.slice(prefix.length), i.shape])), (n) => data(prefix + n), 'UNet', subject);
  const s = layout === 'ldm' ? LDM : DIFFUSERS;
  const r: LdmReader = { ledger, rename: s.resPart };

  const [channels, inChannels] = ledger.shape(`${s.convIn}.weight`, 'input conv') as [number, number];
  const outChannels = ledger.shape(`${s.convOut}.weight`, 'output conv')[0]!;
  const timeWidth = ledger.shape(`${s.time1}.weight`, 'time embedding')[0]!;
  let levels: number;
  let resBlocks: number;
  if (layout === 'diffusers') {
    levels = ledger.count('down_blocks.');
    resBlocks = ledger.count('down_blocks.0.resnets.');
  } else {
    const inputBlocks = ledger.count('input_blocks.');
    // conv_in, then R blocks and a downsampler per level but the last: levels·(R + 1) input blocks
    let r1 = 1;
    while (!ledger.has(`input_blocks.${1 + r1}.0.op.weight`) && r1 < inputBlocks) r1++;
    resBlocks = r1;
    levels = inputBlocks / (resBlocks + 1);
  }
  const multipliers = Array.from({ length: levels }, (_, i) => ledger.shape(s.resPart(`${s.downRes(i, 0, resBlocks)}.conv1.weight`), `level ${i}`)[0]! / channels);
  const attentionLevels = multipliers.map((_, i) => ledger.has(`${s.downAttn(i, 0, resBlocks)}.norm.weight`));
  const firstAttention = attentionLevels.indexOf(true);
  const contextDim = ledger.shape(`${firstAttention >= 0 ? s.downAttn(firstAttention, 0, resBlocks) : s.midAttn}.transformer_blocks.0.attn2.to_k.weight`, 'cross-attention')[1]!;
  const config: UnetConfig = {
    channels,
    multipliers,
    resBlocks,
    attentionLevels,
    heads: options.heads ?? SD15_UNET.heads,
    contextDim,
    inChannels,
    outChannels,
    groups: options.groups ?? SD15_UNET.groups,
    depth: ledger.count(`${s.midAttn}.transformer_blocks.`),
  };
  const widths = multipliers.map((m) => m * channels);

  const convIn = readConv(r, s.convIn, channels, inChannels, 3);
  const time1 = readLinear(ledger, s.time1, channels, timeWidth);
  const time2 = readLinear(ledger, s.time2, timeWidth, timeWidth);
  // the skip widths the up path will concatenate, in push order
  const skips: number[] = [channels];
  let width = channels;
  const down = widths.map((w, level) => {
    const stages = Array.from({ length: resBlocks }, (_, j): Stage => {
      const res = readResBlock(r, s.downRes(level, j, resBlocks), width, w, timeWidth);
      width = w;
      skips.push(w);
      return { res, ...(attentionLevels[level] && { transformer: readTransformer(r, s.downAttn(level, j, resBlocks), w, contextDim) }) };
    });
    const last = level === levels - 1;
    if (!last) skips.push(w);
    return { stages, ...(!last && { downsample: readConv(r, s.downsample(level, resBlocks), w, w, 3) }) };
  });
  const top = widths[levels - 1]!;
  const middle = {
    res1: readResBlock(r, s.midRes(0), top, top, timeWidth),
    transformer: readTransformer(r, s.midAttn, top, contextDim),
    res2: readResBlock(r, s.midRes(1), top, top, timeWidth),
  };
  const up = widths
    .map((_, i) => levels - 1 - i)
    .map((level, fromTop) => {
      const w = widths[level]!;
      const stages = Array.from({ length: resBlocks + 1 }, (_, j): Stage => {
        const res = readResBlock(r, s.upRes(fromTop, j, resBlocks), width + skips.pop()!, w, timeWidth);
        width = w;
        return { res, ...(attentionLevels[level] && { transformer: readTransformer(r, s.upAttn(fromTop, j, resBlocks), w, contextDim) }) };
      });
      return { stages, ...(level > 0 && { upsample: readConv(r, s.upsample(fromTop, resBlocks, attentionLevels[level]!), w, w, 3) }) };
    });
  const normOut = readNorm(r, s.normOut, channels);
  const convOut = readConv(r, s.convOut, outChannels, channels, 3);
  ledger.finish(() => false, 'UNet');
  return { config, layout, prefix, convIn, time1, time2, down, middle, up, normOut, convOut, used: ledger.used.map((n) => prefix + n) };
}

/** The sinusoidal time embedding [cos(t·f_i), sin(t·f_i)], f_i = 10000^(−i/half) (DDPM; SD's order). */
export function timestepEmbedding(t: number, width: number): Float32Array {
  const half = width / 2;
  const out = new Float32Array(width);
  for (let i = 0; i < half; i++) {
    const arg = t * Math.exp((-Math.log(10000) * i) / half);
    out[i] = Math.cos(arg);
    out[half + i] = Math.sin(arg);
  }
  return out;
}

/**
 * Where a cross-attention layer sits: `index` counts the UNet's cross-attention layers in the order
 * the graph runs them (down path, middle, up path; one per transformer block), `block` and `level`
 * (0 = full latent resolution) say which part of the UNet it belongs to.
 */
export interface CrossAttentionSite {
  index: number;
  block: 'down' | 'middle' | 'up';
  level: number;
}

/**
 * Replaces a cross-attention layer's attention of `x` over the text `context` (image injection,
 * `decoupled-cross-attention.ts`); returns what the layer adds to the residual stream.
 */
export type CrossAttentionInjection = (g: Graph, site: CrossAttentionSite, x: Tensor, context: Tensor, w: AttentionWeights, heads: number, name: string) => Tensor;

interface TransformerPlace {
  block: CrossAttentionSite['block'];
  level: number;
  /** The next cross-attention index, advanced per transformer block. */
  counter: { next: number };
  inject?: CrossAttentionInjection;
}

function spatialTransformer(g: Graph, x: Tensor, w: SpatialTransformerWeights, context: Tensor, c: UnetConfig, name: string, place: TransformerPlace): Tensor {
  const channels = w.projIn.cout;
  let h = conv(g, groupNorm(g, x, w.norm, c.groups, 1e-6), w.projIn);
  h = g.transpose(g.reshape(h, [0, channels, -1]), [0, 2, 1]); // [N, HW, C]
  w.blocks.forEach((b, i) => {
    const n = `${name}.${i}`;
    const a = layerNorm(g, h, b.norm1, `${n}.norm1`);
    h = g.add(h, attention(g, a, a, b.attn1, c.heads, `${n}.attn1`));
    const site: CrossAttentionSite = { index: place.counter.next++, block: place.block, level: place.level };
    const normed = layerNorm(g, h, b.norm2, `${n}.norm2`);
    h = g.add(h, place.inject ? place.inject(g, site, normed, context, b.attn2, c.heads, `${n}.attn2`) : attention(g, normed, context, b.attn2, c.heads, `${n}.attn2`));
    const [value, gate] = g.split(linear(g, layerNorm(g, h, b.norm3, `${n}.norm3`), b.ffIn, `${n}.ff_in`), -1, [4 * channels, 4 * channels]);
    h = g.add(h, linear(g, g.mul(value!, gelu(g, gate!)), b.ffOut, `${n}.ff_out`));
  });
  const back = g.reshapeLike(g.transpose(h, [0, 2, 1]), x);
  return g.add(conv(g, back, w.projOut), x);
}

/**
 * Record ε(z, t, c) on `g`: `latents` [N, 4, h, w], `time` [N, 320] (timestepEmbedding),
 * `context` [N, L, 768] (CLIP text hidden states). `inject` replaces each cross-attention (image
 * injection); without it the UNet is the published one.
 */
export function buildUnet(g: Graph, w: UnetWeights, latents: Tensor, time: Tensor, context: Tensor, inject?: CrossAttentionInjection): Tensor {
  const c = w.config;
  const temb = g.silu(linear(g, g.silu(linear(g, time, w.time1, 'unet.time1')), w.time2, 'unet.time2'));
  const eps = 1e-5;
  let x = conv(g, latents, w.convIn);
  const skips: Tensor[] = [x];
  let k = 0;
  const counter = { next: 0 };
  const at = (block: CrossAttentionSite['block'], level: number): TransformerPlace => ({ block, level, counter, ...(inject && { inject }) });
  for (const [li, level] of w.down.entries()) {
    for (const stage of level.stages) {
      x = resBlock(g, x, stage.res, c.groups, eps, temb);
      if (stage.transformer) x = spatialTransformer(g, x, stage.transformer, context, c, `unet.t${k++}`, at('down', li));
      skips.push(x);
    }
    if (level.downsample) {
      x = conv(g, x, level.downsample, { stride: 2, pad: 1 });
      skips.push(x);
    }
  }
  x = resBlock(g, x, w.middle.res1, c.groups, eps, temb);
  x = spatialTransformer(g, x, w.middle.transformer, context, c, `unet.t${k++}`, at('middle', w.down.length - 1));
  x = resBlock(g, x, w.middle.res2, c.groups, eps, temb);
  for (const [fromTop, level] of w.up.entries()) {
    for (const stage of level.stages) {
      x = resBlock(g, g.concat([x, skips.pop()!], 1), stage.res, c.groups, eps, temb);
      if (stage.transformer) x = spatialTransformer(g, x, stage.transformer, context, c, `unet.t${k++}`, at('up', w.up.length - 1 - fromTop));
    }
    if (level.upsample) x = conv(g, g.resize(x, 2, 'nearest'), level.upsample);
  }
  return conv(g, g.silu(groupNorm(g, x, w.normOut, c.groups, eps)), w.convOut);
}

/**
 * A serialised ONNX model is one protobuf, which cannot exceed 2 GB; SD 1.5's UNet holds 3.4 GB of
 * float32 weights. Past this size the weights become graph inputs, fed (without copying) at every
 * run, instead of being written into the model.
 */
export const MAX_EMBEDDED_WEIGHT_BYTES = 1.5e9;

/**
 * Something that changes the UNet's cross-attention (image injection): it records its own graph
 * inputs on `g` (fed through `predict`'s `extra`) and returns the replacement.
 */
export interface UnetExtension {
  attach(g: Graph, batch: number): CrossAttentionInjection;
}

/** The UNet compiled for a batch size and a context length; any latent size (a multiple of 2^(levels−1)). */
export class Unet {
  private constructor(
    private readonly runner: Runner,
    readonly weights: UnetWeights,
    readonly batch: number,
    readonly contextLength: number,
    /** The weights fed at each run when they are graph inputs (large models). */
    private readonly fed: Record<string, TensorValue>,
  ) {}

  static async create(
    weights: UnetWeights,
    options: { batch?: number; contextLength?: number; threads?: number; feedWeights?: boolean; extension?: UnetExtension } = {},
  ): Promise<Unet> {
    const batch = options.batch ?? 1;
    const length = options.contextLength ?? 77;
    const c = weights.config;
    const g = new Graph();
    const latents = g.input('latents', [batch, c.inChannels, 'h', 'w']);
    const time = g.input('time', [batch, c.channels]);
    const context = g.input('context', [batch, length, c.contextDim]);
    g.output('eps', buildUnet(g, weights, latents, time, context, options.extension?.attach(g, batch)));
    const bytes = g.params.reduce((sum, p) => sum + g.data.get(p.id)!.byteLength, 0);
    const feed = options.feedWeights ?? bytes > MAX_EMBEDDED_WEIGHT_BYTES;
    const fed: Record<string, TensorValue> = {};
    if (feed) for (const p of g.params) fed[p.name] = { data: g.data.get(p.id)! as Float32Array, shape: p.shape as number[] };
    const runner = await compile(g, { threads: options.threads, cache: false, memory: 'arena', paramsAsInputs: feed });
    return new Unet(runner, weights, batch, length, fed);
  }

  /**
   * ε for `batch` latents [N, 4, h, w] at one timestep each, given their text states [N, L, C];
   * `extra` feeds the inputs of the extension the UNet was compiled with.
   */
  async predict(latents: Float32Array, height: number, width: number, timesteps: readonly number[], context: Float32Array, extra: Record<string, TensorValue> = {}): Promise<Float32Array> {
    const c = this.weights.config;
    const time = new Float32Array(this.batch * c.channels);
    timesteps.forEach((t, n) => time.set(timestepEmbedding(t, c.channels), n * c.channels));
    const out = await this.runner.run({
      ...this.fed,
      ...extra,
      latents: { data: latents, shape: [this.batch, c.inChannels, height, width] },
      time: { data: time, shape: [this.batch, c.channels] },
      context: { data: context, shape: [this.batch, this.contextLength, c.contextDim] },
    });
    return out.eps!.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}
