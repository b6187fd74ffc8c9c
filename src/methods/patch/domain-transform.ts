/**
 * Edge-preserving smoothing by the domain transform's recursive filter (Gastal & Oliveira,
 * SIGGRAPH 2011): alternating horizontal and vertical first-order recursive passes whose feedback
 * weakens across edges of a guide image. O(pixels) whatever σs; the final "denoise" step of
 * patch synthesis (Elad & Milanfar 2017 use this filter).
 */
export function domainTransformFilter(
  planes: Float32Array[],
  guide: Float32Array[],
  width: number,
  height: number,
  sigmaSpatial: number,
  sigmaRange: number,
  iterations = 2,
): Float32Array[] {
  const out = planes.map((p) => p.slice());
  const ratio = sigmaSpatial / sigmaRange;
  // Derivatives of the transformed domain along x and y: 1 + σs/σr · Σc |∂guide|.
  const dx = new Float32Array(width * height).fill(1);
  const dy = new Float32Array(width * height).fill(1);
  for (const g of guide) {
    for (let y = 0; y < height; y++) {
      const row = y * width;
      for (let x = 1; x < width; x++) dx[row + x] += ratio * Math.abs(g[row + x] - g[row + x - 1]);
      if (y > 0) for (let x = 0; x < width; x++) dy[row + x] += ratio * Math.abs(g[row + x] - g[row + x - width]);
    }
  }
  const a = new Float32Array(width * height);
  for (let k = 0; k < iterations; k++) {
    // σ of this iteration so that the iterations' variances sum to σs² (the paper's schedule).
    const sigmaK = (sigmaSpatial * Math.sqrt(3) * Math.pow(2, iterations - k - 1)) / Math.sqrt(Math.pow(4, iterations) - 1);
    const lnBase = -Math.SQRT2 / sigmaK;
    for (let i = 0; i < a.length; i++) a[i] = Math.exp(lnBase * dx[i]);
    for (const p of out) recursiveRows(p, a, width, height);
    for (let i = 0; i < a.length; i++) a[i] = Math.exp(lnBase * dy[i]);
    for (const p of out) recursiveCols(p, a, width, height);
  }
  return out;
}

function recursiveRows(p: Float32Array, a: Float32Array, width: number, height: number): void {
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 1; x < width; x++) p[row + x] += a[row + x] * (p[row + x - 1] - p[row + x]);
    for (let x = width - 2; x >= 0; x--) p[row + x] += a[row + x + 1] * (p[row + x + 1] - p[row + x]);
  }
}

function recursiveCols(p: Float32Array, a: Float32Array, width: number, height: number): void {
  for (let y = 1; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) p[row + x] += a[row + x] * (p[row - width + x] - p[row + x]);
  }
  for (let y = height - 2; y >= 0; y--) {
    const row = y * width;
    for (let x = 0; x < width; x++) p[row + x] += a[row + width + x] * (p[row + width + x] - p[row + x]);
  }
}
