import { AtelierError } from '../../../core/errors.js';
import type { Graph, Tensor } from '../../graph/graph.js';
import { attention, gelu, layerNorm, linear } from '../transformer-layers.js';
import { BERT_LAYER_NORM_EPS, type BertAttentionWeights, type BertFeedForwardWeights, type Blip2QformerWeights } from './qformer-checkpoint.js';

/**
 * BLIP-2's Q-Former run as LAVIS's `extract_features(mode="multimodal")` does (Li et al. 2023,
 * §3.1; salesforce/LAVIS blip2_qformer.py), on an engine graph:
 *
 * 1. the image through the frozen tower's blocks (every token's state; `buildClipImageGraph`) and `ln_vision`;
 * 2. the input sequence: the Q learnt query tokens, then the text's word + position embeddings
 *    (positions counted from the first word; the queries get none), one LayerNorm over all;
 * 3. per BERT layer (post-norm, as BERT: LayerNorm(x + sublayer(x))): self-attention over queries
 *    and text together (one unpadded prompt: no mask), then for the queries only cross-attention to
 *    the image states and the query feed-forward, for the text the text feed-forward;
 * 4. the queries' last states [N, Q, H]: the "multimodal embeds" DEADiff projects into its UNet.
 *
 * The last layer's text feed-forward cannot reach the queries' output, so it is not recorded.
 */

/** LayerNorm(x + out(attention(x, context))), BERT's attention sublayer. */
function bertAttention(g: Graph, x: Tensor, context: Tensor, w: BertAttentionWeights, heads: number, name: string): Tensor {
  return layerNorm(g, g.add(attention(g, x, context, w, heads, name), x), w.norm, `${name}.norm`, BERT_LAYER_NORM_EPS);
}

/** LayerNorm(x + fc2(GELU(fc1(x)))), BERT's feed-forward sublayer (exact GELU: bert-base-uncased's hidden_act "gelu"). */
function bertFeedForward(g: Graph, x: Tensor, w: BertFeedForwardWeights, name: string): Tensor {
  const inner = gelu(g, linear(g, x, w.fc1, `${name}.fc1`));
  return layerNorm(g, g.add(linear(g, inner, w.fc2, `${name}.fc2`), x), w.norm, `${name}.norm`, BERT_LAYER_NORM_EPS);
}

/** The text's embeddings before the LayerNorm: word + position rows for `ids` [L], as [L, H]. */
export function qformerTextEmbeddings(w: Blip2QformerWeights, ids: readonly number[]): Float32Array {
  const { hidden, vocabSize, maxPositions } = w.config;
  if (ids.length > maxPositions) {
    throw new AtelierError('E_PARAM', "The Q-Former's text is longer than its position table", { expected: `at most ${maxPositions} tokens`, received: `${ids.length} tokens` });
  }
  const out = new Float32Array(ids.length * hidden);
  ids.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new AtelierError('E_PARAM', 'A token id is outside the Q-Former vocabulary', { expected: `ids 0 to ${vocabSize - 1}`, received: String(id), hint: "tokenize with the Q-Former's own vocabulary (bert-base-uncased's vocab.txt)" });
    }
    for (let c = 0; c < hidden; c++) out[i * hidden + c] = w.wordEmbeddings[id * hidden + c]! + w.positionEmbeddings[i * hidden + c]!;
  });
  return out;
}

/**
 * Record the Q-Former on `g` for the image tower's hidden states [N, 1 + g², W] (of
 * `buildClipImageGraph` on `w.vision`: a caller with two Q-Formers over one frozen tower runs it
 * once) and a fixed text (its token ids, [CLS] … [SEP]); returns the query features [N, Q, H].
 */
export function buildQformerGraph(g: Graph, w: Blip2QformerWeights, towerHidden: Tensor, batch: number, ids: readonly number[], name: string): Tensor {
  const { hidden, heads, queries } = w.config;
  if (ids.length === 0) throw new AtelierError('E_PARAM', 'The Q-Former needs a text', { expected: '[CLS] … [SEP] token ids', received: 'none' });
  const image = layerNorm(g, towerHidden, w.lnVision, `${name}.ln_vision`);
  const zeros = g.constant(new Float32Array(batch * queries * hidden), [batch, queries, hidden]);
  const query = g.add(zeros, g.param(`${name}.query_tokens`, [1, queries, hidden], w.queryTokens));
  const text = g.add(g.constant(new Float32Array(batch * ids.length * hidden), [batch, ids.length, hidden]), g.constant(qformerTextEmbeddings(w, ids), [1, ids.length, hidden]));
  let x = layerNorm(g, g.concat([query, text], 1), w.embeddingNorm, `${name}.embeddings.norm`, BERT_LAYER_NORM_EPS);
  w.layers.forEach((layer, i) => {
    const head = `${name}.layer.${i}`;
    const last = i === w.layers.length - 1;
    const a = bertAttention(g, x, x, layer.selfAttention, heads, `${head}.attention`);
    let q = g.slice(a, [1], [0], [queries]);
    if (layer.crossAttention) q = bertAttention(g, q, image, layer.crossAttention, heads, `${head}.crossattention`);
    q = bertFeedForward(g, q, layer.queryFeedForward, `${head}.query_ffn`);
    if (last) {
      x = q;
      return;
    }
    const t = bertFeedForward(g, g.slice(a, [1], [queries], [queries + ids.length]), layer.feedForward, `${head}.ffn`);
    x = g.concat([q, t], 1);
  });
  return x;
}
