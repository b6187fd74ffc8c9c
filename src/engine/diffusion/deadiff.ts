import { AtelierError } from '../../core/errors.js';
import type { Graph, Tensor } from '../graph/graph.js';
import { readBlip2Qformer, type Blip2QformerLoadOptions, type Blip2QformerWeights } from '../nets/blip2/qformer-checkpoint.js';
import { linear, type LinearWeights, type NormWeights } from '../nets/transformer-layers.js';
import { TensorLedger } from '../weights/tensor-ledger.js';
import type { TensorMap } from '../weights/tensor.js';
import { attendOverHeads, crossAttentionLayers, splitHeads, type CrossAttentionLayer, type ImageKeyValue } from './decoupled-cross-attention.js';
import { loadUnetWeights, planUnetCheckpoint, type AttentionWeights, type CrossAttentionInjection, type UnetExtension, type UnetLoadOptions, type UnetWeights } from './unet.js';

/**
 * DEADiff's released checkpoint (Qi et al., CVPR 2024; github.com/bytedance/DEADiff, weights
 * huggingface.co/qth/DEADiff deadiff_v1.ckpt, a Lightning checkpoint whose `state_dict` holds a
 * `DualBlipDiffusion`). Its layout, read from the released code (configs/inference_deadiff_512x512.yaml,
 * ldm/models/diffusion/blip_diffusion.py, ldm/modules/new_attention.py, openaimodel.py
 * HierarchicalUNetModel) and LAVIS's (blip2_qformer.py, Qformer.py, clip_vit.py):
 *
 * - `model.diffusion_model.*`: SD 1.5's UNet (the original names) plus, in each of its 16
 *   cross-attention layers, `attn2.i_to_k.weight` and `attn2.i_to_v.weight` [W, 768] (no bias);
 *   `first_stage_model.*` and `cond_stage_model.transformer.*`: SD 1.5's VAE and CLIP text tower
 *   (the SD 1.5 readers);
 * - `style_blip.*` and `content_blip.*`: two LAVIS `Blip2Qformer`s (vit_model "clip_L", 16 query
 *   tokens, cross-attention in every layer: cross_attention_freq 1), read by
 *   `engine/nets/blip2/qformer-checkpoint.ts`, each with its own 23-block CLIP ViT-L/14;
 * - `style_proj_layer.*`, `content_proj_layer.*`: DEADiff's `ProjLayer` (`LayerNorm` ε 1e-12,
 *   `dense1` 768→3072, QuickGELU, `dense2` 3072→768, residual): y = x + dense2(QuickGELU(dense1(LN(x))));
 * - `ctx_embeddings_cache` [1, 16, 768]: BLIP-Diffusion's cached subject embedding, used only when
 *   loaded from a BLIP-Diffusion folder (`_use_embeddings_cache`), never at DEADiff's inference:
 *   skipped.
 *
 * At inference (DualBlipDiffusion.get_learned_conditioning) the reference image, resized to 224²
 * and CLIP-normalised, goes through the style Q-Former with the text "style" and the content
 * Q-Former with "content" (`extract_features(mode="multimodal")`: the query tokens' last states),
 * each through its projection: 16 style and 16 content tokens. The style tokens go to the style
 * layers, the content tokens to layers 4–8 (`content_layer`), the same split as
 * `crossAttentionLayers`; with subject text "style" only, the content tokens are zeros, with
 * "content" only the style tokens. The unconditional row of classifier-free guidance gets zero
 * tokens (a text-only condition).
 *
 * DEADiff's injection differs from IP-Adapter's: the image tokens' keys and values are appended to
 * the text's, both scaled by one `img_weight`, and one softmax runs over all of them
 *   Z = softmax(Q [K_text; w·K_image]ᵀ / √d) [V_text; w·V_image]
 * (the image competes with the words). Since i_to_k and i_to_v have no bias, w·K_image is the key
 * of w·tokens, so a weight per group is applied to the tokens. With w = 0 the image keys are zero,
 * not absent: each still takes softmax weight exp(0), so w = 0 does not give the plain UNet (nor
 * does DEADiff's own text-only row).
 */

export interface DeadiffUnetWeights {
  unet: UnetWeights;
  /** The image key/value of each cross-attention layer, in the order the graph runs them. */
  layers: (ImageKeyValue & CrossAttentionLayer)[];
}

/** DEADiff's ProjLayer. */
export interface DeadiffProjectionWeights {
  norm: NormWeights;
  fc1: LinearWeights;
  fc2: LinearWeights;
}

export type DeadiffGroup = 'style' | 'content';

export interface DeadiffWeights extends DeadiffUnetWeights {
  /** The Q-Former and projection of each group. */
  qformers: Record<DeadiffGroup, Blip2QformerWeights>;
  projections: Record<DeadiffGroup, DeadiffProjectionWeights>;
}

export interface DeadiffLoadOptions extends UnetLoadOptions {
  qformer?: Blip2QformerLoadOptions;
}

/** The texts DEADiff gives its Q-Formers (its `subject_text` "style" / "content"). */
export const DEADIFF_SUBJECT_TEXT: Record<DeadiffGroup, string> = { style: 'style', content: 'content' };
export const DEADIFF_GROUPS: readonly DeadiffGroup[] = ['style', 'content'];
/** Names DEADiff saves that inference does not read. */
const DEADIFF_SKIPPED = ['ctx_embeddings_cache'];

const IMAGE_KV = /\.attn2\.i_to_[kv]\.weight$/;

/** Whether a checkpoint's names are DEADiff's (its UNet has image keys/values). */
export function isDeadiffCheckpoint(names: Iterable<string>, prefix = 'model.diffusion_model.'): boolean {
  for (const n of names) if (n.startsWith(prefix) && IMAGE_KV.test(n)) return true;
  return false;
}

type Infos = { name: string; shape: number[] }[];

function readDeadiffUnet(infos: Infos, data: (name: string) => Float32Array, options: UnetLoadOptions & { planOnly?: boolean }): DeadiffUnetWeights {
  const subject = options.subject ?? 'the DEADiff checkpoint';
  const prefix = options.prefix ?? 'model.diffusion_model.';
  if (!isDeadiffCheckpoint(infos.map((i) => i.name), prefix)) {
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
  return { unet, layers };
}

function readProjection(infos: Infos, data: (name: string) => Float32Array, group: DeadiffGroup, width: number, subject: string): DeadiffProjectionWeights {
  const prefix = `${group}_proj_layer.`;
  const inScope = infos.filter((t) => t.name.startsWith(prefix));
  const ledger = new TensorLedger(new Map(inScope.map((t) => [t.name.slice(prefix.length), t.shape])), (n) => data(prefix + n), `DEADiff ${group} projection (${prefix}*)`, subject);
  const [hidden] = ledger.shape('dense1.weight', `${group} projection (${prefix}dense1)`) as [number];
  const dense = (name: string, inFeatures: number, outFeatures: number): LinearWeights => ({ weight: ledger.take(`${name}.weight`, [outFeatures, inFeatures]), bias: ledger.take(`${name}.bias`, [outFeatures]), inFeatures, outFeatures });
  const w = {
    norm: { weight: ledger.take('LayerNorm.weight', [width]), bias: ledger.take('LayerNorm.bias', [width]) },
    fc1: dense('dense1', width, hidden),
    fc2: dense('dense2', hidden, width),
  };
  ledger.finish(() => false, `${group} projection (LayerNorm, dense1, dense2)`);
  return w;
}

function readDeadiff(infos: Infos, data: (name: string) => Float32Array, options: DeadiffLoadOptions & { planOnly?: boolean }): DeadiffWeights {
  const subject = options.subject ?? 'the DEADiff checkpoint';
  const { qformer, ...unetOptions } = options;
  const half = readDeadiffUnet(infos, data, unetOptions);
  const contextDim = half.unet.config.contextDim;
  const qformers = {} as Record<DeadiffGroup, Blip2QformerWeights>;
  const projections = {} as Record<DeadiffGroup, DeadiffProjectionWeights>;
  for (const group of DEADIFF_GROUPS) {
    const q = readBlip2Qformer(infos, data, `${group}_blip.`, { subject, ...qformer });
    if (q.config.hidden !== contextDim) {
      throw new AtelierError('E_WEIGHTS_INVALID', `DEADiff's ${group} Q-Former is not as wide as the UNet's cross-attention context`, {
        subject,
        expected: `${contextDim}-wide query features (the width i_to_k / i_to_v read)`,
        received: `a ${q.config.hidden}-wide Q-Former`,
      });
    }
    qformers[group] = q;
    projections[group] = readProjection(infos, data, group, contextDim, subject);
  }
  return { ...half, qformers, projections };
}

/** The UNet half of a DEADiff checkpoint (its image keys/values), for tokens given directly. */
export function loadDeadiffUnet(tensors: TensorMap, options: UnetLoadOptions = {}): DeadiffUnetWeights {
  return readDeadiffUnet([...tensors.values()].map((t) => ({ name: t.name, shape: t.shape })), (n) => tensors.get(n)!.data, options);
}

/** Check the UNet half's names and shapes (no tensor data needed). */
export function planDeadiffUnet(infos: Infos, options: UnetLoadOptions = {}): DeadiffUnetWeights {
  return readDeadiffUnet(infos, () => new Float32Array(0), { ...options, planOnly: true });
}

/** A DEADiff checkpoint's UNet, Q-Formers and projections. */
export function loadDeadiff(tensors: TensorMap, options: DeadiffLoadOptions = {}): DeadiffWeights {
  return readDeadiff([...tensors.values()].map((t) => ({ name: t.name, shape: t.shape })), (n) => tensors.get(n)!.data, options);
}

/** Check a DEADiff checkpoint's names and shapes (no tensor data needed). */
export function planDeadiff(infos: Infos, options: DeadiffLoadOptions = {}): DeadiffWeights {
  return readDeadiff(infos, () => new Float32Array(0), { ...options, planOnly: true });
}

/** The names of a DEADiff checkpoint that no part of the DEADiff path reads on purpose. */
export function isDeadiffSkipped(name: string): boolean {
  return DEADIFF_SKIPPED.includes(name);
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
    readonly weights: DeadiffUnetWeights,
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

  /**
   * The feeds of a guided step, batch [unconditional, prompt]: zero tokens in the unconditional
   * row (DEADiff's text-only condition), the reference's tokens [T, C] of each group times its
   * strength in the prompt row (`img_weight` per group: the keys are linear in the tokens); a
   * group at strength 0 gets zero tokens, as DEADiff's single-subject modes do.
   */
  feeds(tokens: Record<DeadiffGroup, Float32Array> | undefined, strengths: Record<DeadiffGroup, number>) {
    const c = this.weights.unet.config.contextDim;
    const size = this.tokens * c;
    const feed = (group: DeadiffGroup) => {
      const data = new Float32Array(2 * size);
      const t = tokens?.[group];
      if (t) {
        if (t.length !== size) throw new AtelierError('E_INTERNAL', `DEADiff ${group} tokens of the wrong size`, { expected: `${this.tokens}×${c}`, received: `${t.length} values` });
        for (let i = 0; i < size; i++) data[size + i] = t[i]! * strengths[group];
      }
      return { data, shape: [2, this.tokens, c] };
    };
    return { style_tokens: feed('style'), content_tokens: feed('content'), image_weight: { data: Float32Array.of(1), shape: [1] } };
  }
}
