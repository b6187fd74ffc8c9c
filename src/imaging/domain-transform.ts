/**
 * Edge-preserving smoothing by the domain transform (Gastal & Oliveira 2011, recursive-filter
 * form): the image is filtered along rows and columns by a first-order recursive filter whose
 * feedback falls off with the local colour distance, so smoothing stops at edges. Its cost per
 * pixel does not depend on σs: the right smoother for sizes that scale with the image. It plays
 * the role of the iterated bilateral filter of Winnemöller et al. 2006 (and of OpenCV's
 * `edgePreservingFilter(flags=RECURS_FILTER)`).
 *
 * The planes guide themselves (edges are where they change). Toon and watercolour abstract with
 * it; patch synthesis denoises its result with it (Elad & Milanfar 2017 use this filter).
 *
 * Its support is unbounded (the feedback decays, it never stops), so it runs on whole images, not
 * strips: with `inPlace` it overwrites `planes` and needs three more planes of scratch.
 */
export function domainTransformSmooth(
  planes: Float32Array[],
  w: number,
  h: number,
  sigmaS: number,
  sigmaR: number,
  iterations = 3,
  inPlace = false,
): Float32Array[] {
  const n = w * h;
  const ratio = sigmaS / sigmaR;
  // Domain-transform derivatives (1 + σs/σr Σ|∂I|), horizontal (at x, from x−1) and vertical.
  const dx = new Float32Array(n);
  const dy = new Float32Array(n);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      let sx = 0;
      let sy = 0;
      for (const p of planes) {
        if (x > 0) sx += Math.abs(p[i]! - p[i - 1]!);
        if (y > 0) sy += Math.abs(p[i]! - p[i - w]!);
      }
      dx[i] = 1 + ratio * sx;
      dy[i] = 1 + ratio * sy;
    }
  }
  const out = inPlace ? planes : planes.map((p) => p.slice());
  const v = new Float32Array(n);
  for (let it = 0; it < iterations; it++) {
    const sigmaH = (sigmaS * Math.sqrt(3) * 2 ** (iterations - it - 1)) / Math.sqrt(4 ** iterations - 1);
    const la = -Math.SQRT2 / sigmaH;
    for (let i = 0; i < n; i++) v[i] = Math.exp(la * dx[i]!);
    for (const p of out) filterRows(p, v, w, h);
    for (let i = 0; i < n; i++) v[i] = Math.exp(la * dy[i]!);
    for (const p of out) filterColumns(p, v, w, h);
  }
  return out;
}

function filterRows(p: Float32Array, v: Float32Array, w: number, h: number): void {
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 1; x < w; x++) {
      const i = row + x;
      p[i] = p[i]! + v[i]! * (p[i - 1]! - p[i]!);
    }
    for (let x = w - 2; x >= 0; x--) {
      const i = row + x;
      p[i] = p[i]! + v[i + 1]! * (p[i + 1]! - p[i]!);
    }
  }
}

function filterColumns(p: Float32Array, v: Float32Array, w: number, h: number): void {
  for (let y = 1; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      const i = row + x;
      p[i] = p[i]! + v[i]! * (p[i - w]! - p[i]!);
    }
  }
  for (let y = h - 2; y >= 0; y--) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      const i = row + x;
      p[i] = p[i]! + v[i + w]! * (p[i + w]! - p[i]!);
    }
  }
}
