import type { ClipTextWeights } from '../nets/clip/checkpoint.js';
import type { LinearWeights } from '../nets/transformer-layers.js';
import type { ConvWeights, ResBlockWeights } from './conv-blocks.js';
import type { SpatialTransformerWeights, UnetWeights } from './unet.js';

/**
 * The weights a diffusion LoRA can change, by the module paths LoRA files name them with, whatever
 * layout the base checkpoint was read from: diffusers' UNet2DConditionModel paths for the UNet
 * (`down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q`, `mid_block.resnets.1.conv2`,
 * `up_blocks.1.upsamplers.0.conv`, …) and transformers' CLIPTextModel paths for the text encoder
 * (`text_model.encoder.layers.3.self_attn.q_proj`, `….mlp.fc1`). These are the names kohya's
 * sd-scripts and diffusers give LoRA layers for SD 1.x (both build the diffusers module tree).
 * Norms and embeddings are not listed: LoRA files for SD 1.x carry none.
 *
 * Each target is the live weight holder of the loaded network, so a merge replaces `weight` in a
 * copy of the structure (`lora-merge.ts`).
 */

export interface LoraTarget {
  path: string;
  /** [out, in] for a linear layer, [out, in, kh, kw] for a conv, as PyTorch stores them. */
  shape: number[];
  holder: { weight: Float32Array };
}

const linear = (path: string, w: LinearWeights): LoraTarget => ({ path, shape: [w.outFeatures, w.inFeatures], holder: w });
const conv = (path: string, w: ConvWeights): LoraTarget => ({ path, shape: [w.cout, w.cin, w.kernel, w.kernel], holder: w });

function resnet(path: string, r: ResBlockWeights): LoraTarget[] {
  return [
    conv(`${path}.conv1`, r.conv1),
    ...(r.timeProjection ? [{ path: `${path}.time_emb_proj`, shape: [r.timeProjection.cout, r.timeProjection.cin], holder: r.timeProjection }] : []),
    conv(`${path}.conv2`, r.conv2),
    ...(r.shortcut ? [conv(`${path}.conv_shortcut`, r.shortcut)] : []),
  ];
}

function transformer(path: string, t: SpatialTransformerWeights): LoraTarget[] {
  const out = [conv(`${path}.proj_in`, t.projIn)];
  t.blocks.forEach((b, i) => {
    const p = `${path}.transformer_blocks.${i}`;
    for (const [name, a] of [['attn1', b.attn1], ['attn2', b.attn2]] as const) {
      out.push(linear(`${p}.${name}.to_q`, a.q), linear(`${p}.${name}.to_k`, a.k), linear(`${p}.${name}.to_v`, a.v), linear(`${p}.${name}.to_out.0`, a.out));
    }
    out.push(linear(`${p}.ff.net.0.proj`, b.ffIn), linear(`${p}.ff.net.2`, b.ffOut));
  });
  out.push(conv(`${path}.proj_out`, t.projOut));
  return out;
}

/** Every LoRA-able weight of a UNet, by its diffusers module path. */
export function unetLoraTargets(w: UnetWeights): LoraTarget[] {
  const out: LoraTarget[] = [conv('conv_in', w.convIn), linear('time_embedding.linear_1', w.time1), linear('time_embedding.linear_2', w.time2)];
  w.down.forEach((level, l) => {
    level.stages.forEach((s, j) => {
      out.push(...resnet(`down_blocks.${l}.resnets.${j}`, s.res));
      if (s.transformer) out.push(...transformer(`down_blocks.${l}.attentions.${j}`, s.transformer));
    });
    if (level.downsample) out.push(conv(`down_blocks.${l}.downsamplers.0.conv`, level.downsample));
  });
  out.push(...resnet('mid_block.resnets.0', w.middle.res1), ...transformer('mid_block.attentions.0', w.middle.transformer), ...resnet('mid_block.resnets.1', w.middle.res2));
  w.up.forEach((level, t) => {
    level.stages.forEach((s, j) => {
      out.push(...resnet(`up_blocks.${t}.resnets.${j}`, s.res));
      if (s.transformer) out.push(...transformer(`up_blocks.${t}.attentions.${j}`, s.transformer));
    });
    if (level.upsample) out.push(conv(`up_blocks.${t}.upsamplers.0.conv`, level.upsample));
  });
  out.push(conv('conv_out', w.convOut));
  return out;
}

/** Every LoRA-able weight of CLIP's text tower, by its transformers module path. */
export function textLoraTargets(t: ClipTextWeights): LoraTarget[] {
  return t.blocks.flatMap((b, i) => {
    const p = `text_model.encoder.layers.${i}`;
    return [
      linear(`${p}.self_attn.q_proj`, b.q),
      linear(`${p}.self_attn.k_proj`, b.k),
      linear(`${p}.self_attn.v_proj`, b.v),
      linear(`${p}.self_attn.out_proj`, b.out),
      linear(`${p}.mlp.fc1`, b.fc1),
      linear(`${p}.mlp.fc2`, b.fc2),
    ];
  });
}

/**
 * The attention projections of the UNet's transformers (to_q, to_k, to_v, to_out.0 of attn1 and
 * attn2), in the order `buildUnet` records them: the graph names their weights
 * `unet.t<k>.<i>.attn<1|2>.<q|k|v|out>.weight`, k counting transformers down, middle, up. The
 * training graph finds its LoRA targets by those names.
 */
export function unetAttentionParams(w: UnetWeights): { path: string; param: string; shape: number[] }[] {
  const transformers: [string, SpatialTransformerWeights][] = [];
  w.down.forEach((level, l) => level.stages.forEach((s, j) => s.transformer && transformers.push([`down_blocks.${l}.attentions.${j}`, s.transformer])));
  transformers.push(['mid_block.attentions.0', w.middle.transformer]);
  w.up.forEach((level, t) => level.stages.forEach((s, j) => s.transformer && transformers.push([`up_blocks.${t}.attentions.${j}`, s.transformer])));
  const out: { path: string; param: string; shape: number[] }[] = [];
  transformers.forEach(([path, tr], k) =>
    tr.blocks.forEach((b, i) => {
      for (const [attn, a] of [['attn1', b.attn1], ['attn2', b.attn2]] as const) {
        for (const [ours, theirs, lw] of [['q', 'to_q', a.q], ['k', 'to_k', a.k], ['v', 'to_v', a.v], ['out', 'to_out.0', a.out]] as const) {
          out.push({ path: `${path}.transformer_blocks.${i}.${attn}.${theirs}`, param: `unet.t${k}.${i}.${attn}.${ours}.weight`, shape: [lw.outFeatures, lw.inFeatures] });
        }
      }
    }),
  );
  return out;
}
