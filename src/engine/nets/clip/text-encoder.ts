import { AtelierError } from '../../../core/errors.js';
import { Graph, type Tensor } from '../../graph/graph.js';
import { attr } from '../../graph/onnx-model.js';
import { compile, type Runner } from '../../runtime.js';
import { causalMask, layerNorm, linear, transformerBlock } from '../transformer-layers.js';
import type { ClipTextWeights } from './checkpoint.js';

/**
 * CLIP's text tower (Radford et al. 2021, §2.4): token embedding plus a learned position
 * embedding, a causal transformer, a final layer norm; the sentence feature is the normed hidden
 * state at the end-of-text token (the highest id of each row), projected into the joint space.
 *
 * Outputs: `hidden` [N, L, W] (the final-normed states of every token: what Stable Diffusion's
 * cross-attention reads), `pooled` [N, W] and, when the checkpoint has a projection, `embeds`
 * [N, E]. The token lookup is an ONNX Gather (no gradient: prompts are not optimised); the
 * end-of-text pick is a product with a one-hot row so it stays differentiable.
 */

export interface ClipTextGraph {
  tokens: Tensor;
  endOfText: Tensor;
  hidden: Tensor;
  pooled: Tensor;
  embeds?: Tensor;
}

/** Record the text tower on `g` for `batch` rows of `contextLength` tokens. */
export function buildClipTextGraph(g: Graph, w: ClipTextWeights, batch: number, name = 'clip_text'): ClipTextGraph {
  const { width, contextLength: length, vocabSize, heads } = w.config;
  const tokens = g.input(`${name}_tokens`, [batch, length], 'int64');
  const endOfText = g.input(`${name}_eot`, [batch, 1, length]);
  const table = g.param(`${name}.token_embedding`, [vocabSize, width], w.tokenEmbedding);
  const [embedded] = g.onnx('Gather', [table, tokens], [{ shape: [batch, length, width] }], { axis: attr.i(0) });
  let x = g.add(embedded!, g.param(`${name}.position_embedding`, [length, width], w.positionEmbedding));
  const mask = causalMask(g, length);
  w.blocks.forEach((b, i) => {
    x = transformerBlock(g, x, b, heads, `${name}.blocks.${i}`, { mask });
  });
  const hidden = layerNorm(g, x, w.finalNorm, `${name}.final_norm`);
  const pooled = g.reshape(g.matmul(endOfText, hidden), [batch, width]);
  const embeds = w.projection ? linear(g, pooled, w.projection, `${name}.projection`) : undefined;
  return { tokens, endOfText, hidden, pooled, ...(embeds && { embeds }) };
}

export interface ClipTextFeatures {
  /** [N, L, W] */
  hidden: Float32Array;
  /** [N, W] */
  pooled: Float32Array;
  /** [N, E], when the checkpoint has a text projection. */
  embeds?: Float32Array;
}

/** The text tower compiled for a fixed batch size. */
export class ClipTextEncoder {
  private constructor(
    private readonly runner: Runner,
    readonly weights: ClipTextWeights,
    readonly batch: number,
  ) {}

  static async create(weights: ClipTextWeights, options: { batch?: number; threads?: number } = {}): Promise<ClipTextEncoder> {
    const batch = options.batch ?? 1;
    const g = new Graph();
    const t = buildClipTextGraph(g, weights, batch);
    g.output('hidden', t.hidden);
    g.output('pooled', t.pooled);
    if (t.embeds) g.output('embeds', t.embeds);
    const runner = await compile(g, { threads: options.threads, cache: false });
    return new ClipTextEncoder(runner, weights, batch);
  }

  /** Encode `batch` rows of token ids, each exactly the context length (see ClipTokenizer). */
  async encode(rows: readonly (readonly number[])[]): Promise<ClipTextFeatures> {
    const { contextLength: length, vocabSize } = this.weights.config;
    if (rows.length !== this.batch || rows.some((r) => r.length !== length)) {
      throw new AtelierError('E_PARAM', 'The CLIP text encoder got token rows of the wrong size', {
        expected: `${this.batch} row(s) of ${length} token ids`,
        received: `${rows.length} row(s) of ${[...new Set(rows.map((r) => r.length))].join('/')} ids`,
        hint: 'tokenize with the ClipTokenizer of the same checkpoint, which pads and truncates to the context length',
      });
    }
    const ids = new BigInt64Array(this.batch * length);
    const eot = new Float32Array(this.batch * length);
    rows.forEach((row, n) => {
      let best = 0;
      row.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
          throw new AtelierError('E_PARAM', 'A token id is outside the CLIP vocabulary', { expected: `0 ≤ id < ${vocabSize}`, received: `${id}` });
        }
        ids[n * length + i] = BigInt(id);
        if (id > row[best]!) best = i;
      });
      eot[n * length + best] = 1;
    });
    const out = await this.runner.run({
      clip_text_tokens: { data: ids, shape: [this.batch, length] },
      clip_text_eot: { data: eot, shape: [this.batch, 1, length] },
    });
    return {
      hidden: out.hidden!.data as Float32Array,
      pooled: out.pooled!.data as Float32Array,
      ...(out.embeds && { embeds: out.embeds.data as Float32Array }),
    };
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}
