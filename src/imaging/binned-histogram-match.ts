/**
 * Histogram specification of one plane onto another's distribution through their cumulative
 * histograms (fine bins, linear inside a bin): O(pixels), so it can run after every synthesis
 * iteration. The colour transfer step of patch synthesis (Elad & Milanfar 2017 match channels).
 */

const BINS = 2048;

/** The inverse CDF of a plane's values (over `indices` or all), sampled at BINS + 1 quantiles. */
export interface Quantiles {
  values: Float32Array;
  /** False when the plane was a single value (matching then only shifts). */
  spread: boolean;
}

function range(values: Float32Array, indices?: Int32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  const n = indices ? indices.length : values.length;
  for (let k = 0; k < n; k++) {
    const v = values[indices ? indices[k] : k];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Cumulative histogram of a plane: counts[i] = samples below bin edge i+1. */
function cumulative(values: Float32Array, lo: number, hi: number, indices?: Int32Array): Float64Array {
  const counts = new Float64Array(BINS);
  const n = indices ? indices.length : values.length;
  const scale = hi > lo ? BINS / (hi - lo) : 0;
  for (let k = 0; k < n; k++) {
    const v = values[indices ? indices[k] : k];
    let b = Math.floor((v - lo) * scale);
    if (b >= BINS) b = BINS - 1;
    if (b < 0) b = 0;
    counts[b]++;
  }
  for (let i = 1; i < BINS; i++) counts[i] += counts[i - 1];
  return counts;
}

export function quantilesOf(values: Float32Array, indices?: Int32Array): Quantiles {
  const [lo, hi] = range(values, indices);
  const out = new Float32Array(BINS + 1);
  if (!(hi > lo)) return { values: out.fill(Number.isFinite(lo) ? lo : 0), spread: false };
  const cdf = cumulative(values, lo, hi, indices);
  const total = cdf[BINS - 1];
  const width = (hi - lo) / BINS;
  let b = 0;
  for (let q = 0; q <= BINS; q++) {
    const target = (q / BINS) * total;
    while (b < BINS - 1 && cdf[b] < target) b++;
    const below = b > 0 ? cdf[b - 1] : 0;
    const inBin = cdf[b] - below;
    const f = inBin > 0 ? Math.min(1, Math.max(0, (target - below) / inBin)) : 0;
    out[q] = lo + (b + f) * width;
  }
  return { values: out, spread: true };
}

/** In place: move `plane` (over `indices` or all of it) towards the distribution `target` by `amount`. */
export function matchHistogram(plane: Float32Array, target: Quantiles, indices?: Int32Array, amount = 1): void {
  const n = indices ? indices.length : plane.length;
  if (n === 0) return;
  const [lo, hi] = range(plane, indices);
  const tv = target.values;
  if (!(hi > lo)) {
    for (let k = 0; k < n; k++) {
      const i = indices ? indices[k] : k;
      plane[i] += (tv[BINS >> 1] - plane[i]) * amount;
    }
    return;
  }
  const cdf = cumulative(plane, lo, hi, indices);
  const total = cdf[BINS - 1];
  const scale = BINS / (hi - lo);
  for (let k = 0; k < n; k++) {
    const i = indices ? indices[k] : k;
    const v = plane[i];
    const x = (v - lo) * scale;
    let b = Math.floor(x);
    if (b >= BINS) b = BINS - 1;
    const below = b > 0 ? cdf[b - 1] : 0;
    // Rank of v: the samples below its bin plus its share of the bin.
    const rank = (below + (cdf[b] - below) * Math.min(1, x - b)) / total;
    const f = rank * BINS;
    const q = Math.min(BINS - 1, Math.floor(f));
    const mapped = tv[q] + (tv[q + 1] - tv[q]) * (f - q);
    plane[i] = v + (mapped - v) * amount;
  }
}
