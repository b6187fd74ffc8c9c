import { symmetricEigen } from '../../engine/features/cholesky.js';

/**
 * Small dense symmetric matrices (row-major Float64Array, n×n) for the colour methods: matrix
 * functions built on the engine's Jacobi eigen-decomposition (exact to machine precision for 3×3).
 */

export { symmetricEigen };

/** V · diag(f(λ)) · Vᵀ for a symmetric matrix. */
export function symmetricFunction(a: Float64Array, n: number, f: (lambda: number) => number): Float64Array {
  const { values, vectors } = symmetricEigen(a, n);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += vectors[i * n + k]! * f(values[k]!) * vectors[j * n + k]!;
      out[i * n + j] = s;
    }
  }
  return out;
}

export function multiply(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k]! * b[k * n + j]!;
      out[i * n + j] = s;
    }
  }
  return out;
}

/** (a + aᵀ) / 2: removes the rounding asymmetry products of symmetric matrices pick up. */
export function symmetrise(a: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = (a[i * n + j]! + a[j * n + i]!) / 2;
  return out;
}
