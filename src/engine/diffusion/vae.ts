import { AtelierError } from '../../core/errors.js';
import { Graph, type Tensor } from '../graph/graph.js';
import { compile, type Runner } from '../runtime.js';
import type { NormWeights } from '../nets/transformer-layers.js';
import { TensorLedger } from '../weights/tensor-ledger.js';
import type { TensorMap } from '../weights/tensor.js';
import {
  conv,
  groupNorm,
  readConv,
  readNorm,
  readResBlock,
  readSpatialAttention,
  resBlock,
  spatialAttention,
  type ConvWeights,
  type LdmReader,
  type ResBlockWeights,
  type SpatialAttentionWeights,
} from './conv-blocks.js';

/**
 * Latent diffusion's autoencoder (Rombach et al. 2022, "High-Resolution Image Synthesis with
 * Latent Diffusion Models", the KL-regularised f = 8 model Stable Diffusion uses): an encoder of
 * residual blocks that halves the size at each level but the last, a middle of block, single-head
 * attention, block, then group norm, SiLU and a conv to the Gaussian's mean and log-variance
 * (2 × 4 channels) and the 1×1 `quant_conv`; the decoder mirrors it (`post_quant_conv`, conv_in,
 * middle, levels from the widest up with one more block each and nearest 2× upsampling, norm,
 * SiLU, conv to RGB). Images are in [−1, 1]; Stable Diffusion scales latents by 0.18215.
 *
 * SD 1.5's configuration (v1-inference.yaml first_stage_config: ch 128, ch_mult 1,2,4,4,
 * num_res_blocks 2, z_channels 4, attn_resolutions [] apart from the middle) is read from the
 * checkpoint's shapes; group count (32) and ε (1e-6) are not in the shapes and come from the config.
 *
 * Layouts: the original CompVis names (`encoder.down.N.block.M…`, in single-file checkpoints under
 * `first_stage_model.`) and diffusers' (`encoder.down_blocks.N.resnets.M…`, the vae/ folder;
 * decoder up-blocks numbered from the widest; attention as `to_q`… linear weights, or the older
 * `query`/`key`/`value`/`proj_attn`).
 */

export interface VaeConfig {
  channels: number;
  multipliers: number[];
  resBlocks: number;
  latentChannels: number;
  groups: number;
  eps: number;
  scalingFactor: number;
}

export const SD15_VAE = { groups: 32, eps: 1e-6, scalingFactor: 0.18215 } as const;

export type VaeLayout = 'ldm' | 'diffusers';

interface MiddleWeights {
  block1: ResBlockWeights;
  attention: SpatialAttentionWeights;
  block2: ResBlockWeights;
}

export interface VaeWeights {
  config: VaeConfig;
  layout: VaeLayout;
  prefix: string;
  encoder: { convIn: ConvWeights; levels: { blocks: ResBlockWeights[]; downsample?: ConvWeights }[]; middle: MiddleWeights; normOut: NormWeights; convOut: ConvWeights; quantConv: ConvWeights };
  decoder: { postQuantConv: ConvWeights; convIn: ConvWeights; middle: MiddleWeights; levels: { blocks: ResBlockWeights[]; upsample?: ConvWeights }[]; normOut: NormWeights; convOut: ConvWeights };
  used: string[];
}

export interface VaeLoadOptions {
  groups?: number;
  eps?: number;
  scalingFactor?: number;
  prefix?: string;
  subject?: string;
}

/** Read a VAE from a checkpoint's tensors (a whole SD single file, or the diffusers vae/ file). */
export function loadVaeWeights(tensors: TensorMap, options: VaeLoadOptions = {}): VaeWeights {
  const infos = [...tensors.values()].map((t) => ({ name: t.name, shape: t.shape }));
  return readVae(infos, (n) => tensors.get(n)!.data, options);
}

/** Check names and shapes only (no tensor data). */
export function planVaeCheckpoint(infos: { name: string; shape: number[] }[], options: VaeLoadOptions = {}): VaeWeights {
  return readVae(infos, () => new Float32Array(0), options);
}

function detect(infos: { name: string }[], given: string | undefined, subject: string): { layout: VaeLayout; prefix: string } {
  const marks: [string, VaeLayout][] = [
    ['encoder.down.0.block.0.conv1.weight', 'ldm'],
    ['encoder.down_blocks.0.resnets.0.conv1.weight', 'diffusers'],
  ];
  for (const { name } of infos) {
    for (const [mark, layout] of marks) {
      if (!name.endsWith(mark)) continue;
      const prefix = name.slice(0, name.length - mark.length);
      if ((given === undefined || prefix === given) && (prefix === '' || prefix.endsWith('.'))) return { layout, prefix };
    }
  }
  throw new AtelierError('E_WEIGHTS_INVALID', 'The file holds no latent-diffusion VAE Atelier can read', {
    subject,
    expected: 'encoder.down.0.block.0.conv1.weight (CompVis, first_stage_model. in single files) or encoder.down_blocks.0.resnets.0.conv1.weight (diffusers vae/)',
    received: `${infos.length} tensors, e.g. ${infos.slice(0, 3).map((i) => i.name).join(', ')}`,
  });
}

/** CompVis VAE name → diffusers name, for `levels` resolution levels. */
export function diffusersVaeName(name: string, levels: number, oldAttention: boolean): string {
  const attention: Record<string, string> = oldAttention
    ? { norm: 'group_norm', q: 'query', k: 'key', v: 'value', proj_out: 'proj_attn' }
    : { norm: 'group_norm', q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0' };
  return name
    .replace(/^(encoder|decoder)\.mid\.block_(\d)\./, (_, part: string, i: string) => `${part}.mid_block.resnets.${Number(i) - 1}.`)
    .replace(/^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\./, (_, part: string, p: string) => `${part}.mid_block.attentions.0.${attention[p]}.`)
    .replace(/^encoder\.down\.(\d+)\.block\.(\d+)\./, 'encoder.down_blocks.$1.resnets.$2.')
    .replace(/^encoder\.down\.(\d+)\.downsample\.conv\./, 'encoder.down_blocks.$1.downsamplers.0.conv.')
    .replace(/^decoder\.up\.(\d+)\.block\.(\d+)\./, (_, i: string, j: string) => `decoder.up_blocks.${levels - 1 - Number(i)}.resnets.${j}.`)
    .replace(/^decoder\.up\.(\d+)\.upsample\.conv\./, (_, i: string) => `decoder.up_blocks.${levels - 1 - Number(i)}.upsamplers.0.conv.`)
    .replace(/\.nin_shortcut\./, '.conv_shortcut.')
    .replace(/^(encoder|decoder)\.norm_out\./, '$1.conv_norm_out.');
}

function readVae(infos: { name: string; shape: number[] }[], data: (name: string) => Float32Array, options: VaeLoadOptions): VaeWeights {
  const subject = options.subject ?? 'the VAE checkpoint';
  const { layout, prefix } = detect(infos, options.prefix, subject);
  const inScope = infos.filter((i) => i.name.startsWith(prefix));
  const ledger = new TensorLedger(new Map(inScope.map((i) => [i.name.slice(prefix.length), i.shape])), (n) => data(prefix + n), 'VAE', subject);
  const levels = layout === 'ldm' ? ledger.count('encoder.down.') : ledger.count('encoder.down_blocks.');
  const oldAttention = ledger.has('encoder.mid_block.attentions.0.query.weight');
  const r: LdmReader = { ledger, rename: layout === 'ldm' ? (n) => n : (n) => diffusersVaeName(n, levels, oldAttention) };

  const channels = ledger.shape(r.rename('encoder.conv_in.weight'), 'encoder input conv')[0]!;
  const resBlocks = layout === 'ldm' ? ledger.count('encoder.down.0.block.') : ledger.count('encoder.down_blocks.0.resnets.');
  const multipliers = Array.from({ length: levels }, (_, i) => ledger.shape(r.rename(`encoder.down.${i}.block.0.conv1.weight`), `encoder level ${i}`)[0]! / channels);
  const latentChannels = ledger.shape(r.rename('decoder.conv_in.weight'), 'decoder input conv')[1]!;
  const config: VaeConfig = {
    channels,
    multipliers,
    resBlocks,
    latentChannels,
    groups: options.groups ?? SD15_VAE.groups,
    eps: options.eps ?? SD15_VAE.eps,
    scalingFactor: options.scalingFactor ?? SD15_VAE.scalingFactor,
  };
  const widths = multipliers.map((m) => m * channels);
  const top = widths[levels - 1]!;
  const middle = (part: string): MiddleWeights => ({
    block1: readResBlock(r, `${part}.mid.block_1`, top, top),
    attention: readSpatialAttention(r, `${part}.mid.attn_1`, top),
    block2: readResBlock(r, `${part}.mid.block_2`, top, top),
  });

  const encoderLevels = widths.map((w, i) => {
    const blocks = Array.from({ length: resBlocks }, (_, j) => readResBlock(r, `encoder.down.${i}.block.${j}`, j === 0 ? (i === 0 ? channels : widths[i - 1]!) : w, w));
    return { blocks, ...(i < levels - 1 && { downsample: readConv(r, `encoder.down.${i}.downsample.conv`, w, w, 3) }) };
  });
  const encoder = {
    convIn: readConv(r, 'encoder.conv_in', channels, 3, 3),
    levels: encoderLevels,
    middle: middle('encoder'),
    normOut: readNorm(r, 'encoder.norm_out', top),
    convOut: readConv(r, 'encoder.conv_out', 2 * latentChannels, top, 3),
    quantConv: readConv(r, 'quant_conv', 2 * latentChannels, 2 * latentChannels, 1),
  };
  const decoderLevels = widths.map((w, i) => {
    const cin = i === levels - 1 ? top : widths[i + 1]!;
    const blocks = Array.from({ length: resBlocks + 1 }, (_, j) => readResBlock(r, `decoder.up.${i}.block.${j}`, j === 0 ? cin : w, w));
    return { blocks, ...(i > 0 && { upsample: readConv(r, `decoder.up.${i}.upsample.conv`, w, w, 3) }) };
  });
  const decoder = {
    postQuantConv: readConv(r, 'post_quant_conv', latentChannels, latentChannels, 1),
    convIn: readConv(r, 'decoder.conv_in', top, latentChannels, 3),
    middle: middle('decoder'),
    levels: decoderLevels,
    normOut: readNorm(r, 'decoder.norm_out', channels),
    convOut: readConv(r, 'decoder.conv_out', 3, channels, 3),
  };
  ledger.finish(() => false, 'VAE encoder and decoder');
  return { config, layout, prefix, encoder, decoder, used: ledger.used.map((n) => prefix + n) };
}

function middleGraph(g: Graph, x: Tensor, m: MiddleWeights, c: VaeConfig): Tensor {
  x = resBlock(g, x, m.block1, c.groups, c.eps);
  x = spatialAttention(g, x, m.attention, c.groups, c.eps);
  return resBlock(g, x, m.block2, c.groups, c.eps);
}

/** image [N, 3, H, W] in [−1, 1] → mean and log-variance [N, 4, H/8, W/8] (unscaled latents). */
export function buildVaeEncoder(g: Graph, w: VaeWeights, image: Tensor): { mean: Tensor; logvar: Tensor } {
  const c = w.config;
  const e = w.encoder;
  let x = conv(g, image, e.convIn);
  for (const level of e.levels) {
    for (const b of level.blocks) x = resBlock(g, x, b, c.groups, c.eps);
    // the original pads one pixel on the right and bottom only, then a stride-2 unpadded conv
    if (level.downsample) x = conv(g, x, level.downsample, { stride: 2, pad: [0, 0, 1, 1] });
  }
  x = middleGraph(g, x, e.middle, c);
  x = conv(g, g.silu(groupNorm(g, x, e.normOut, c.groups, c.eps)), e.convOut);
  const moments = conv(g, x, e.quantConv);
  const [mean, logvar] = g.split(moments, 1, [c.latentChannels, c.latentChannels]);
  return { mean: mean!, logvar: logvar! };
}

/** Unscaled latents [N, 4, h, w] → image [N, 3, 8h, 8w] in about [−1, 1]. */
export function buildVaeDecoder(g: Graph, w: VaeWeights, latents: Tensor): Tensor {
  const c = w.config;
  const d = w.decoder;
  let x = conv(g, conv(g, latents, d.postQuantConv), d.convIn);
  x = middleGraph(g, x, d.middle, c);
  for (let i = d.levels.length - 1; i >= 0; i--) {
    const level = d.levels[i]!;
    for (const b of level.blocks) x = resBlock(g, x, b, c.groups, c.eps);
    if (level.upsample) x = conv(g, g.resize(x, 2, 'nearest'), level.upsample);
  }
  return conv(g, g.silu(groupNorm(g, x, d.normOut, c.groups, c.eps)), d.convOut);
}

/** The VAE compiled for any image size (a multiple of 2^(levels−1)); one image at a time. */
export class Vae {
  private constructor(
    private readonly encoder: Runner,
    private readonly decoder: Runner,
    readonly weights: VaeWeights,
  ) {}

  static async create(weights: VaeWeights, options: { threads?: number } = {}): Promise<Vae> {
    const ge = new Graph();
    const { mean, logvar } = buildVaeEncoder(ge, weights, ge.input('image', [1, 3, 'H', 'W']));
    ge.output('mean', mean);
    ge.output('logvar', logvar);
    const gd = new Graph();
    gd.output('image', buildVaeDecoder(gd, weights, gd.input('latents', [1, weights.config.latentChannels, 'h', 'w'])));
    const [encoder, decoder] = await Promise.all([compile(ge, { threads: options.threads, cache: false, memory: 'arena' }), compile(gd, { threads: options.threads, cache: false, memory: 'arena' })]);
    return new Vae(encoder, decoder, weights);
  }

  get downscale(): number {
    return 2 ** (this.weights.config.multipliers.length - 1);
  }

  /** RGB planes [3, H, W] in [−1, 1] → the Gaussian's mean and log-variance (unscaled). */
  async encode(image: Float32Array, width: number, height: number): Promise<{ mean: Float32Array; logvar: Float32Array; shape: number[] }> {
    const f = this.downscale;
    if (width % f !== 0 || height % f !== 0 || image.length !== 3 * width * height) {
      throw new AtelierError('E_PARAM', 'The VAE needs an RGB image whose sides are multiples of its downscale factor', {
        expected: `3×H×W values with H and W multiples of ${f}`,
        received: `${image.length} values for ${width}×${height}`,
      });
    }
    const out = await this.encoder.run({ image: { data: image, shape: [1, 3, height, width] } });
    return { mean: out.mean!.data as Float32Array, logvar: out.logvar!.data as Float32Array, shape: out.mean!.shape };
  }

  /** Unscaled latents [4, h, w] → RGB planes [3, f·h, f·w] in about [−1, 1]. */
  async decode(latents: Float32Array, width: number, height: number): Promise<Float32Array> {
    const out = await this.decoder.run({ latents: { data: latents, shape: [1, this.weights.config.latentChannels, height, width] } });
    return out.image!.data as Float32Array;
  }

  async release(): Promise<void> {
    await Promise.all([this.encoder.release(), this.decoder.release()]);
  }
}
