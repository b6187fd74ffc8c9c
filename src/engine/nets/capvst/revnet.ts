import type { Dim } from '../../graph/dims.js';
import type { Graph, Tensor } from '../../graph/graph.js';
import { attr } from '../../graph/onnx-model.js';
import { blockConvs, type CouplingBlock } from './architecture.js';
import type { CapVstWeights } from './state-dict.js';

/**
 * CAP-VSTNet's reversible network on the engine's graph builder: `forward` (image → features)
 * and its exact `inverse` (features → image) share one set of params, so a training graph can
 * chain forward → cWCT → inverse and differentiate through both. Layout facts and channel orders
 * are those of architecture.ts; reference.ts is the loop-by-loop oracle the tests compare with.
 */
export class RevNetGraph {
  private readonly params = new Map<string, Tensor>();

  constructor(
    readonly g: Graph,
    readonly weights: CapVstWeights,
  ) {
    for (const [name, data] of weights.tensors) {
      const shape = name.endsWith('.bias') ? [data.length] : weightShape(weights, name);
      this.params.set(name, g.param(name, shape, data));
    }
  }

  /** Params in state-dict order (for training: gradients and optimiser state follow it). */
  get paramTensors(): Tensor[] {
    return [...this.params.values()];
  }

  /** Image [B, 3, H, W] (H, W multiples of 4) → features z. */
  forward(image: Tensor): Tensor {
    const { layout } = this.weights;
    const g = this.g;
    const half = layout.config.nChannels[0]!;
    const zerosLike = (x: Tensor, channels: number) => g.mul(g.slice(x, [1], [0], [1]), g.constant(new Float32Array(channels), [1, channels, 1, 1]));
    let pair: [Tensor, Tensor] = [g.concat([image, zerosLike(image, half - layout.config.inChannels)], 1), zerosLike(image, half)];
    for (const block of layout.stack) pair = this.blockForward(block, pair);
    if (layout.refinePad > 0) pair = [g.concat([pair[0], zerosLike(pair[0], layout.refinePad)], 1), g.concat([pair[1], zerosLike(pair[1], layout.refinePad)], 1)];
    for (const block of layout.refine) pair = this.blockForward(block, pair);
    let z = g.concat(pair, 1);
    for (let s = 0; s < layout.config.spreadSteps; s++) z = depthToSpace(g, z);
    return z;
  }

  /** Features z → image [B, 3, H, W]: the exact inverse of `forward`. */
  inverse(z: Tensor): Tensor {
    const { layout } = this.weights;
    const g = this.g;
    let x = z;
    for (let s = 0; s < layout.config.spreadSteps; s++) x = spaceToDepth(g, x);
    const c = x.shape[1] as number;
    let pair = g.split(x, 1, [c / 2, c / 2]) as [Tensor, Tensor];
    for (let i = layout.refine.length - 1; i >= 0; i--) pair = this.blockInverse(layout.refine[i]!, pair);
    if (layout.refinePad > 0) {
      const keep = (pair[0].shape[1] as number) - layout.refinePad;
      pair = [g.slice(pair[0], [1], [0], [keep]), g.slice(pair[1], [1], [0], [keep])];
    }
    for (let i = layout.stack.length - 1; i >= 0; i--) pair = this.blockInverse(layout.stack[i]!, pair);
    // The image is the first channels of the first half; the rest is the injective padding.
    return g.slice(pair[0], [1], [0], [layout.config.inChannels]);
  }

  private residual(block: CouplingBlock, x: Tensor): Tensor {
    const g = this.g;
    let y = x;
    blockConvs(block).forEach((conv, i) => {
      y = g.conv(y, this.params.get(`${conv.key}.weight`)!, this.params.get(`${conv.key}.bias`)!, { pad: 1, padMode: 'reflect', stride: conv.stride });
      if (i < 2) y = g.relu(y);
    });
    return y;
  }

  private blockForward(block: CouplingBlock, [x1, x2]: [Tensor, Tensor]): [Tensor, Tensor] {
    const f = this.residual(block, x2);
    if (block.stride === 2) {
      x1 = spaceToDepth(this.g, x1);
      x2 = spaceToDepth(this.g, x2);
    }
    return [x2, this.g.add(x1, f)];
  }

  private blockInverse(block: CouplingBlock, [a, y1]: [Tensor, Tensor]): [Tensor, Tensor] {
    const x2 = block.stride === 2 ? depthToSpace(this.g, a) : a;
    let x1 = this.g.sub(y1, this.residual(block, x2));
    if (block.stride === 2) x1 = depthToSpace(this.g, x1);
    return [x1, x2];
  }
}

function weightShape(weights: CapVstWeights, name: string): number[] {
  const k = weights.layout.config.kernel;
  const key = name.slice(0, -'.weight'.length);
  for (const block of [...weights.layout.stack, ...weights.layout.refine]) {
    for (const conv of blockConvs(block)) if (conv.key === key) return [conv.out, conv.in, k, k];
  }
  throw new Error(`unknown CAP-VSTNet weight ${name}`);
}

const halfDim = (d: Dim): Dim => (typeof d === 'number' ? d / 2 : `${d}/2`);
const doubleDim = (d: Dim): Dim => (typeof d === 'number' ? d * 2 : d.endsWith('/2') ? d.slice(0, -2) : `${d}*2`);
const known = (x: Tensor) => x.shape.every((d) => typeof d === 'number');

/**
 * Space to channels by 2 (channel (dy·2 + dx)·C + c). With sizes known when the graph is built it
 * is reshape/transpose/reshape, which autodiff differentiates; with symbolic sizes it is ONNX's
 * SpaceToDepth, the same permutation, for inference graphs that serve every image size.
 */
export function spaceToDepth(g: Graph, x: Tensor): Tensor {
  const [b, c, h, w] = x.shape as [number, number, Dim, Dim];
  if (known(x)) {
    const t = g.reshape(x, [b, c, (h as number) / 2, 2, (w as number) / 2, 2]);
    return g.reshape(g.transpose(t, [0, 3, 5, 1, 2, 4]), [b, 4 * c, (h as number) / 2, (w as number) / 2]);
  }
  return g.onnx('SpaceToDepth', [x], [{ shape: [b, 4 * c, halfDim(h), halfDim(w)] }], { blocksize: attr.i(2) })[0]!;
}

/** The inverse of `spaceToDepth` (ONNX DepthToSpace, DCR mode). */
export function depthToSpace(g: Graph, x: Tensor): Tensor {
  const [b, c, h, w] = x.shape as [number, number, Dim, Dim];
  if (known(x)) {
    const t = g.reshape(x, [b, 2, 2, c / 4, h as number, w as number]);
    return g.reshape(g.transpose(t, [0, 3, 4, 1, 5, 2]), [b, c / 4, 2 * (h as number), 2 * (w as number)]);
  }
  return g.onnx('DepthToSpace', [x], [{ shape: [b, c / 4, doubleDim(h), doubleDim(w)] }], { blocksize: attr.i(2), mode: attr.s('DCR') })[0]!;
}
