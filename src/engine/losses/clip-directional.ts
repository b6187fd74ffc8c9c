import { AtelierError } from '../../core/errors.js';
import type { Graph, Tensor } from '../graph/graph.js';

/**
 * CLIP's directional losses (Gal et al. 2021, StyleGAN-NADA; used by CLIPstyler, Kwon & Ye 2022,
 * eq. 3–5): the change an image went through, seen in CLIP's image space, should point the way the
 * text moved in CLIP's text space.
 *
 *   ΔT = unit(E_T(target text) − E_T(source text))
 *   ΔI = unit(unit(E_I(output)) − unit(E_I(content)))
 *   loss = 1 − cos(ΔI, ΔT)
 *
 * The patch loss averages it over augmented crops of the output, first zeroing the crops whose
 * loss is below a threshold τ (the paper's rejection of patches that already match the text, so
 * the optimisation spends itself on the others). Text features come from prompt ensembling: the
 * text put in many templates, the embeddings averaged, then made unit (CLIPstyler's order).
 */

/** Rows of x [N, E] divided by their length. */
export function unitRows(g: Graph, x: Tensor): Tensor {
  return g.div(x, g.sqrt(g.reduceSum(g.mul(x, x), [-1], true)));
}

/**
 * 1 − cos(unit(unit(features) − source), direction) per row: features [N, E], source and
 * direction constants [1, E] (already unit). Returns [N, 1].
 */
export function directionalLossRows(g: Graph, features: Tensor, source: Tensor, direction: Tensor): Tensor {
  const moved = unitRows(g, g.sub(unitRows(g, features), source));
  const dot = g.reduceSum(g.mul(moved, direction), [-1], true);
  const lengths = g.mul(g.sqrt(g.reduceSum(g.mul(moved, moved), [-1], true)), g.sqrt(g.reduceSum(g.mul(direction, direction), [-1], true)));
  return g.sub(g.scalar(1), g.div(dot, lengths));
}

/** Mean over rows of the loss, rows below `threshold` counted as 0 (they pass no gradient). */
export function thresholdedMean(g: Graph, rows: Tensor, threshold: number): Tensor {
  return g.meanAll(g.mul(rows, g.atLeast(rows, threshold)));
}

/** Mean of the rows of a [N, E] array, made unit: an ensemble of prompt embeddings. */
export function ensembleEmbedding(embeds: Float32Array, rows: number): Float64Array {
  const width = embeds.length / rows;
  const mean = new Float64Array(width);
  for (let r = 0; r < rows; r++) for (let i = 0; i < width; i++) mean[i] = mean[i]! + embeds[r * width + i]! / rows;
  return unitVector(mean);
}

/** unit(target − source), both unit already: the text direction ΔT. */
export function textDirection(target: Float64Array, source: Float64Array): Float64Array {
  const d = target.map((v, i) => v - source[i]!);
  return unitVector(d);
}

export function unitVector(v: ArrayLike<number>): Float64Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const norm = Math.sqrt(s);
  if (!(norm > 0)) {
    throw new AtelierError('E_NUMERIC', 'A CLIP direction has no length', {
      hint: 'the prompt and the source text give the same CLIP embedding: choose a prompt that differs from the source text',
    });
  }
  return Float64Array.from(v, (x) => x / norm);
}
