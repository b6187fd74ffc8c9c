import type { Graph, Tensor } from '../graph/graph.js';

/**
 * The layers of a pre-norm transformer (Vaswani et al. 2017, as used by CLIP's towers and by the
 * cross-attention blocks of latent diffusion) recorded on an engine graph from plain ops, so that
 * autodiff differentiates through them like any other network (CLIP losses need the gradient with
 * respect to the image).
 *
 * Weights arrive in PyTorch's `nn.Linear` order, [out, in]; `linear` transposes them once when the
 * param is made so the graph multiplies by [in, out] without a Transpose node per run.
 */

/** A dense layer's weights in PyTorch order. */
export interface LinearWeights {
  /** [out, in], row-major. */
  weight: Float32Array;
  bias?: Float32Array;
  inFeatures: number;
  outFeatures: number;
}

export interface NormWeights {
  weight: Float32Array;
  bias: Float32Array;
}

/** One transformer block: pre-norm self-attention then a pre-norm two-layer MLP, each residual. */
export interface TransformerBlockWeights {
  norm1: NormWeights;
  q: LinearWeights;
  k: LinearWeights;
  v: LinearWeights;
  out: LinearWeights;
  norm2: NormWeights;
  fc1: LinearWeights;
  fc2: LinearWeights;
}

/** CLIP's QuickGELU (OpenAI's towers) or the exact GELU (OpenCLIP's ViT-H/14, IP-Adapter's image encoder). */
export type Activation = 'quick_gelu' | 'gelu';

/** [out, in] → [in, out]. */
export function transposeMatrix(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** x [..., in] · Wᵀ + b → [..., out]. */
export function linear(g: Graph, x: Tensor, w: LinearWeights, name: string): Tensor {
  const weight = g.param(`${name}.weight`, [w.inFeatures, w.outFeatures], transposeMatrix(w.weight, w.outFeatures, w.inFeatures));
  const y = g.matmul(x, weight);
  return w.bias ? g.add(y, g.param(`${name}.bias`, [w.outFeatures], w.bias)) : y;
}

/** Layer normalisation over the last axis (biased variance, as PyTorch's `nn.LayerNorm`). */
export function layerNorm(g: Graph, x: Tensor, w: NormWeights, name: string, eps = 1e-5): Tensor {
  const width = w.weight.length;
  const mean = g.reduceMean(x, [-1], true);
  const centred = g.sub(x, mean);
  const variance = g.reduceMean(g.mul(centred, centred), [-1], true);
  const normed = g.div(centred, g.sqrt(g.add(variance, g.scalar(eps))));
  return g.add(g.mul(normed, g.param(`${name}.weight`, [width], w.weight)), g.param(`${name}.bias`, [width], w.bias));
}

/** CLIP's activation: x · σ(1.702 x), the sigmoid approximation of GELU its weights were trained with. */
export function quickGelu(g: Graph, x: Tensor): Tensor {
  return g.mul(x, g.sigmoid(g.scale(x, 1.702)));
}

/** GELU(x) = x · Φ(x), exact (erf; differentiable, so LoRA training reaches through latent diffusion's feed-forwards). */
export function gelu(g: Graph, x: Tensor): Tensor {
  return g.mul(g.scale(x, 0.5), g.add(g.erf(g.scale(x, Math.SQRT1_2)), g.scalar(1)));
}

/**
 * Multi-head attention of queries from `x` [N, Lq, W] over keys and values from `context`
 * [N, Lk, Wc] (self-attention when context is x). `mask` [Lq, Lk] is added to the scores before
 * the softmax (−∞ hides a key). Queries are scaled by 1/√d before the product, which is the same
 * sum as scaling the scores and keeps the products smaller.
 */
export function attention(
  g: Graph,
  x: Tensor,
  context: Tensor,
  w: Pick<TransformerBlockWeights, 'q' | 'k' | 'v' | 'out'>,
  heads: number,
  name: string,
  mask?: Tensor,
): Tensor {
  const width = w.q.outFeatures;
  const headWidth = width / heads;
  const split = (t: Tensor) => g.transpose(g.reshape(t, [0, 0, heads, headWidth]), [0, 2, 1, 3]);
  const q = split(g.scale(linear(g, x, w.q, `${name}.q`), 1 / Math.sqrt(headWidth)));
  const kT = g.transpose(g.reshape(linear(g, context, w.k, `${name}.k`), [0, 0, heads, headWidth]), [0, 2, 3, 1]);
  const v = split(linear(g, context, w.v, `${name}.v`));
  let scores = g.matmul(q, kT);
  if (mask) scores = g.add(scores, mask);
  const mixed = g.matmul(g.softmax(scores, -1), v);
  const merged = g.reshape(g.transpose(mixed, [0, 2, 1, 3]), [0, 0, width]);
  return linear(g, merged, w.out, `${name}.out`);
}

/** A causal mask [L, L]: position i sees positions ≤ i (CLIP's text tower). */
export function causalMask(g: Graph, length: number): Tensor {
  const m = new Float32Array(length * length);
  for (let i = 0; i < length; i++) for (let j = i + 1; j < length; j++) m[i * length + j] = -Infinity;
  return g.constant(m, [length, length]);
}

/** x + attn(norm1(x)); then + fc2(act(fc1(norm2(x)))). */
export function transformerBlock(
  g: Graph,
  x: Tensor,
  w: TransformerBlockWeights,
  heads: number,
  name: string,
  options: { mask?: Tensor; activation?: Activation; eps?: number } = {},
): Tensor {
  const eps = options.eps ?? 1e-5;
  const normed = layerNorm(g, x, w.norm1, `${name}.norm1`, eps);
  const h = g.add(x, attention(g, normed, normed, w, heads, `${name}.attn`, options.mask));
  const act = options.activation === 'gelu' ? gelu : quickGelu;
  const hidden = act(g, linear(g, layerNorm(g, h, w.norm2, `${name}.norm2`, eps), w.fc1, `${name}.fc1`));
  return g.add(h, linear(g, hidden, w.fc2, `${name}.fc2`));
}
