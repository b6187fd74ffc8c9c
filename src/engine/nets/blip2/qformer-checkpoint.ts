import { AtelierError } from '../../../core/errors.js';
import { TensorLedger } from '../../weights/tensor-ledger.js';
import { clipVisionHiddenStates, readClipVisionTower, type ClipVisionWeights, type TensorInfo } from '../clip/checkpoint.js';
import type { LinearWeights, NormWeights } from '../transformer-layers.js';

/**
 * BLIP-2's first-stage model (Li et al. 2023, "BLIP-2: Bootstrapping Language-Image Pre-training
 * with Frozen Image Encoders and Large Language Models", §3.1) by its tensor names in LAVIS's
 * `Blip2Qformer` (salesforce/LAVIS lavis/models/blip2_models/blip2_qformer.py, Qformer.py), which
 * DEADiff holds twice (`style_blip.`, `content_blip.`):
 *
 * - `visual_encoder.*` and `ln_vision`: the frozen image tower (for `clip_L`, LAVIS's 23-block
 *   CLIP ViT-L/14 without post-norm, read by the CLIP reader's 'lavis' spelling) and a LayerNorm;
 * - `query_tokens` [1, Q, H]: the learnt queries;
 * - `Qformer.bert.embeddings.{word_embeddings, position_embeddings, LayerNorm}`: BERT's embeddings
 *   without token types (the vocabulary has LAVIS's added `[DEC]` token: bert-base-uncased's
 *   30 522 + 1 rows);
 * - `Qformer.bert.encoder.layer.N.`: post-norm BERT layers: `attention.{self.{query,key,value},
 *   output.{dense,LayerNorm}}`; `crossattention.…` (the same, keys and values from the image
 *   width) in layers where N % cross_attention_freq == 0 (every layer for DEADiff's freq 1, every
 *   other for BLIP-2's 2); the text's feed-forward `intermediate.dense`, `output.{dense,LayerNorm}`
 *   and the queries' own `intermediate_query.dense`, `output_query.{dense,LayerNorm}`.
 *
 * Skipped by name, since the query features do not use them: the language-model head
 * `Qformer.cls.*`, `vision_proj`, `text_proj`, `itm_head`, `temp` and the `position_ids` buffer.
 * BERT-base's 12 heads of 64 are not in the shapes: heads default to H / 64.
 */

export interface BertAttentionWeights {
  q: LinearWeights;
  k: LinearWeights;
  v: LinearWeights;
  out: LinearWeights;
  /** Post-norm: LayerNorm(out(attention) + input). */
  norm: NormWeights;
}

export interface BertFeedForwardWeights {
  fc1: LinearWeights;
  fc2: LinearWeights;
  norm: NormWeights;
}

export interface QformerLayerWeights {
  selfAttention: BertAttentionWeights;
  crossAttention?: BertAttentionWeights;
  /** The text positions' feed-forward. */
  feedForward: BertFeedForwardWeights;
  /** The query positions' feed-forward. */
  queryFeedForward: BertFeedForwardWeights;
}

export interface Blip2QformerConfig {
  hidden: number;
  heads: number;
  queries: number;
  layers: number;
  vocabSize: number;
  maxPositions: number;
  /** Width of the image states the cross-attention reads (the image tower's width). */
  encoderWidth: number;
}

export interface Blip2QformerWeights {
  config: Blip2QformerConfig;
  vision: ClipVisionWeights;
  lnVision: NormWeights;
  /** [Q, H] */
  queryTokens: Float32Array;
  /** [V, H] */
  wordEmbeddings: Float32Array;
  /** [P, H] */
  positionEmbeddings: Float32Array;
  embeddingNorm: NormWeights;
  layers: QformerLayerWeights[];
}

/** BERT's layer-norm ε (bert-base-uncased's config.json layer_norm_eps). */
export const BERT_LAYER_NORM_EPS = 1e-12;
/** BERT-base's head width (768 / 12). */
export const BERT_HEAD_WIDTH = 64;

/** Names a Blip2Qformer holds that the query features do not use. */
const UNUSED = /^(Qformer\.cls\.|vision_proj\.|text_proj\.|itm_head\.|temp$|Qformer\.bert\.embeddings\.position_ids$)/;

export interface Blip2QformerLoadOptions {
  /** Heads of the Q-Former's attention (default H / 64, BERT-base's rule). */
  heads?: number;
  /** Heads of the image tower (default its width / 64, OpenAI's rule). */
  visionHeads?: number;
  /**
   * The image tower when the checkpoint was saved without its frozen `visual_encoder.*`: a CLIP
   * tower (LAVIS's clip_L is OpenAI's ViT-L/14), of which the Q-Former reads all blocks but the last.
   */
  visionTower?: ClipVisionWeights;
  subject?: string;
}

/** Read the Blip2Qformer whose names start with `prefix` (e.g. `style_blip.`) from names and shapes; `data` gives values. */
export function readBlip2Qformer(infos: TensorInfo[], data: (name: string) => Float32Array, prefix: string, options: Blip2QformerLoadOptions = {}): Blip2QformerWeights {
  const subject = options.subject ?? 'the BLIP-2 Q-Former';
  const inScope = infos.filter((t) => t.name.startsWith(prefix));
  const ledger = new TensorLedger(new Map(inScope.map((t) => [t.name.slice(prefix.length), t.shape])), (n) => data(prefix + n), `Q-Former (${prefix}*)`, subject);
  if (!ledger.has('query_tokens')) {
    throw new AtelierError('E_WEIGHTS_INVALID', 'The checkpoint has no BLIP-2 Q-Former there', {
      subject,
      expected: `${prefix}query_tokens and ${prefix}Qformer.bert.* (LAVIS's Blip2Qformer)`,
      received: inScope.length === 0 ? `no tensor named ${prefix}…` : `${inScope.length} tensors under ${prefix}, e.g. ${inScope.slice(0, 3).map((t) => t.name).join(', ')}`,
    });
  }
  const [, queries, hidden] = ledger.shape('query_tokens', 'query tokens') as [number, number, number];
  const [vocabSize] = ledger.shape('Qformer.bert.embeddings.word_embeddings.weight', 'word embeddings') as [number];
  const [maxPositions] = ledger.shape('Qformer.bert.embeddings.position_embeddings.weight', 'position embeddings') as [number];
  const inFile = ledger.has('visual_encoder.conv1.weight');
  if (!inFile && !options.visionTower) {
    throw new AtelierError('E_WEIGHTS_INVALID', "The Q-Former's image tower is not in the checkpoint", {
      subject,
      expected: `${prefix}visual_encoder.* (LAVIS's CLIP ViT-L/14 of 23 blocks) and ${prefix}ln_vision`,
      received: `${inScope.length} tensors under ${prefix} without visual_encoder.*`,
      hint: "the file was saved without the frozen image tower: give CLIP ViT-L/14's (install clip-vit-l14: `atelier models pull clip-vit-l14`), whose first 23 blocks it is",
    });
  }
  const vision = inFile
    ? readClipVisionTower(ledger, 'lavis', { subject, ...(options.visionHeads !== undefined && { heads: options.visionHeads }) })
    : clipVisionHiddenStates(options.visionTower!, options.visionTower!.blocks.length - 1);
  const encoderWidth = vision.config.width;
  const heads = options.heads ?? hidden / BERT_HEAD_WIDTH;
  if (!Number.isInteger(heads) || heads < 1 || hidden % heads !== 0) {
    throw new AtelierError('E_WEIGHTS_INVALID', "The Q-Former's head count cannot be found from its width", {
      subject,
      expected: `a width divisible by ${options.heads ?? BERT_HEAD_WIDTH}`,
      received: `width ${hidden}`,
      hint: 'give the head count (the Q-Former config num_attention_heads)',
    });
  }
  const norm = (name: string): NormWeights => ({ weight: ledger.take(`${name}.weight`, [hidden]), bias: ledger.take(`${name}.bias`, [hidden]) });
  const dense = (name: string, inFeatures: number, outFeatures: number): LinearWeights => ({
    weight: ledger.take(`${name}.weight`, [outFeatures, inFeatures]),
    bias: ledger.take(`${name}.bias`, [outFeatures]),
    inFeatures,
    outFeatures,
  });
  const attention = (head: string, kvWidth: number): BertAttentionWeights => ({
    q: dense(`${head}.self.query`, hidden, hidden),
    k: dense(`${head}.self.key`, kvWidth, hidden),
    v: dense(`${head}.self.value`, kvWidth, hidden),
    out: dense(`${head}.output.dense`, hidden, hidden),
    norm: norm(`${head}.output.LayerNorm`),
  });
  const feedForward = (head: string, inner: string, outer: string): BertFeedForwardWeights => {
    const [intermediate] = ledger.shape(`${head}.${inner}.dense.weight`, 'feed-forward') as [number];
    return { fc1: dense(`${head}.${inner}.dense`, hidden, intermediate), fc2: dense(`${head}.${outer}.dense`, intermediate, hidden), norm: norm(`${head}.${outer}.LayerNorm`) };
  };
  const layerCount = ledger.count('Qformer.bert.encoder.layer.');
  const layers = Array.from({ length: layerCount }, (_, i): QformerLayerWeights => {
    const head = `Qformer.bert.encoder.layer.${i}`;
    return {
      selfAttention: attention(`${head}.attention`, hidden),
      ...(ledger.has(`${head}.crossattention.self.query.weight`) && { crossAttention: attention(`${head}.crossattention`, encoderWidth) }),
      feedForward: feedForward(head, 'intermediate', 'output'),
      queryFeedForward: feedForward(head, 'intermediate_query', 'output_query'),
    };
  });
  if (layers.every((l) => !l.crossAttention)) {
    throw new AtelierError('E_WEIGHTS_INVALID', 'The Q-Former has no cross-attention to the image', {
      subject,
      expected: `${prefix}Qformer.bert.encoder.layer.N.crossattention.* in some layers`,
      received: `${layerCount} layers without it`,
    });
  }
  const weights: Blip2QformerWeights = {
    config: { hidden, heads, queries, layers: layerCount, vocabSize, maxPositions, encoderWidth },
    vision,
    lnVision: { weight: ledger.take('ln_vision.weight', [encoderWidth]), bias: ledger.take('ln_vision.bias', [encoderWidth]) },
    queryTokens: ledger.take('query_tokens', [1, queries, hidden]),
    wordEmbeddings: ledger.take('Qformer.bert.embeddings.word_embeddings.weight', [vocabSize, hidden]),
    positionEmbeddings: ledger.take('Qformer.bert.embeddings.position_embeddings.weight', [maxPositions, hidden]),
    embeddingNorm: norm('Qformer.bert.embeddings.LayerNorm'),
    layers,
  };
  ledger.finish((name) => UNUSED.test(name), 'Q-Former, its image tower and ln_vision');
  return weights;
}
