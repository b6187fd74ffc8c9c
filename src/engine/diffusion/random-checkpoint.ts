import { Rng } from '../../core/rng.js';
import type { TensorMap } from '../weights/tensor.js';

/**
 * A tiny Stable Diffusion single-file checkpoint of seeded random values, in the original layout
 * (cond_stage_model.transformer.text_model.…, model.diffusion_model.…, first_stage_model.…), so
 * that `diffusion.img2img --weights random` runs the whole pipeline — tokenizer, text tower, UNet
 * with cross-attention, samplers, VAE — in a second without the published 4 GB file. The result
 * is noise shaped by untrained networks, not a picture; the published weights load through the
 * same readers. Sizes: text 32 wide, 1 layer; UNet 32 channels, ×1/×2, attention at the first
 * level and the middle, 2 heads; VAE 8 channels, ×1/×2 (a factor of 2, not SD's 8).
 */

export const TINY_SD = {
  text: { width: 32, layers: 1, heads: 2, context: 8 },
  unet: { channels: 32, multipliers: [1, 2], resBlocks: 1, attention: [true, false], heads: 2, groups: 8 },
  vae: { channels: 8, multipliers: [1, 2], resBlocks: 1, groups: 4 },
} as const;

export type SeededTensorKind = 'weight' | 'bias' | 'scale';

/**
 * A map filled by `add` with seeded random tensors, drawn in call order: weights N(0, 1/fan-in),
 * biases N(0, 0.05²), norm scales 1 + N(0, 0.1²). Shared by the tiny random checkpoints.
 */
export function seededTensors(seed: number): { map: TensorMap; add: (name: string, shape: number[], kind?: SeededTensorKind) => void } {
  const rng = new Rng(seed);
  const map: TensorMap = new Map();
  const add = (name: string, shape: number[], kind: SeededTensorKind = 'weight') => {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? n / shape[0]! : 1;
    const data = Float32Array.from({ length: n }, () => (kind === 'scale' ? 1 + 0.1 * rng.normal() : kind === 'bias' ? 0.05 * rng.normal() : rng.normal() / Math.sqrt(fanIn)));
    map.set(name, { name, shape, data });
  };
  return { map, add };
}

export function tinyStableDiffusionCheckpoint(seed: number, vocabSize: number): TensorMap {
  const { map, add } = seededTensors(seed);
  const linear = (name: string, inF: number, outF: number, bias = true) => {
    add(`${name}.weight`, [outF, inF]);
    if (bias) add(`${name}.bias`, [outF], 'bias');
  };
  const conv = (name: string, cout: number, cin: number, k: number) => {
    add(`${name}.weight`, [cout, cin, k, k]);
    add(`${name}.bias`, [cout], 'bias');
  };
  const norm = (name: string, c: number) => {
    add(`${name}.weight`, [c], 'scale');
    add(`${name}.bias`, [c], 'bias');
  };

  // text tower, transformers' names under the single file's prefix
  const t = TINY_SD.text;
  const tp = 'cond_stage_model.transformer.text_model.';
  add(`${tp}embeddings.token_embedding.weight`, [vocabSize, t.width]);
  add(`${tp}embeddings.position_embedding.weight`, [t.context, t.width]);
  for (let i = 0; i < t.layers; i++) {
    const b = `${tp}encoder.layers.${i}.`;
    for (const p of ['q', 'k', 'v', 'out']) linear(`${b}self_attn.${p}_proj`, t.width, t.width);
    norm(`${b}layer_norm1`, t.width);
    norm(`${b}layer_norm2`, t.width);
    linear(`${b}mlp.fc1`, t.width, 4 * t.width);
    linear(`${b}mlp.fc2`, 4 * t.width, t.width);
  }
  norm(`${tp}final_layer_norm`, t.width);

  // UNet, original names
  const u = TINY_SD.unet;
  const up = 'model.diffusion_model.';
  const timeWidth = 4 * u.channels;
  const res = (name: string, cin: number, cout: number) => {
    norm(`${name}.in_layers.0`, cin);
    conv(`${name}.in_layers.2`, cout, cin, 3);
    linear(`${name}.emb_layers.1`, timeWidth, cout);
    norm(`${name}.out_layers.0`, cout);
    conv(`${name}.out_layers.3`, cout, cout, 3);
    if (cin !== cout) conv(`${name}.skip_connection`, cout, cin, 1);
  };
  const transformer = (name: string, c: number) => {
    norm(`${name}.norm`, c);
    conv(`${name}.proj_in`, c, c, 1);
    const b = `${name}.transformer_blocks.0`;
    for (const a of ['attn1', 'attn2']) {
      linear(`${b}.${a}.to_q`, c, c, false);
      linear(`${b}.${a}.to_k`, a === 'attn1' ? c : t.width, c, false);
      linear(`${b}.${a}.to_v`, a === 'attn1' ? c : t.width, c, false);
      linear(`${b}.${a}.to_out.0`, c, c);
    }
    for (const n of ['norm1', 'norm2', 'norm3']) norm(`${b}.${n}`, c);
    linear(`${b}.ff.net.0.proj`, c, 8 * c);
    linear(`${b}.ff.net.2`, 4 * c, c);
    conv(`${name}.proj_out`, c, c, 1);
  };
  linear(`${up}time_embed.0`, u.channels, timeWidth);
  linear(`${up}time_embed.2`, timeWidth, timeWidth);
  conv(`${up}input_blocks.0.0`, u.channels, 4, 3);
  const widths = u.multipliers.map((m) => m * u.channels);
  const skips: number[] = [u.channels];
  let width: number = u.channels;
  let k = 1;
  widths.forEach((w, level) => {
    for (let j = 0; j < u.resBlocks; j++, k++) {
      res(`${up}input_blocks.${k}.0`, width, w);
      if (u.attention[level]) transformer(`${up}input_blocks.${k}.1`, w);
      width = w;
      skips.push(w);
    }
    if (level < widths.length - 1) {
      conv(`${up}input_blocks.${k++}.0.op`, w, w, 3);
      skips.push(w);
    }
  });
  res(`${up}middle_block.0`, width, width);
  transformer(`${up}middle_block.1`, width);
  res(`${up}middle_block.2`, width, width);
  k = 0;
  for (let level = widths.length - 1; level >= 0; level--) {
    const w = widths[level]!;
    for (let j = 0; j <= u.resBlocks; j++, k++) {
      res(`${up}output_blocks.${k}.0`, width + skips.pop()!, w);
      width = w;
      if (u.attention[level]) transformer(`${up}output_blocks.${k}.1`, w);
      if (level > 0 && j === u.resBlocks) conv(`${up}output_blocks.${k}.${u.attention[level] ? 2 : 1}.conv`, w, w, 3);
    }
  }
  norm(`${up}out.0`, u.channels);
  conv(`${up}out.2`, 4, u.channels, 3);

  // VAE, original names
  const v = TINY_SD.vae;
  const vp = 'first_stage_model.';
  const vres = (name: string, cin: number, cout: number) => {
    norm(`${name}.norm1`, cin);
    conv(`${name}.conv1`, cout, cin, 3);
    norm(`${name}.norm2`, cout);
    conv(`${name}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${name}.nin_shortcut`, cout, cin, 1);
  };
  const middle = (part: string, c: number) => {
    vres(`${vp}${part}.mid.block_1`, c, c);
    norm(`${vp}${part}.mid.attn_1.norm`, c);
    for (const p of ['q', 'k', 'v', 'proj_out']) conv(`${vp}${part}.mid.attn_1.${p}`, c, c, 1);
    vres(`${vp}${part}.mid.block_2`, c, c);
  };
  const vw = v.multipliers.map((m) => m * v.channels);
  const top = vw[vw.length - 1]!;
  conv(`${vp}encoder.conv_in`, v.channels, 3, 3);
  let cin: number = v.channels;
  vw.forEach((w, i) => {
    for (let j = 0; j < v.resBlocks; j++) {
      vres(`${vp}encoder.down.${i}.block.${j}`, cin, w);
      cin = w;
    }
    if (i < vw.length - 1) conv(`${vp}encoder.down.${i}.downsample.conv`, w, w, 3);
  });
  middle('encoder', top);
  norm(`${vp}encoder.norm_out`, top);
  conv(`${vp}encoder.conv_out`, 8, top, 3);
  conv(`${vp}quant_conv`, 8, 8, 1);
  conv(`${vp}post_quant_conv`, 4, 4, 1);
  conv(`${vp}decoder.conv_in`, top, 4, 3);
  middle('decoder', top);
  cin = top;
  for (let i = vw.length - 1; i >= 0; i--) {
    for (let j = 0; j <= v.resBlocks; j++) {
      vres(`${vp}decoder.up.${i}.block.${j}`, cin, vw[i]!);
      cin = vw[i]!;
    }
    if (i > 0) conv(`${vp}decoder.up.${i}.upsample.conv`, vw[i]!, vw[i]!, 3);
  }
  norm(`${vp}decoder.norm_out`, v.channels);
  conv(`${vp}decoder.conv_out`, 3, v.channels, 3);
  return map;
}
