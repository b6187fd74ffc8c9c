import { AtelierError } from '../../core/errors.js';

/**
 * A Cholesky factor L (lower triangular, L·Lᵀ = C) of a covariance matrix that always exists and
 * always terminates, unlike the retry loop of the CAP-VSTNet reference code, which adds 2e-5·I
 * until the factorisation succeeds and never stops on some inputs (its issue #22).
 *
 * Covariances of image features are positive semi-definite but are often singular (constant or
 * linearly dependent channels) or, after rounding, very slightly indefinite. The procedure:
 * 1. Plain Cholesky in float64, accepting a pivot only above PIVOT_FLOOR · s, where s is the mean
 *    of the diagonal (the matrix's scale): a smaller pivot would be noise that whitening blows up.
 * 2. Otherwise add δ·I with δ = JITTER · s · 10^k for k = 0 … JITTER_STEPS − 1 (at most 2 · s).
 * 3. Otherwise (only for strongly indefinite input): Jacobi eigendecomposition, eigenvalues
 *    clamped to at least JITTER · s, and the Cholesky factor of the rebuilt matrix, which is
 *    positive definite with condition number ≤ 1 / JITTER by construction.
 * Non-finite input is an E_NUMERIC error. All matrices are n × n, row-major Float64Array.
 */

/** Relative size of the first regulariser, the reference code's 2e-5 made scale-free. */
export const JITTER = 2e-5;
export const JITTER_STEPS = 6;
export const PIVOT_FLOOR = 1e-10;
/** Scale used when the matrix is entirely zero (constant features). */
const ZERO_SCALE = 1e-30;

export interface CholeskyResult {
  L: Float64Array;
  /** The δ added to the diagonal (0 when none was needed). */
  regularisation: number;
  method: 'cholesky' | 'regularised' | 'eigen';
}

/** In-place attempt: returns L or undefined when a pivot is at or below `floor`. */
function tryCholesky(c: Float64Array, n: number, shift: number, floor: number): Float64Array | undefined {
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = c[j * n + j]! + shift;
    for (let k = 0; k < j; k++) d -= L[j * n + k]! * L[j * n + k]!;
    if (!(d > floor)) return undefined;
    const ljj = Math.sqrt(d);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = c[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      L[i * n + j] = s / ljj;
    }
  }
  return L;
}

export function robustCholesky(cov: Float64Array, n: number): CholeskyResult {
  let trace = 0;
  for (let i = 0; i < n * n; i++) {
    if (!Number.isFinite(cov[i]!)) {
      throw new AtelierError('E_NUMERIC', 'A feature covariance has non-finite entries', {
        hint: 'the input image or the network weights produced NaN or infinite features',
      });
    }
  }
  for (let i = 0; i < n; i++) trace += cov[i * n + i]!;
  const scale = trace / n > ZERO_SCALE ? trace / n : ZERO_SCALE;
  const floor = PIVOT_FLOOR * scale;
  const plain = tryCholesky(cov, n, 0, floor);
  if (plain) return { L: plain, regularisation: 0, method: 'cholesky' };
  for (let k = 0; k < JITTER_STEPS; k++) {
    const delta = JITTER * scale * 10 ** k;
    const L = tryCholesky(cov, n, delta, floor);
    if (L) return { L, regularisation: delta, method: 'regularised' };
  }
  const { values, vectors } = symmetricEigen(cov, n);
  const minValue = JITTER * scale;
  const rebuilt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += vectors[i * n + k]! * Math.max(values[k]!, minValue) * vectors[j * n + k]!;
      rebuilt[i * n + j] = s;
      rebuilt[j * n + i] = s;
    }
  }
  const L = tryCholesky(rebuilt, n, 0, 0) ?? tryCholesky(rebuilt, n, minValue, 0);
  if (!L) throw new AtelierError('E_NUMERIC', 'Could not factor a feature covariance even after clamping its eigenvalues');
  return { L, regularisation: minValue, method: 'eigen' };
}

/**
 * Eigenvalues and eigenvectors (columns of `vectors`) of a symmetric matrix by cyclic Jacobi
 * rotations: always converges; stops after MAX_SWEEPS even if not fully converged.
 */
export function symmetricEigen(m: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const MAX_SWEEPS = 60;
  const a = Float64Array.from(m);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += a[i * n + i]! * a[i * n + i]!;
      for (let j = i + 1; j < n; j++) off += a[i * n + j]! * a[i * n + j]!;
    }
    if (off <= 1e-30 * diag || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i]!;
  return { values, vectors: v };
}

/** Inverse of a lower-triangular matrix (itself lower triangular). */
export function invertLower(L: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    inv[j * n + j] = 1 / L[j * n + j]!;
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s -= L[i * n + k]! * inv[k * n + j]!;
      inv[i * n + j] = s / L[i * n + i]!;
    }
  }
  return inv;
}

/** C = A·B for n × n row-major matrices. */
export function matMul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j]!;
    }
  }
  return c;
}
