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
