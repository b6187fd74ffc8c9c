import type { Graph, Tensor } from '../graph/graph.js';

/**
 * The perceptual losses of neural style transfer (Gatys, Ecker & Bethge 2016), as graph pieces.
 * All are means, so their scale does not depend on the image size.
 */

/** Gram matrix of features N×C×H×W → N×C×C, divided by C·H·W (as in the PyTorch tutorial). */
export function gram(g: Graph, features: Tensor): Tensor {
  const channels = features.shape[1] as number;
  const flat = g.reshape(features, [0, channels, -1]);
  const product = g.matmul(flat, g.transpose(flat, [0, 2, 1]));
  return g.div(product, g.elementCount(features, [1, 2, 3]));
}

/** Mean squared difference. */
export function meanSquaredError(g: Graph, a: Tensor, b: Tensor): Tensor {
  const d = g.sub(a, b);
  return g.meanAll(g.mul(d, d));
}

/** Gram (style) loss against a target Gram matrix. */
export function styleLoss(g: Graph, features: Tensor, targetGram: Tensor): Tensor {
  return meanSquaredError(g, gram(g, features), targetGram);
}

/** Total variation: mean squared difference of vertical and of horizontal neighbours. */
export function totalVariation(g: Graph, image: Tensor): Tensor {
  const END = 2 ** 53 - 1;
  const dy = g.sub(g.slice(image, [2], [1], [END]), g.slice(image, [2], [0], [-1]));
  const dx = g.sub(g.slice(image, [3], [1], [END]), g.slice(image, [3], [0], [-1]));
  return g.add(g.meanAll(g.mul(dy, dy)), g.meanAll(g.mul(dx, dx)));
}

/**
 * CLIPstyler's total-variation prior (Kwon & Ye 2022; the image prior of their code): the sum of the
 * Euclidean norms (not squared, not averaged) of the differences to the right, below, and along
 * both diagonals.
 */
export function totalVariationNorms(g: Graph, image: Tensor): Tensor {
  const END = 2 ** 53 - 1;
  const part = (rows: [number, number], cols: [number, number]) => g.slice(image, [2, 3], [rows[0], cols[0]], [rows[1], cols[1]]);
  const norm = (a: Tensor, b: Tensor) => {
    const d = g.sub(a, b);
    return g.sqrt(g.sumAll(g.mul(d, d)));
  };
  const right = norm(part([0, END], [0, -1]), part([0, END], [1, END]));
  const down = norm(part([0, -1], [0, END]), part([1, END], [0, END]));
  const antiDiagonal = norm(part([1, END], [0, -1]), part([0, -1], [1, END]));
  const diagonal = norm(part([0, -1], [0, -1]), part([1, END], [1, END]));
  return g.add(g.add(right, down), g.add(antiDiagonal, diagonal));
}
