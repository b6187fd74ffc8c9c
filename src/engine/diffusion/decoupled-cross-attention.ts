import { AtelierError } from '../../core/errors.js';
import type { Graph, Tensor } from '../graph/graph.js';
import { linear, type LinearWeights } from '../nets/transformer-layers.js';
import type { AttentionWeights, CrossAttentionInjection, CrossAttentionSite, UnetConfig } from './unet.js';

/**
 * Image injection through decoupled cross-attention (Ye et al. 2023, "IP-Adapter", §3.2): each of
 * the UNet's cross-attention layers keeps its query and its attention over the text, and gains a
 * second attention of the same query over image tokens, with key and value projections of its own:
 *
 *   Z = Attention(Q, K_text, V_text) + s_l · Attention(Q, K_image, V_image),  then the layer's to_out.
 *
 * The two softmaxes are separate (that is what "decoupled" means: the image tokens do not compete
 * with the words for the query's attention), and the sum is taken before the layer's shared output
 * projection, as IP-Adapter's attention processor does. s_l is a strength per layer, fed at run
 * time (input `image_scales` [layers]) so that strengths change without recompiling; s_l = 0 gives
 * the layer exactly its text-only output.
 *
 * Strength groups (DEADiff, Qi et al. 2024, §3.3; InstantStyle, Wang et al. 2024, make the same
 * observation for IP-Adapter): the coarse, low-resolution cross-attention layers around the
 * bottleneck decide the layout and the objects (content); the fine, high-resolution ones the
 * colours, strokes and textures (style). DEADiff conditions its released SD 1.5 model on content
 * in cross-attention layers 4–8 of 16 (configs/inference_deadiff_512x512.yaml, `content_layer:
 * [4,5,6,7,8]`, counted down path, middle, up path) and on style in all the others. At 512²
 * (64² latents) those are, in the original / diffusers names:
 *
 * | group | layers | blocks | latent side at 512² |
 * |---|---|---|---|
 * | style | 0–3 | input_blocks.1, .2, .4, .5 (down_blocks.0 and .1, attentions.0/1) | 64, 32 |
 * | content | 4, 5 | input_blocks.7, .8 (down_blocks.2.attentions.0/1) | 16 |
 * | content | 6 | middle_block.1 (mid_block.attentions.0) | 8 |
 * | content | 7, 8 | output_blocks.3, .4 (up_blocks.1.attentions.0/1) | 16 |
 * | style | 9–15 | output_blocks.5 … .11 (up_blocks.1.attentions.2, up_blocks.2 and .3) | 16, 32, 64 |
 *
 * The rule, for any UNet of this family: content is the down path's layers at the deepest level
 * with attention, the middle, and as many up-path layers at that level as the down path has there
 * (a window symmetric about the bottleneck); style is everything else. Injecting the reference
 * image with style strength 1 and content strength 0 carries its look and leaves the subject to
 * the prompt (DEADiff's "style" mode).
 */

export type InjectionGroup = 'style' | 'content';

/** One cross-attention layer of a UNet, with the names it has in the two layouts. */
export interface CrossAttentionLayer extends CrossAttentionSite {
  /** The layer's width (its query's channels). */
  width: number;
  group: InjectionGroup;
  /** `input_blocks.K.1.transformer_blocks.D.attn2` (original layout). */
  ldmName: string;
  /** `down_blocks.L.attentions.J.transformer_blocks.D.attn2` (diffusers). */
  diffusersName: string;
}

/** Every cross-attention layer of a UNet of this configuration, in the order the graph runs them. */
export function crossAttentionLayers(c: UnetConfig): CrossAttentionLayer[] {
  const levels = c.multipliers.length;
  const r = c.resBlocks;
  const width = (level: number) => c.multipliers[level]! * c.channels;
  const out: Omit<CrossAttentionLayer, 'group'>[] = [];
  const blocks = (base: Omit<CrossAttentionLayer, 'group' | 'index' | 'ldmName' | 'diffusersName'>, ldm: string, diffusers: string) => {
    for (let d = 0; d < c.depth; d++) {
      out.push({ ...base, index: out.length, ldmName: `${ldm}.transformer_blocks.${d}.attn2`, diffusersName: `${diffusers}.transformer_blocks.${d}.attn2` });
    }
  };
  for (let level = 0; level < levels; level++) {
    if (!c.attentionLevels[level]) continue;
    for (let j = 0; j < r; j++) blocks({ block: 'down', level, width: width(level) }, `input_blocks.${1 + level * (r + 1) + j}.1`, `down_blocks.${level}.attentions.${j}`);
  }
  blocks({ block: 'middle', level: levels - 1, width: width(levels - 1) }, 'middle_block.1', 'mid_block.attentions.0');
  for (let fromTop = 0; fromTop < levels; fromTop++) {
    const level = levels - 1 - fromTop;
    if (!c.attentionLevels[level]) continue;
    for (let j = 0; j <= r; j++) blocks({ block: 'up', level, width: width(level) }, `output_blocks.${fromTop * (r + 1) + j}.1`, `up_blocks.${fromTop}.attentions.${j}`);
  }
  const deepest = c.attentionLevels.lastIndexOf(true);
  const downAtDeepest = out.filter((l) => l.block === 'down' && l.level === deepest).length;
  let upTaken = 0;
  return out.map((l) => {
    let content = l.block === 'middle' || (l.block === 'down' && l.level === deepest);
    if (l.block === 'up' && l.level === deepest && upTaken < downAtDeepest) {
      upTaken++;
      content = true;
    }
    return { ...l, group: content ? 'content' : 'style' };
  });
}

/** Strengths of the two groups, and optionally of single layers (by index) over them. */
export interface InjectionStrengths {
  style: number;
  content: number;
  layers?: Record<number, number>;
}

/** The per-layer scales s_l of `strengths` for `layers` (the input `image_scales`). */
export function layerScales(layers: CrossAttentionLayer[], strengths: InjectionStrengths): Float32Array {
  for (const [key, value] of [['style', strengths.style], ['content', strengths.content], ...Object.entries(strengths.layers ?? {})] as const) {
    if (!Number.isFinite(value)) {
      throw new AtelierError('E_PARAM', `The ${/^\d+$/.test(String(key)) ? `layer ${key}` : key} strength of the image injection must be a finite number`, { received: String(value) });
    }
  }
  for (const key of Object.keys(strengths.layers ?? {})) {
    const i = Number(key);
    if (!Number.isInteger(i) || i < 0 || i >= layers.length) {
      throw new AtelierError('E_PARAM', 'No cross-attention layer with that index', { expected: `0 … ${layers.length - 1}`, received: key });
    }
  }
  return Float32Array.from(layers, (l) => strengths.layers?.[l.index] ?? (l.group === 'style' ? strengths.style : strengths.content));
}

/** The image key and value projections of one cross-attention layer. */
export interface ImageKeyValue {
  key: LinearWeights;
  value: LinearWeights;
}

/** [N, L, W] → [N, heads, L, W / heads]. */
export function splitHeads(g: Graph, t: Tensor, heads: number, width: number): Tensor {
  return g.transpose(g.reshape(t, [0, 0, heads, width / heads]), [0, 2, 1, 3]);
}

/** softmax(q kᵀ) v over heads: q [N, heads, Lq, d] already scaled by 1/√d, k and v [N, Lk, W]; → [N, Lq, W]. */
export function attendOverHeads(g: Graph, q: Tensor, k: Tensor, v: Tensor, heads: number, width: number): Tensor {
  const kT = g.transpose(g.reshape(k, [0, 0, heads, width / heads]), [0, 2, 3, 1]);
  const mixed = g.matmul(g.softmax(g.matmul(q, kT), -1), splitHeads(g, v, heads, width));
  return g.reshape(g.transpose(mixed, [0, 2, 1, 3]), [0, 0, width]);
}

/**
 * One decoupled cross-attention layer: `x` [N, Lq, W] attends to the text `context` [N, Lt, C]
 * with the layer's own projections and to the image tokens [N, Li, C] with `image`; `scale` is a
 * [1] tensor (s_l).
 */
export function decoupledCrossAttention(
  g: Graph,
  x: Tensor,
  context: Tensor,
  imageTokens: Tensor,
  w: AttentionWeights,
  image: ImageKeyValue,
  scale: Tensor,
  heads: number,
  name: string,
): Tensor {
  const width = w.q.outFeatures;
  const q = splitHeads(g, g.scale(linear(g, x, w.q, `${name}.q`), 1 / Math.sqrt(width / heads)), heads, width);
  const text = attendOverHeads(g, q, linear(g, context, w.k, `${name}.k`), linear(g, context, w.v, `${name}.v`), heads, width);
  const fromImage = attendOverHeads(g, q, linear(g, imageTokens, image.key, `${name}.k_image`), linear(g, imageTokens, image.value, `${name}.v_image`), heads, width);
  return linear(g, g.add(text, g.mul(fromImage, scale)), w.out, `${name}.out`);
}

/**
 * The injection for `buildUnet`: layer `site.index` uses `perLayer[site.index]` and the scale at
 * that index of `scales` [layers]. `tokens` [N, Li, C] are the image tokens of every batch row.
 */
export function decoupledInjection(tokens: Tensor, scales: Tensor, perLayer: ImageKeyValue[]): CrossAttentionInjection {
  return (g, site, x, context, w, heads, name) => {
    const image = perLayer[site.index];
    if (!image) throw new AtelierError('E_INTERNAL', 'The UNet has more cross-attention layers than the image adapter', { received: `layer ${site.index}`, expected: `fewer than ${perLayer.length}` });
    const scale = g.slice(scales, [0], [site.index], [site.index + 1]);
    return decoupledCrossAttention(g, x, context, tokens, w, image, scale, heads, name);
  };
}
