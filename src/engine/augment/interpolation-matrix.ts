import { AtelierError } from '../../core/errors.js';
import type { Graph, Tensor } from '../graph/graph.js';

/**
 * Resizing as two matrix products, y = R_h · x · R_wᵀ, with the 1-D interpolation matrices of
 * PyTorch's `F.interpolate(..., align_corners=False)` without antialiasing (what CLIP-guided
 * methods such as CLIPstyler call to bring images to CLIP's input size). Any scale, up or down, and
 * a different one per axis, so a whole image of any aspect goes to CLIP's square; being matmuls by
 * constants, it is differentiable with the rules autodiff already has.
 *
 * Source coordinate of output o: (o + ½)·in/out − ½. Bilinear clamps it at 0 and reads i, min(i+1,
 * in−1); bicubic (Keys' kernel, a = −0.75 as PyTorch) reads i−1 … i+2 clamped to the image.
 */

export type InterpolationKind = 'bilinear' | 'bicubic';

const CUBIC_A = -0.75;
/** Keys' kernel for |t| ≤ 1 and for 1 < |t| < 2. */
const cubicNear = (t: number) => ((CUBIC_A + 2) * t - (CUBIC_A + 3)) * t * t + 1;
const cubicFar = (t: number) => ((CUBIC_A * t - 5 * CUBIC_A) * t + 8 * CUBIC_A) * t - 4 * CUBIC_A;

/** The [out, in] row-major matrix that resizes one axis from `inSize` to `outSize` samples. */
export function interpolationMatrix(inSize: number, outSize: number, kind: InterpolationKind): Float64Array {
  if (!Number.isInteger(inSize) || !Number.isInteger(outSize) || inSize < 1 || outSize < 1) {
    throw new AtelierError('E_INTERNAL', 'Interpolation sizes must be positive integers', { received: `${inSize} → ${outSize}` });
  }
  const m = new Float64Array(outSize * inSize);
  const scale = inSize / outSize;
  const clampIndex = (i: number) => Math.min(inSize - 1, Math.max(0, i));
  for (let o = 0; o < outSize; o++) {
    const source = (o + 0.5) * scale - 0.5;
    if (kind === 'bilinear') {
      const c = Math.max(0, source);
      const i0 = Math.floor(c);
      const f = c - i0;
      const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
      m[o * inSize + i0] = m[o * inSize + i0]! + (1 - f);
      m[o * inSize + i1] = m[o * inSize + i1]! + f;
    } else {
      const i = Math.floor(source);
      const t = source - i;
      const taps = [cubicFar(t + 1), cubicNear(t), cubicNear(1 - t), cubicFar(2 - t)];
      taps.forEach((w, k) => {
        const at = o * inSize + clampIndex(i - 1 + k);
        m[at] = m[at]! + w;
      });
    }
  }
  return m;
}

/** Transpose of a row-major [rows, cols] matrix. */
function transposed(m: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return t;
}

/** Resize x [N, C, H, W] (H, W fixed) to [N, C, outHeight, outWidth] inside a graph. */
export function resizeByMatrices(g: Graph, x: Tensor, outHeight: number, outWidth: number, kind: InterpolationKind): Tensor {
  const [, , h, w] = x.shape;
  if (typeof h !== 'number' || typeof w !== 'number') {
    throw new AtelierError('E_INTERNAL', 'resizeByMatrices needs a fixed height and width', { received: `${x}` });
  }
  let y = x;
  if (w !== outWidth) y = g.matmul(y, g.constant(transposed(interpolationMatrix(w, outWidth, kind), outWidth, w), [w, outWidth]));
  if (h !== outHeight) y = g.matmul(g.constant(interpolationMatrix(h, outHeight, kind), [outHeight, h]), y);
  return y;
}
