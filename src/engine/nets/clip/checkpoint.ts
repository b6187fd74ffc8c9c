import { AtelierError } from '../../../core/errors.js';
import type { TensorMap } from '../../weights/tensor.js';
import { TensorLedger as Ledger } from '../../weights/tensor-ledger.js';
import type { Activation, LinearWeights, NormWeights, TransformerBlockWeights } from '../transformer-layers.js';
import { CLIP_HEAD_WIDTH, type ClipTextConfig, type ClipVisionConfig } from './config.js';

/**
 * CLIP checkpoints by their tensor names, in the two layouts they are published in:
 *
 * - **openai**: the state dict of OpenAI's `clip/model.py` `CLIP` module (the released
 *   ViT-B-32.pt / ViT-L-14.pt, once saved as a state dict, and open_clip's copies of them):
 *   `token_embedding.weight`, `positional_embedding`, `transformer.resblocks.N.{ln_1, attn.in_proj_*,
 *   attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}`, `ln_final`, `text_projection` [W, E] (multiplied
 *   from the right), `visual.{conv1, class_embedding, positional_embedding, ln_pre, transformer…,
 *   ln_post, proj}`, `logit_scale`. The TorchScript archives also carry the ints
 *   `input_resolution`, `context_length`, `vocab_size`, which are skipped.
 * - **transformers**: Hugging Face `transformers`' `CLIPModel` / `CLIPTextModel` /
 *   `CLIPVisionModelWithProjection` (model.safetensors of openai/clip-vit-*, Stable Diffusion's
 *   text_encoder/): `text_model.embeddings.{token,position}_embedding.weight`,
 *   `text_model.encoder.layers.N.{self_attn.{q,k,v,out}_proj, layer_norm1, mlp.fc1, mlp.fc2,
 *   layer_norm2}`, `text_model.final_layer_norm`, `text_projection.weight` [E, W] (an nn.Linear),
 *   `vision_model.{embeddings.{class_embedding, patch_embedding, position_embedding},
 *   pre_layrnorm (sic), encoder…, post_layernorm}`, `visual_projection.weight`, `logit_scale`;
 *   older files also keep the `position_ids` buffers, which are skipped.
 *
 * Either layout may sit under a prefix (Stable Diffusion's single-file checkpoints keep the text
 * tower under `cond_stage_model.transformer.`). Every tensor of a tower that is asked for must be
 * used and every one it needs must be there with its shape: a checkpoint that does not match is
 * refused with the names that differ, never half-loaded.
 */

export type ClipLayout = 'openai' | 'transformers';

/**
 * LAVIS's `clip_L` image tower (salesforce/LAVIS lavis/models/clip_vit.py, `create_clip_vit_L`),
 * which BLIP-2's ViT-L Q-Formers and DEADiff's carry as `visual_encoder.*`: OpenAI's names without
 * the `visual.` prefix (conv1, class_embedding, positional_embedding, ln_pre,
 * transformer.resblocks.N.…), only the first 23 of ViT-L/14's 24 blocks, and no ln_post or proj:
 * it gives every token's hidden state, which the Q-Former's `ln_vision` normalises.
 */
export type ClipVisionLayout = ClipLayout | 'lavis';
export type ClipTower = 'text' | 'vision';

export interface TensorInfo {
  name: string;
  shape: number[];
}

export interface ClipTextWeights {
  config: ClipTextConfig;
  tokenEmbedding: Float32Array;
  positionEmbedding: Float32Array;
  blocks: TransformerBlockWeights[];
  finalNorm: NormWeights;
  projection?: LinearWeights;
}

export interface ClipVisionWeights {
  config: ClipVisionConfig;
  /** [width, 3, patch, patch], no bias. */
  patchEmbedding: Float32Array;
  classEmbedding: Float32Array;
  positionEmbedding: Float32Array;
  preNorm: NormWeights;
  blocks: TransformerBlockWeights[];
  /** The class token's layer norm; absent in LAVIS's hidden-states-only tower. */
  postNorm?: NormWeights;
  projection?: LinearWeights;
}

export interface ClipWeights {
  layout: ClipLayout;
  prefix: string;
  text?: ClipTextWeights;
  vision?: ClipVisionWeights;
  /** log of the logit temperature (CLIP multiplies cosine similarities by its exp). */
  logitScale?: number;
  /** Names read, in the file's own spelling (with the prefix). */
  used: string[];
  /** Names in scope that belong to a tower not asked for, or buffers that carry no weights. */
  skipped: string[];
}

export interface ClipLoadOptions {
  towers?: ClipTower[];
  /** Heads per tower; default width / 64 (OpenAI's rule, which every published CLIP follows). */
  heads?: { text?: number; vision?: number };
  /** Where the CLIP names start (default: found from the names). */
  prefix?: string;
  /**
   * The image tower's MLP activation, which the shapes do not say: QuickGELU (default; OpenAI's
   * towers) or 'gelu' (OpenCLIP's, e.g. ViT-H/14, whose config.json says hidden_act "gelu").
   */
  visionActivation?: Activation;
  /** The file, for messages. */
  subject?: string;
}

/** Names that hold no weights: TorchScript's config ints and transformers' index buffers. */
const SKIPPED_BUFFERS = ['input_resolution', 'context_length', 'vocab_size', 'text_model.embeddings.position_ids', 'vision_model.embeddings.position_ids'];

/**
 * Read the towers asked for from a checkpoint's tensors. Only names and shapes are needed to
 * check a checkpoint (`planClipCheckpoint`); this also slices and copies the values.
 */
export function loadClipWeights(tensors: TensorMap, options: ClipLoadOptions = {}): ClipWeights {
  return readClip(
    [...tensors.values()].map((t) => ({ name: t.name, shape: t.shape })),
    (name) => tensors.get(name)!.data,
    options,
  );
}

/** Check a checkpoint's names and shapes against the towers asked for (no tensor data needed). */
export function planClipCheckpoint(infos: TensorInfo[], options: ClipLoadOptions = {}): ClipWeights {
  return readClip(infos, () => new Float32Array(0), options);
}

function readClip(infos: TensorInfo[], data: (name: string) => Float32Array, options: ClipLoadOptions): ClipWeights {
  const subject = options.subject ?? 'the CLIP checkpoint';
  const towers = options.towers ?? ['text', 'vision'];
  const { layout, prefix } = detectLayout(infos, options.prefix, subject);
  const inScope = infos.filter((t) => t.name.startsWith(prefix));
  const ledger = new Ledger(new Map(inScope.map((t) => [t.name.slice(prefix.length), t.shape])), (n) => data(prefix + n), 'CLIP', subject);
  const spell = SPELLINGS[layout];
  const out: ClipWeights = { layout, prefix, used: [], skipped: [] };
  if (towers.includes('text')) out.text = readText(ledger, spell, options.heads?.text, subject);
  if (towers.includes('vision')) out.vision = readVision(ledger, spell, options.heads?.vision, subject, options.visionActivation);
  if (towers.length === 2 && ledger.has('logit_scale')) out.logitScale = ledger.take('logit_scale', [])[0];
  ledger.finish((name) => {
    const tower = spell.towerOf(name);
    return SKIPPED_BUFFERS.includes(name) || name === 'logit_scale' || (tower !== undefined && !towers.includes(tower));
  }, `${towers.join(' and ')} tower${towers.length > 1 ? 's' : ''}`);
  out.used = ledger.used.map((n) => prefix + n);
  out.skipped = ledger.skipped.map((n) => prefix + n);
  return out;
}

function detectLayout(infos: TensorInfo[], given: string | undefined, subject: string): { layout: ClipLayout; prefix: string } {
  const marks: [string, ClipLayout][] = [
    ['text_model.embeddings.token_embedding.weight', 'transformers'],
    ['vision_model.embeddings.patch_embedding.weight', 'transformers'],
    ['token_embedding.weight', 'openai'],
    ['visual.conv1.weight', 'openai'],
  ];
  for (const { name } of infos) {
    for (const [mark, layout] of marks) {
      if (!name.endsWith(mark)) continue;
      const prefix = name.slice(0, name.length - mark.length);
      if (given !== undefined && prefix !== given) continue;
      if (prefix === '' || prefix.endsWith('.')) return { layout, prefix };
    }
  }
  throw new AtelierError('E_WEIGHTS_INVALID', 'The file is not a CLIP checkpoint Atelier can read', {
    subject,
    expected: `OpenAI's names (token_embedding.weight, visual.conv1.weight, …) or Hugging Face transformers' (text_model.embeddings.token_embedding.weight, vision_model.…)${given ? ` under the prefix "${given}"` : ''}`,
    received: `${infos.length} tensors, e.g. ${infos.slice(0, 4).map((t) => t.name).join(', ') || 'none'}`,
    hint: 'give the checkpoint of a CLIP model (OpenAI state dict or transformers safetensors)',
  });
}

/** How one layout spells a tower's parts. */
interface Spelling {
  towerOf(name: string): ClipTower | undefined;
  text: {
    token: string;
    position: string;
    blocks: string;
    finalNorm: string;
    projection: string;
    /** The projection is stored [W, E] (multiplied from the right) rather than nn.Linear's [E, W]. */
    projectionTransposed: boolean;
  };
  vision: {
    patch: string;
    cls: string;
    position: string;
    preNorm: string;
    blocks: string;
    /** undefined: the tower has no post-norm (LAVIS's). */
    postNorm: string | undefined;
    projection: string;
    projectionTransposed: boolean;
  };
  /** Reads block `head` (ending in '.') of width W. */
  block(ledger: Ledger, head: string, width: number): TransformerBlockWeights;
}

const norm = (ledger: Ledger, name: string, width: number): NormWeights => ({
  weight: ledger.take(`${name}.weight`, [width]),
  bias: ledger.take(`${name}.bias`, [width]),
});

const dense = (ledger: Ledger, name: string, inFeatures: number, outFeatures: number): LinearWeights => ({
  weight: ledger.take(`${name}.weight`, [outFeatures, inFeatures]),
  bias: ledger.take(`${name}.bias`, [outFeatures]),
  inFeatures,
  outFeatures,
});

const OPENAI: Spelling = {
  towerOf: (name) =>
    name.startsWith('visual.') ? 'vision' : /^(token_embedding\.|positional_embedding$|transformer\.|ln_final\.|text_projection$)/.test(name) ? 'text' : undefined,
  text: { token: 'token_embedding.weight', position: 'positional_embedding', blocks: 'transformer.resblocks.', finalNorm: 'ln_final', projection: 'text_projection', projectionTransposed: true },
  vision: {
    patch: 'visual.conv1.weight',
    cls: 'visual.class_embedding',
    position: 'visual.positional_embedding',
    preNorm: 'visual.ln_pre',
    blocks: 'visual.transformer.resblocks.',
    postNorm: 'visual.ln_post',
    projection: 'visual.proj',
    projectionTransposed: true,
  },
  block(ledger, head, w) {
    // nn.MultiheadAttention keeps q, k and v stacked in one [3W, W] matrix, in that order
    const inWeight = ledger.take(`${head}attn.in_proj_weight`, [3 * w, w]);
    const inBias = ledger.take(`${head}attn.in_proj_bias`, [3 * w]);
    const part = (i: number): LinearWeights => ({
      weight: inWeight.subarray(i * w * w, (i + 1) * w * w),
      bias: inBias.subarray(i * w, (i + 1) * w),
      inFeatures: w,
      outFeatures: w,
    });
    return {
      norm1: norm(ledger, `${head}ln_1`, w),
      q: part(0),
      k: part(1),
      v: part(2),
      out: dense(ledger, `${head}attn.out_proj`, w, w),
      norm2: norm(ledger, `${head}ln_2`, w),
      fc1: dense(ledger, `${head}mlp.c_fc`, w, 4 * w),
      fc2: dense(ledger, `${head}mlp.c_proj`, 4 * w, w),
    };
  },
};

const TRANSFORMERS: Spelling = {
  towerOf: (name) =>
    name.startsWith('vision_model.') || name === 'visual_projection.weight' ? 'vision' : name.startsWith('text_model.') || name === 'text_projection.weight' ? 'text' : undefined,
  text: {
    token: 'text_model.embeddings.token_embedding.weight',
    position: 'text_model.embeddings.position_embedding.weight',
    blocks: 'text_model.encoder.layers.',
    finalNorm: 'text_model.final_layer_norm',
    projection: 'text_projection.weight',
    projectionTransposed: false,
  },
  vision: {
    patch: 'vision_model.embeddings.patch_embedding.weight',
    cls: 'vision_model.embeddings.class_embedding',
    position: 'vision_model.embeddings.position_embedding.weight',
    preNorm: 'vision_model.pre_layrnorm',
    blocks: 'vision_model.encoder.layers.',
    postNorm: 'vision_model.post_layernorm',
    projection: 'visual_projection.weight',
    projectionTransposed: false,
  },
  block(ledger, head, w) {
    const fc1 = ledger.shape(`${head}mlp.fc1.weight`, 'MLP')[0]!;
    return {
      norm1: norm(ledger, `${head}layer_norm1`, w),
      q: dense(ledger, `${head}self_attn.q_proj`, w, w),
      k: dense(ledger, `${head}self_attn.k_proj`, w, w),
      v: dense(ledger, `${head}self_attn.v_proj`, w, w),
      out: dense(ledger, `${head}self_attn.out_proj`, w, w),
      norm2: norm(ledger, `${head}layer_norm2`, w),
      fc1: dense(ledger, `${head}mlp.fc1`, w, fc1),
      fc2: dense(ledger, `${head}mlp.fc2`, fc1, w),
    };
  },
};

const LAVIS: Spelling = {
  ...OPENAI,
  towerOf: (name) => (name.startsWith('visual_encoder.') ? 'vision' : undefined),
  vision: {
    patch: 'visual_encoder.conv1.weight',
    cls: 'visual_encoder.class_embedding',
    position: 'visual_encoder.positional_embedding',
    preNorm: 'visual_encoder.ln_pre',
    blocks: 'visual_encoder.transformer.resblocks.',
    postNorm: undefined,
    projection: 'visual_encoder.proj',
    projectionTransposed: true,
  },
};

const SPELLINGS: Record<ClipVisionLayout, Spelling> = { openai: OPENAI, transformers: TRANSFORMERS, lavis: LAVIS };

/**
 * Read an image tower from a ledger another reader keeps (a model that holds a CLIP tower among its
 * own parts, as BLIP-2's Q-Former does): the names it takes are accounted there.
 */
export function readClipVisionTower(
  ledger: Ledger,
  layout: ClipVisionLayout,
  options: { heads?: number; activation?: Activation; subject: string },
): ClipVisionWeights {
  return readVision(ledger, SPELLINGS[layout], options.heads, options.subject, options.activation);
}

/**
 * A tower's first `blocks` blocks without post-norm or projection: the hidden-states tower BLIP-2
 * reads, which leaves out CLIP's last block and takes the second-to-last block's states (Li et al.
 * 2023, pre-training setup; LAVIS's ViT-L keeps 23 of OpenAI's 24).
 */
export function clipVisionHiddenStates(w: ClipVisionWeights, blocks: number): ClipVisionWeights {
  if (!Number.isInteger(blocks) || blocks < 1 || blocks > w.blocks.length) {
    throw new AtelierError('E_PARAM', 'The CLIP image tower cannot be cut there', { expected: `1 to ${w.blocks.length} blocks`, received: String(blocks) });
  }
  const { postNorm: _post, projection: _projection, ...rest } = w;
  const { embedDim: _embed, ...config } = w.config;
  return { ...rest, config: { ...config, layers: blocks }, blocks: w.blocks.slice(0, blocks) };
}

function headsFor(width: number, given: number | undefined, tower: ClipTower, subject: string): number {
  const heads = given ?? width / CLIP_HEAD_WIDTH;
  if (!Number.isInteger(heads) || heads < 1 || width % heads !== 0) {
    throw new AtelierError('E_WEIGHTS_INVALID', `The CLIP ${tower} tower's head count cannot be found from its width`, {
      subject,
      expected: `a width divisible by ${given ?? CLIP_HEAD_WIDTH}`,
      received: `width ${width}`,
      hint: 'give the head count of this checkpoint (config.json num_attention_heads)',
    });
  }
  return heads;
}

/** A projection as nn.Linear weights [E, W], whichever way the file stores it. */
function projection(ledger: Ledger, name: string, width: number, transposed: boolean): LinearWeights | undefined {
  if (!ledger.has(name)) return undefined;
  const shape = ledger.shape(name, 'projection');
  const embed = transposed ? shape[1]! : shape[0]!;
  const stored = ledger.take(name, transposed ? [width, embed] : [embed, width]);
  const weight = transposed && stored.length > 0 ? new Float32Array(embed * width) : stored;
  if (transposed && stored.length > 0) for (let r = 0; r < width; r++) for (let c = 0; c < embed; c++) weight[c * width + r] = stored[r * embed + c]!;
  return { weight, inFeatures: width, outFeatures: embed };
}

function readText(ledger: Ledger, spell: Spelling, heads: number | undefined, subject: string): ClipTextWeights {
  const s = spell.text;
  const [vocabSize, width] = ledger.shape(s.token, 'text tower (token embedding)') as [number, number];
  const [contextLength] = ledger.shape(s.position, 'text position embedding') as [number];
  const layers = ledger.count(s.blocks);
  const tokenEmbedding = ledger.take(s.token, [vocabSize, width]);
  const positionEmbedding = ledger.take(s.position, [contextLength, width]);
  const blocks = Array.from({ length: layers }, (_, i) => spell.block(ledger, `${s.blocks}${i}.`, width));
  const finalNorm = norm(ledger, s.finalNorm, width);
  const proj = projection(ledger, s.projection, width, s.projectionTransposed);
  const config: ClipTextConfig = { width, layers, heads: headsFor(width, heads, 'text', subject), contextLength, vocabSize, ...(proj && { embedDim: proj.outFeatures }) };
  return { config, tokenEmbedding, positionEmbedding, blocks, finalNorm, ...(proj && { projection: proj }) };
}

function readVision(ledger: Ledger, spell: Spelling, heads: number | undefined, subject: string, activation: Activation | undefined): ClipVisionWeights {
  const s = spell.vision;
  const [width, channels, patchSize] = ledger.shape(s.patch, 'image tower (patch embedding)') as [number, number, number];
  const [tokens] = ledger.shape(s.position, 'image position embedding') as [number];
  const grid = Math.round(Math.sqrt(tokens - 1));
  if (grid * grid !== tokens - 1 || channels !== 3) {
    throw new AtelierError('E_WEIGHTS_INVALID', 'The CLIP image tower has an unexpected patch grid', {
      subject,
      expected: '3 input channels and 1 + g² position embeddings (a square patch grid)',
      received: `${channels} channels, ${tokens} positions`,
    });
  }
  const layers = ledger.count(s.blocks);
  const patchEmbedding = ledger.take(s.patch, [width, 3, patchSize, patchSize]);
  const classEmbedding = ledger.take(s.cls, [width]);
  const positionEmbedding = ledger.take(s.position, [tokens, width]);
  const preNorm = norm(ledger, s.preNorm, width);
  const blocks = Array.from({ length: layers }, (_, i) => spell.block(ledger, `${s.blocks}${i}.`, width));
  const postNorm = s.postNorm === undefined ? undefined : norm(ledger, s.postNorm, width);
  const proj = projection(ledger, s.projection, width, s.projectionTransposed);
  const config: ClipVisionConfig = {
    width,
    layers,
    heads: headsFor(width, heads, 'vision', subject),
    patchSize,
    imageSize: grid * patchSize,
    ...(proj && { embedDim: proj.outFeatures }),
    ...(activation && { activation }),
  };
  return { config, patchEmbedding, classEmbedding, positionEmbedding, preNorm, blocks, ...(postNorm && { postNorm }), ...(proj && { projection: proj }) };
}
