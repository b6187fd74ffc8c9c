import { AtelierError } from '../../core/errors.js';
import { Graph, type Tensor } from '../graph/graph.js';
import { buildQformerGraph } from '../nets/blip2/qformer.js';
import type { Blip2QformerWeights } from '../nets/blip2/qformer-checkpoint.js';
import type { WordPieceTokenizer } from '../nets/blip2/wordpiece-tokenizer.js';
import { buildClipImageGraph } from '../nets/clip/image-encoder.js';
import type { ClipVisionWeights } from '../nets/clip/checkpoint.js';
import { layerNorm, linear, quickGelu } from '../nets/transformer-layers.js';
import { compile, type Runner, type TensorValue } from '../runtime.js';
import { DEADIFF_GROUPS, DEADIFF_SUBJECT_TEXT, type DeadiffGroup, type DeadiffProjectionWeights, type DeadiffWeights } from './deadiff.js';
import { MAX_EMBEDDED_WEIGHT_BYTES } from './unet.js';

/**
 * DEADiff's reference image → style and content tokens (DualBlipDiffusion.forward_ctx_embeddings):
 * per group, the Q-Former's query features for the image and the group's word ("style",
 * "content"), then the group's projection. Both groups are one graph over the CLIP-normalised
 * pixels [1, 3, S, S]; when the two Q-Formers hold the same frozen image tower (LAVIS loads both
 * from clip_vit_L.pth), it runs once.
 */

/** DEADiff's ProjLayer: x + dense2(QuickGELU(dense1(LayerNorm(x)))), LayerNorm ε 1e-12. */
export function deadiffProjection(g: Graph, x: Tensor, w: DeadiffProjectionWeights, name: string): Tensor {
  const inner = quickGelu(g, linear(g, layerNorm(g, x, w.norm, `${name}.norm`, 1e-12), w.fc1, `${name}.fc1`));
  return g.add(x, linear(g, inner, w.fc2, `${name}.fc2`));
}

function sameArray(a: Float32Array, b: Float32Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether two image towers have the same weights (then one run serves both Q-Formers). */
export function sameVisionTower(a: ClipVisionWeights, b: ClipVisionWeights): boolean {
  if (JSON.stringify(a.config) !== JSON.stringify(b.config) || a.blocks.length !== b.blocks.length) return false;
  if (![a.patchEmbedding, a.classEmbedding, a.positionEmbedding, a.preNorm.weight, a.preNorm.bias].every((x, i) => sameArray(x, [b.patchEmbedding, b.classEmbedding, b.positionEmbedding, b.preNorm.weight, b.preNorm.bias][i]!))) return false;
  return a.blocks.every((block, i) => {
    const other = b.blocks[i]!;
    const arrays = (k: typeof block) => [k.norm1.weight, k.norm1.bias, k.q.weight, k.q.bias, k.k.weight, k.k.bias, k.v.weight, k.v.bias, k.out.weight, k.out.bias, k.norm2.weight, k.norm2.bias, k.fc1.weight, k.fc1.bias, k.fc2.weight, k.fc2.bias];
    const theirs = arrays(other);
    return arrays(block).every((x, j) => (x === undefined ? theirs[j] === undefined : theirs[j] !== undefined && sameArray(x, theirs[j]!)));
  });
}

export interface DeadiffTokens {
  /** [T, C] each: the projected query features of each group. */
  style: Float32Array;
  content: Float32Array;
}

export class DeadiffTokenEncoder {
  private constructor(
    private readonly runner: Runner,
    readonly imageSize: number,
    readonly tokens: number,
    readonly sharedTower: boolean,
    /** The weights fed at each run when they are graph inputs (at DEADiff's size: 1–2 ViT-L/14 towers and two BERT-base, over ONNX's 2 GB). */
    private readonly fed: Record<string, TensorValue>,
  ) {}

  static async create(weights: DeadiffWeights, tokenizer: WordPieceTokenizer, options: { threads?: number; feedWeights?: boolean } = {}): Promise<DeadiffTokenEncoder> {
    const style = weights.qformers.style;
    const content = weights.qformers.content;
    const size = style.vision.config.imageSize;
    if (content.vision.config.imageSize !== size || style.config.queries !== content.config.queries) {
      throw new AtelierError('E_WEIGHTS_INVALID', "DEADiff's two Q-Formers do not match", {
        expected: 'the same image size and query count in style_blip and content_blip',
        received: `${size}² / ${style.config.queries} queries and ${content.vision.config.imageSize}² / ${content.config.queries} queries`,
      });
    }
    for (const q of [style, content]) {
      if (tokenizer.vocabSize > q.config.vocabSize) {
        throw new AtelierError('E_WEIGHTS_INVALID', "The WordPiece vocabulary is larger than the Q-Former's word embeddings", {
          expected: `at most ${q.config.vocabSize} tokens (bert-base-uncased's 30 522, plus LAVIS's [DEC])`,
          received: `${tokenizer.vocabSize} tokens`,
          hint: "give bert-base-uncased's vocab.txt",
        });
      }
    }
    const shared = sameVisionTower(style.vision, content.vision);
    const g = new Graph();
    const pixels = g.input('pixels', [1, 3, size, size]);
    const tower = (q: Blip2QformerWeights, name: string) => buildClipImageGraph(g, q.vision, pixels, 1, name).hidden;
    const sharedHidden = shared ? tower(style, 'visual_encoder') : undefined;
    for (const group of DEADIFF_GROUPS) {
      const q = weights.qformers[group];
      const hidden = sharedHidden ?? tower(q, `${group}.visual_encoder`);
      const features = buildQformerGraph(g, q, hidden, 1, tokenizer.encode(DEADIFF_SUBJECT_TEXT[group]), group);
      g.output(`${group}_tokens`, deadiffProjection(g, features, weights.projections[group], `${group}.projection`));
    }
    const bytes = g.params.reduce((sum, p) => sum + g.data.get(p.id)!.byteLength, 0);
    const feed = options.feedWeights ?? bytes > MAX_EMBEDDED_WEIGHT_BYTES;
    const fed: Record<string, TensorValue> = {};
    if (feed) for (const p of g.params) fed[p.name] = { data: g.data.get(p.id)! as Float32Array, shape: p.shape as number[] };
    const runner = await compile(g, { threads: options.threads, cache: false, paramsAsInputs: feed });
    return new DeadiffTokenEncoder(runner, size, style.config.queries, shared, fed);
  }

  /** CLIP-normalised pixels [3, S, S] of the reference image → the tokens of each group. */
  async encode(pixels: Float32Array): Promise<DeadiffTokens> {
    const s = this.imageSize;
    if (pixels.length !== 3 * s * s) {
      throw new AtelierError('E_PARAM', "DEADiff's image tower got pixels of the wrong size", { expected: `3×${s}×${s} values (the reference resized to ${s}², CLIP-normalised)`, received: `${pixels.length} values` });
    }
    const out = await this.runner.run({ ...this.fed, pixels: { data: pixels, shape: [1, 3, s, s] } });
    const get = (group: DeadiffGroup) => out[`${group}_tokens`]!.data as Float32Array;
    return { style: get('style'), content: get('content') };
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}
