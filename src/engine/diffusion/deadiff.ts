import { AtelierError } from '../../core/errors.js';
import type { Graph, Tensor } from '../graph/graph.js';
import { linear, type LinearWeights } from '../nets/transformer-layers.js';
import type { TensorMap } from '../weights/tensor.js';
import { attendOverHeads, crossAttentionLayers, splitHeads, type CrossAttentionLayer, type ImageKeyValue } from './decoupled-cross-attention.js';
import { loadUnetWeights, planUnetCheckpoint, type AttentionWeights, type CrossAttentionInjection, type UnetExtension, type UnetLoadOptions, type UnetWeights } from './unet.js';

/**
 * DEADiff's released checkpoint (Qi et al., CVPR 2024; github.com/bytedance/DEADiff, weights
 * huggingface.co/qth/DEADiff deadiff_v1.ckpt, a Lightning checkpoint whose `state_dict` holds a
 * `DualBlipDiffusion`), as far as Atelier can build it. Its layout, read from the released code
 * (configs/inference_deadiff_512x512.yaml, ldm/models/diffusion/blip_diffusion.py,
 * ldm/modules/new_attention.py, openaimodel.py HierarchicalUNetModel):
 *
 * - `model.diffusion_model.*`: SD 1.5's UNet (the original names) plus, in each of its 16
 *   cross-attention layers, `attn2.i_to_k.weight` and `attn2.i_to_v.weight` [W, 768] (no bias);
 *   `first_stage_model.*` and `cond_stage_model.transformer.*`: SD 1.5's VAE and CLIP text tower.
 *   These Atelier reads (the same readers as SD 1.5).
 * - `style_blip.*` and `content_blip.*`: two LAVIS `Blip2Qformer`s (vit_model "clip_L", 16 query
 *   tokens, cross-attention in every layer): `visual_encoder.*` (LAVIS's CLIP ViT-L/14 of 23
 *   layers, OpenAI's names, no post-norm or projection), `ln_vision`, `Qformer.bert.*` (a 12-layer
 *   BERT-base whose layers also attend to the image, with separate feed-forwards for the query
 *   tokens: `intermediate_query`, `output_query`), `Qformer.cls.*`, `query_tokens` [1, 16, 768],
 *   `vision_proj`, `text_proj`, `itm_head`, `temp`; `style_proj_layer.*` and `content_proj_layer.*`
 *   (dense1 768→3072, QuickGELU, dense2, residual, LayerNorm ε 1e-12); `ctx_embeddings_cache`.
 *   These Atelier does not build (see `DEADIFF_LACKS`): without them there are no style or content
 *   tokens, so a DEADiff checkpoint is read, checked and refused with that reason; the UNet half
 *   runs with tokens given directly (`DeadiffExtension`), which is how it is tested.
 *
 * DEADiff's injection differs from IP-Adapter's: the image tokens' keys and values are appended to
 * the text's, both scaled by one `img_weight`, and one softmax runs over all of them
 *   Z = softmax(Q [K_text; w·K_image]ᵀ / √d) [V_text; w·V_image]
 * (the image competes with the words); the style Q-Former's tokens go to the style layers and the
 * content Q-Former's to layers 4–8 (`content_layer`), the same split as `crossAttentionLayers`.
 * With w = 0 the image keys are zero, not absent: each still takes softmax weight exp(0), so
 * w = 0 does not give the plain UNet (DEADiff leaves the tokens out instead when it has none).
 */

/** What a DEADiff checkpoint needs that Atelier does not build, by name prefix. */
export const DEADIFF_LACKS: Record<string, string> = {
  'style_blip.': "the style Q-Former (LAVIS Blip2Qformer: BERT-base with image cross-attention and 16 query tokens, its own 23-layer CLIP ViT-L/14 and ln_vision, and BERT's WordPiece tokenizer for the word 'style', whose vocabulary the checkpoint does not carry)",
  'content_blip.': "the content Q-Former (the same, for the word 'content')",
  'style_proj_layer.': 'the style projection (dense–QuickGELU–dense, residual, LayerNorm)',
  'content_proj_layer.': 'the content projection',
  ctx_embeddings_cache: "BLIP-Diffusion's cached context embedding (unused at inference)",
};

export interface DeadiffWeights {
  unet: UnetWeights;
  /** The image key/value of each cross-attention layer, in the order the graph runs them. */
  layers: (ImageKeyValue & CrossAttentionLayer)[];
  /** Names found per part DEADiff needs and Atelier lacks (prefix → count). */
  lacking: Record<string, number>;
}

const IMAGE_KV = /\.attn2\.i_to_[kv]\.weight$/;

function readDeadiff(infos: { name: string; shape: number[] }[], data: (name: string) => Float32Array, options: UnetLoadOptions & { planOnly?: boolean }): DeadiffWeights {
  const subject = options.subject ?? 'the DEADiff checkpoint';
  const prefix = options.prefix ?? 'model.diffusion_model.';
  if (!infos.some((i) => i.name.startsWith(prefix) && IMAGE_KV.test(i.name))) {
    throw new AtelierError('E_WEIGHTS_INVALID', 'The file is not a DEADiff checkpoint', {
      subject,
      expected: `${prefix}…attn2.i_to_k.weight / i_to_v.weight in the UNet's cross-attention layers`,
      received: `${infos.length} tensors, none of them a DEADiff image key/value`,
    });
  }
  const plain = infos.filter((i) => !IMAGE_KV.test(i.name));
  const { planOnly, ...unetOptions } = options;
  const unet = planOnly ? planUnetCheckpoint(plain, { ...unetOptions, prefix }) : loadUnetWeights(new Map(plain.map((i) => [i.name, { name: i.name, shape: i.shape, data: data(i.name) }])), { ...unetOptions, prefix });
  const shapes = new Map(infos.map((i) => [i.name, i.shape]));
  const problems: string[] = [];
  const taken = new Set<string>();
  const kv = (name: string, width: number): LinearWeights => {
    const shape = shapes.get(name);
    const want = [width, unet.config.contextDim];
    if (!shape) problems.push(`${name} missing`);
    else if (shape.join() !== want.join()) problems.push(`${name} is [${shape.join(', ')}], expected [${want.join(', ')}]`);
    taken.add(name);
    return { weight: shape ? data(name) : new Float32Array(0), inFeatures: unet.config.contextDim, outFeatures: width };
  };
  const layers = crossAttentionLayers(unet.config).map((l) => ({ ...l, key: kv(`${prefix}${l.ldmName}.i_to_k.weight`, l.width), value: kv(`${prefix}${l.ldmName}.i_to_v.weight`, l.width) }));
  const extra = infos.filter((i) => IMAGE_KV.test(i.name) && i.name.startsWith(prefix) && !taken.has(i.name)).map((i) => i.name);
  if (problems.length > 0 || extra.length > 0) {
    throw new AtelierError('E_WEIGHTS_INVALID', "The DEADiff image keys and values do not match the UNet's cross-attention layers", {
      subject,
      expected: `i_to_k / i_to_v [W, ${unet.config.contextDim}] for each of the ${layers.length} layers`,
      received: [...problems, ...extra.map((n) => `${n} not used`)].slice(0, 8).join('; '),
    });
  }
  const lacking: Record<string, number> = {};
  for (const { name } of infos) {
    const part = Object.keys(DEADIFF_LACKS).find((p) => name.startsWith(p));
    if (part) lacking[part] = (lacking[part] ?? 0) + 1;
  }
  return { unet, layers, lacking };
}

export function loadDeadiff(tensors: TensorMap, options: UnetLoadOptions = {}): DeadiffWeights {
  return readDeadiff([...tensors.values()].map((t) => ({ name: t.name, shape: t.shape })), (n) => tensors.get(n)!.data, options);
}

/** Check a DEADiff checkpoint's names and shapes (no tensor data needed). */
export function planDeadiff(infos: { name: string; shape: number[] }[], options: UnetLoadOptions = {}): DeadiffWeights {
  return readDeadiff(infos, () => new Float32Array(0), { ...options, planOnly: true });
}

/** The refusal of a DEADiff checkpoint for style transfer: what it needs that Atelier lacks. */
export function deadiffLacks(w: DeadiffWeights, subject: string): AtelierError {
  const parts = Object.entries(DEADIFF_LACKS).filter(([p]) => p !== 'ctx_embeddings_cache');
  return new AtelierError('E_WEIGHTS_INVALID', "DEADiff's UNet, VAE and text tower load, but its Q-Formers, which make the style and content tokens, are not built in Atelier", {
    subject,
    expected: 'the UNet half of DEADiff runs with given tokens; a reference image needs the Q-Formers',
    received: parts.map(([p, what]) => `${p}* (${w.lacking[p] ?? 0} tensors): ${what}`).join('; '),
    hint: 'use IP-Adapter (--adapter, the ip-adapter-sd15 model) for reference-image style on SD 1.5',
  });
}

/** DEADiff's cross-attention: image keys/values appended to the text's, scaled by w, one softmax. */
export function jointCrossAttention(g: Graph, x: Tensor, context: Tensor, imageTokens: Tensor, w: AttentionWeights, image: ImageKeyValue, weight: Tensor, heads: number, name: string): Tensor {
  const width = w.q.outFeatures;
  const q = splitHeads(g, g.scale(linear(g, x, w.q, `${name}.q`), 1 / Math.sqrt(width / heads)), heads, width);
  const k = g.concat([linear(g, context, w.k, `${name}.k`), g.mul(linear(g, imageTokens, image.key, `${name}.k_image`), weight)], 1);
  const v = g.concat([linear(g, context, w.v, `${name}.v`), g.mul(linear(g, imageTokens, image.value, `${name}.v_image`), weight)], 1);
  return linear(g, attendOverHeads(g, q, k, v, heads, width), w.out, `${name}.out`);
}

/**
 * DEADiff's injection for `Unet.create`: inputs `style_tokens` and `content_tokens` [N, T, C] (the
 * two Q-Formers' outputs after their projections) and `image_weight` [1] (img_weight).
 */
export class DeadiffExtension implements UnetExtension {
  constructor(
    readonly weights: DeadiffWeights,
    readonly tokens: number,
  ) {}

  attach(g: Graph, batch: number): CrossAttentionInjection {
    const c = this.weights.unet.config.contextDim;
    const style = g.input('style_tokens', [batch, this.tokens, c]);
    const content = g.input('content_tokens', [batch, this.tokens, c]);
    const weight = g.input('image_weight', [1]);
    return (gr, site, x, context, w, heads, name) => {
      const layer = this.weights.layers[site.index]!;
      return jointCrossAttention(gr, x, context, layer.group === 'content' ? content : style, w, layer, weight, heads, name);
    };
  }
}
