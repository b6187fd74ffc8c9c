import { AtelierError } from '../../../core/errors.js';
import { Graph, type Tensor } from '../../graph/graph.js';
import { compile, type Runner } from '../../runtime.js';
import { layerNorm, linear, transformerBlock } from '../transformer-layers.js';
import type { ClipVisionWeights } from './checkpoint.js';
import { CLIP_PIXEL_MEAN, CLIP_PIXEL_STD } from './config.js';

/**
 * CLIP's image tower, a Vision Transformer (Dosovitskiy et al. 2021) as CLIP trains it
 * (Radford et al. 2021, §2.4): non-overlapping p×p patches through one bias-free conv, a learned
 * class token in front, learned position embeddings, a layer norm *before* the transformer (CLIP's
 * addition to ViT), the transformer, a layer norm of the class token, and the projection.
 *
 * Input `pixels` [N, 3, S, S] are already normalised with CLIP's mean and std (`normalizeClipPixels`,
 * or inside a graph `clipPixelNormalization`). Outputs: `hidden` [N, 1 + g², W] (the last block's
 * states, before the post-norm: what IP-Adapter's "plus" variants read), `pooled` [N, W] and, with
 * a projection, `embeds` [N, E]. Everything is differentiable with respect to the pixels, which
 * CLIP-guided losses need.
 */

export interface ClipImageGraph {
  hidden: Tensor;
  /** Absent for a tower without post-norm (LAVIS's, whose users read `hidden`). */
  pooled?: Tensor;
  embeds?: Tensor;
}


/** Record the image tower on `g`, reading `pixels` [batch, 3, S, S]. */
export function buildClipImageGraph(g: Graph, w: ClipVisionWeights, pixels: Tensor, batch: number, name = 'clip_image'): ClipImageGraph {
  const { width, patchSize, imageSize, heads, activation } = w.config;
  const grid = imageSize / patchSize;
  const tokens = grid * grid + 1;
  const patches = g.conv(pixels, g.param(`${name}.patch_embedding`, [width, 3, patchSize, patchSize], w.patchEmbedding), undefined, { stride: patchSize });
  const sequence = g.transpose(g.reshape(patches, [batch, width, grid * grid]), [0, 2, 1]);
  const cls = g.add(g.constant(new Float32Array(batch * width), [batch, 1, width]), g.param(`${name}.class_embedding`, [width], w.classEmbedding));
  let x = g.add(g.concat([cls, sequence], 1), g.param(`${name}.position_embedding`, [tokens, width], w.positionEmbedding));
  x = layerNorm(g, x, w.preNorm, `${name}.pre_norm`);
  w.blocks.forEach((b, i) => {
    x = transformerBlock(g, x, b, heads, `${name}.blocks.${i}`, { ...(activation && { activation }) });
  });
  // a hidden-states-only tower (LAVIS's, or one cut by clipVisionHiddenStates) ends here
  if (!w.postNorm) return { hidden: x };
  const first = g.reshape(g.slice(x, [1], [0], [1]), [batch, width]);
  const pooled = layerNorm(g, first, w.postNorm, `${name}.post_norm`);
  const embeds = w.projection ? linear(g, pooled, w.projection, `${name}.projection`) : undefined;
  return { hidden: x, pooled, ...(embeds && { embeds }) };
}

/** (x − mean) / std per channel, recorded on a graph (for inputs in [0, 1]). */
export function clipPixelNormalization(g: Graph, x: Tensor): Tensor {
  const mean = g.constant(CLIP_PIXEL_MEAN, [1, 3, 1, 1]);
  const std = g.constant(CLIP_PIXEL_STD, [1, 3, 1, 1]);
  return g.div(g.sub(x, mean), std);
}

/** Normalise planar RGB [N, 3, S, S] in [0, 1] with CLIP's mean and std, in place. */
export function normalizeClipPixels(data: Float32Array, size: number): Float32Array {
  const plane = size * size;
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / plane) % 3;
    data[i] = (data[i]! - CLIP_PIXEL_MEAN[c]!) / CLIP_PIXEL_STD[c]!;
  }
  return data;
}

export interface ClipImageFeatures {
  /** [N, 1 + g², W] */
  hidden: Float32Array;
  /** [N, W] */
  pooled: Float32Array;
  /** [N, E], when the checkpoint has a visual projection. */
  embeds?: Float32Array;
}

/** The image tower compiled for a fixed batch size. */
export class ClipImageEncoder {
  private constructor(
    private readonly runner: Runner,
    readonly weights: ClipVisionWeights,
    readonly batch: number,
  ) {}

  static async create(weights: ClipVisionWeights, options: { batch?: number; threads?: number } = {}): Promise<ClipImageEncoder> {
    const batch = options.batch ?? 1;
    const { imageSize } = weights.config;
    const g = new Graph();
    const pixels = g.input('pixels', [batch, 3, imageSize, imageSize]);
    const t = buildClipImageGraph(g, weights, pixels, batch);
    g.output('hidden', t.hidden);
    if (!t.pooled) {
      throw new AtelierError('E_WEIGHTS_INVALID', 'This CLIP image tower has no post-norm, so it gives no pooled feature', {
        expected: "a CLIP image tower with its ln_post / post_layernorm (OpenAI's or transformers' layout)",
        received: `a hidden-states-only tower (${weights.blocks.length} blocks, no post-norm)`,
        hint: "LAVIS's towers are read through the Q-Former that holds them (engine/nets/blip2)",
      });
    }
    g.output('pooled', t.pooled);
    if (t.embeds) g.output('embeds', t.embeds);
    const runner = await compile(g, { threads: options.threads, cache: false });
    return new ClipImageEncoder(runner, weights, batch);
  }

  /** Encode normalised pixels [batch, 3, S, S] (S the checkpoint's image size). */
  async encode(pixels: Float32Array): Promise<ClipImageFeatures> {
    const s = this.weights.config.imageSize;
    if (pixels.length !== this.batch * 3 * s * s) {
      throw new AtelierError('E_PARAM', 'The CLIP image encoder got pixels of the wrong size', {
        expected: `${this.batch}×3×${s}×${s} values (the image resized and cropped to ${s}², normalised)`,
        received: `${pixels.length} values`,
      });
    }
    const out = await this.runner.run({ pixels: { data: pixels, shape: [this.batch, 3, s, s] } });
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
