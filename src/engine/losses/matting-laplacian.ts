/**
 * The Matting Laplacian of Levin, Lischinski & Weiss ("A Closed-Form Solution to Natural Image
 * Matting", CVPR 2006 / TPAMI 2008, eq. 12), used by CAP-VSTNet (and Luan et al.'s deep photo
 * style transfer) as a photorealism loss: for an RGB image I with values in [0, 1],
 *   L_ij = Σ_{k : i, j ∈ w_k} ( δ_ij − (1/|w_k|) · (1 + (I_i − μ_k)ᵀ (Σ_k + ε/|w_k| · I₃)⁻¹ (I_j − μ_k)) )
 * over the (2r+1)² windows w_k that lie fully inside the image, with μ_k, Σ_k the window's colour
 * mean and (biased) covariance. L is symmetric positive semi-definite with zero row sums; the loss
 * of an output image V (channels c) is Σ_c V_cᵀ L V_c / (H·W), as in CAP-VSTNet's training code
 * (radius 1, ε = 1e-7), whose gradient is 2 L V_c / (H·W).
 *
 * L is stored as a band: pixel p's row has nonzeros only at offsets (dy, dx) with |dy|, |dx| ≤ 2r,
 * so each row is (4r+1)² coefficients (25 for r = 1), and L·v is a 25-term stencil.
 */
export interface MattingLaplacian {
  width: number;
  height: number;
  radius: number;
  /** Band width: 4r + 1. */
  span: number;
  /** coeffs[p · span² + (dy + 2r) · span + (dx + 2r)] = L[p, p + (dy, dx)]. */
  coeffs: Float64Array;
}

export interface MattingOptions {
  /** Regulariser ε (default 1e-7, as CAP-VSTNet). */
  eps?: number;
  /** Window radius r (default 1: 3×3 windows). */
  radius?: number;
}

/** Build L from a planar RGB image (3 × height × width, values in [0, 1]). */
export function mattingLaplacian(rgb: ArrayLike<number>, width: number, height: number, options: MattingOptions = {}): MattingLaplacian {
  const eps = options.eps ?? 1e-7;
  const r = options.radius ?? 1;
  const diam = 2 * r + 1;
  const size = diam * diam;
  const span = 4 * r + 1;
  const band = span * span;
  const n = width * height;
  const coeffs = new Float64Array(n * band);
  const win = new Int32Array(size);
  const col = new Float64Array(size * 3);
  for (let ky = r; ky < height - r; ky++) {
    for (let kx = r; kx < width - r; kx++) {
      let m0 = 0;
      let m1 = 0;
      let m2 = 0;
      let t = 0;
      for (let dy = -r; dy <= r; dy++) {
        for (let dx = -r; dx <= r; dx++, t++) {
          const p = (ky + dy) * width + kx + dx;
          win[t] = p;
          const a = rgb[p]!;
          const b = rgb[n + p]!;
          const c = rgb[2 * n + p]!;
          col[3 * t] = a;
          col[3 * t + 1] = b;
          col[3 * t + 2] = c;
          m0 += a;
          m1 += b;
          m2 += c;
        }
      }
      m0 /= size;
      m1 /= size;
      m2 /= size;
      // Centre the colours and form Σ + ε/|w| I (biased covariance, as in the paper).
      let s00 = 0, s01 = 0, s02 = 0, s11 = 0, s12 = 0, s22 = 0;
      for (let q = 0; q < size; q++) {
        const a = (col[3 * q] -= m0);
        const b = (col[3 * q + 1] -= m1);
        const c = (col[3 * q + 2] -= m2);
        s00 += a * a;
        s01 += a * b;
        s02 += a * c;
        s11 += b * b;
        s12 += b * c;
        s22 += c * c;
      }
      const reg = eps / size;
      s00 = s00 / size + reg;
      s11 = s11 / size + reg;
      s22 = s22 / size + reg;
      s01 /= size;
      s02 /= size;
      s12 /= size;
      // Inverse of the symmetric 3×3 by cofactors.
      const c00 = s11 * s22 - s12 * s12;
      const c01 = s02 * s12 - s01 * s22;
      const c02 = s01 * s12 - s02 * s11;
      const det = s00 * c00 + s01 * c01 + s02 * c02;
      const i00 = c00 / det, i01 = c01 / det, i02 = c02 / det;
      const i11 = (s00 * s22 - s02 * s02) / det;
      const i12 = (s01 * s02 - s00 * s12) / det;
      const i22 = (s00 * s11 - s01 * s01) / det;
      for (let a = 0; a < size; a++) {
        const x0 = col[3 * a]!, x1 = col[3 * a + 1]!, x2 = col[3 * a + 2]!;
        // u = S⁻¹ (I_a − μ)
        const u0 = i00 * x0 + i01 * x1 + i02 * x2;
        const u1 = i01 * x0 + i11 * x1 + i12 * x2;
        const u2 = i02 * x0 + i12 * x1 + i22 * x2;
        const pa = win[a]!;
        const ay = Math.floor(pa / width);
        const ax = pa - ay * width;
        for (let b = 0; b < size; b++) {
          const pb = win[b]!;
          const by = Math.floor(pb / width);
          const bx = pb - by * width;
          const w = (1 + u0 * col[3 * b]! + u1 * col[3 * b + 1]! + u2 * col[3 * b + 2]!) / size;
          const o = (by - ay + 2 * r) * span + (bx - ax + 2 * r);
          coeffs[pa * band + o] -= w; // off-diagonal and diagonal parts of −W
        }
        coeffs[pa * band + 2 * r * span + 2 * r] += 1; // δ term: one per window containing a
      }
    }
  }
  return { width, height, radius: r, span, coeffs };
}

/** out = L·v for one plane v (length width·height). */
export function laplacianTimes(L: MattingLaplacian, v: ArrayLike<number>, out: Float64Array = new Float64Array(L.width * L.height)): Float64Array {
  const { width, height, span } = L;
  const r2 = 2 * L.radius;
  const band = span * span;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      let s = 0;
      for (let dy = -r2; dy <= r2; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        const base = p * band + (dy + r2) * span + r2;
        for (let dx = -r2; dx <= r2; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= width) continue;
          s += L.coeffs[base + dx]! * v[yy * width + xx]!;
        }
      }
      out[p] = s;
    }
  }
  return out;
}

/**
 * CAP-VSTNet's Matting Laplacian loss of a planar image (`channels` × H × W) and its gradient:
 * loss = Σ_c V_cᵀ L V_c / (H·W), gradient = 2 L V_c / (H·W).
 */
export function mattingLoss(L: MattingLaplacian, image: Float32Array, channels: number): { loss: number; grad: Float32Array } {
  const n = L.width * L.height;
  const grad = new Float32Array(channels * n);
  const lv = new Float64Array(n);
  let loss = 0;
  for (let c = 0; c < channels; c++) {
    const plane = image.subarray(c * n, (c + 1) * n);
    laplacianTimes(L, plane, lv);
    for (let i = 0; i < n; i++) {
      loss += plane[i]! * lv[i]!;
      grad[c * n + i] = (2 * lv[i]!) / n;
    }
  }
  return { loss: loss / n, grad };
}
