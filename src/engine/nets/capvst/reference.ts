import { blockConvs, type CouplingBlock } from './architecture.js';
import type { CapVstWeights } from './state-dict.js';

/**
 * A direct, loop-by-loop CPU implementation of the reversible network (forward and inverse),
 * written for clarity, not speed: it is the oracle the engine graphs are tested against and the
 * definition of the data layout (channel orders of pad, split, squeeze and spread). Use it on
 * small images only (≈ 0.3 MMAC per pixel per direction).
 */

/** A single feature map, planar CHW float32. */
export interface Chw {
  c: number;
  h: number;
  w: number;
  data: Float32Array;
}

export function chw(c: number, h: number, w: number, data?: Float32Array): Chw {
  return { c, h, w, data: data ?? new Float32Array(c * h * w) };
}

/** 3×3 (or k×k) convolution with reflection padding (k−1)/2 and the given stride, plus bias. */
export function convReflect(x: Chw, weight: Float32Array, bias: Float32Array, out: number, k: number, stride: number): Chw {
  const p = (k - 1) / 2;
  const ph = x.h + 2 * p;
  const pw = x.w + 2 * p;
  const padded = new Float32Array(x.c * ph * pw);
  const reflect = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * n - 2 - i : i);
  for (let c = 0; c < x.c; c++) {
    for (let y = 0; y < ph; y++) {
      const sy = reflect(y - p, x.h);
      for (let xx = 0; xx < pw; xx++) padded[(c * ph + y) * pw + xx] = x.data[(c * x.h + sy) * x.w + reflect(xx - p, x.w)]!;
    }
  }
  const oh = Math.floor((ph - k) / stride) + 1;
  const ow = Math.floor((pw - k) / stride) + 1;
  const y = chw(out, oh, ow);
  for (let o = 0; o < out; o++) {
    const dst = y.data.subarray(o * oh * ow, (o + 1) * oh * ow);
    dst.fill(bias[o]!);
    for (let c = 0; c < x.c; c++) {
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++) {
          const wv = weight[((o * x.c + c) * k + ky) * k + kx]!;
          for (let yy = 0; yy < oh; yy++) {
            const row = (c * ph + yy * stride + ky) * pw + kx;
            const orow = yy * ow;
            for (let xx = 0; xx < ow; xx++) dst[orow + xx] += wv * padded[row + xx * stride]!;
          }
        }
      }
    }
  }
  return y;
}

function relu(x: Chw): Chw {
  for (let i = 0; i < x.data.length; i++) if (x.data[i]! < 0) x.data[i] = 0;
  return x;
}

/** Space to channels by 2: output channel (dy·2 + dx)·C + c (ONNX SpaceToDepth). */
export function squeeze(x: Chw): Chw {
  const h = x.h / 2;
  const w = x.w / 2;
  const y = chw(x.c * 4, h, w);
  for (let dy = 0; dy < 2; dy++) {
    for (let dx = 0; dx < 2; dx++) {
      for (let c = 0; c < x.c; c++) {
        const oc = (dy * 2 + dx) * x.c + c;
        for (let yy = 0; yy < h; yy++) {
          for (let xx = 0; xx < w; xx++) y.data[(oc * h + yy) * w + xx] = x.data[(c * x.h + 2 * yy + dy) * x.w + 2 * xx + dx]!;
        }
      }
    }
  }
  return y;
}

/** The exact inverse of `squeeze` (ONNX DepthToSpace, DCR mode). */
export function unsqueeze(x: Chw): Chw {
  const c4 = x.c / 4;
  const y = chw(c4, x.h * 2, x.w * 2);
  for (let dy = 0; dy < 2; dy++) {
    for (let dx = 0; dx < 2; dx++) {
      for (let c = 0; c < c4; c++) {
        const ic = (dy * 2 + dx) * c4 + c;
        for (let yy = 0; yy < x.h; yy++) {
          for (let xx = 0; xx < x.w; xx++) y.data[(c * y.h + 2 * yy + dy) * y.w + 2 * xx + dx] = x.data[(ic * x.h + yy) * x.w + xx]!;
        }
      }
    }
  }
  return y;
}

function addInto(a: Chw, b: Chw, sign: 1 | -1): Chw {
  const y = chw(a.c, a.h, a.w, a.data.slice());
  for (let i = 0; i < y.data.length; i++) y.data[i] += sign * b.data[i]!;
  return y;
}

function concat(a: Chw, b: Chw): Chw {
  const y = chw(a.c + b.c, a.h, a.w);
  y.data.set(a.data, 0);
  y.data.set(b.data, a.data.length);
  return y;
}

function split(x: Chw): [Chw, Chw] {
  const half = x.c / 2;
  const n = half * x.h * x.w;
  return [chw(half, x.h, x.w, x.data.slice(0, n)), chw(half, x.h, x.w, x.data.slice(n))];
}

/** Append `pad` zero channels. */
function padChannels(x: Chw, pad: number): Chw {
  if (pad === 0) return x;
  const y = chw(x.c + pad, x.h, x.w);
  y.data.set(x.data);
  return y;
}

function dropChannels(x: Chw, pad: number): Chw {
  if (pad === 0) return x;
  return chw(x.c - pad, x.h, x.w, x.data.slice(0, (x.c - pad) * x.h * x.w));
}

function residual(weights: CapVstWeights, block: CouplingBlock, x: Chw): Chw {
  const k = weights.layout.config.kernel;
  let y = x;
  blockConvs(block).forEach((conv, i) => {
    y = convReflect(y, weights.tensors.get(`${conv.key}.weight`)!, weights.tensors.get(`${conv.key}.bias`)!, conv.out, k, conv.stride);
    if (i < 2) relu(y);
  });
  return y;
}

function blockForward(weights: CapVstWeights, block: CouplingBlock, [x1, x2]: [Chw, Chw]): [Chw, Chw] {
  const f = residual(weights, block, x2);
  if (block.stride === 2) {
    x1 = squeeze(x1);
    x2 = squeeze(x2);
  }
  return [x2, addInto(x1, f, 1)];
}

function blockInverse(weights: CapVstWeights, block: CouplingBlock, [a, y1]: [Chw, Chw]): [Chw, Chw] {
  const x2 = block.stride === 2 ? unsqueeze(a) : a;
  let x1 = addInto(y1, residual(weights, block, x2), -1);
  if (block.stride === 2) x1 = unsqueeze(x1);
  return [x1, x2];
}

/** Image (3 × H × W, H and W multiples of 4) → features z. */
export function revNetForwardReference(weights: CapVstWeights, image: Chw): Chw {
  const { layout } = weights;
  let pair = split(padChannels(image, layout.inputPad));
  for (const block of layout.stack) pair = blockForward(weights, block, pair);
  let [a, b] = [padChannels(pair[0], layout.refinePad), padChannels(pair[1], layout.refinePad)];
  for (const block of layout.refine) [a, b] = blockForward(weights, block, [a, b]);
  let z = concat(a, b);
  for (let s = 0; s < layout.config.spreadSteps; s++) z = unsqueeze(z);
  return z;
}

/** Features z → image: the exact inverse of `revNetForwardReference`. */
export function revNetInverseReference(weights: CapVstWeights, z: Chw): Chw {
  const { layout } = weights;
  let x = z;
  for (let s = 0; s < layout.config.spreadSteps; s++) x = squeeze(x);
  let pair = split(x);
  for (let i = layout.refine.length - 1; i >= 0; i--) pair = blockInverse(weights, layout.refine[i]!, pair);
  pair = [dropChannels(pair[0], layout.refinePad), dropChannels(pair[1], layout.refinePad)];
  for (let i = layout.stack.length - 1; i >= 0; i--) pair = blockInverse(weights, layout.stack[i]!, pair);
  return dropChannels(concat(pair[0], pair[1]), layout.inputPad);
}
