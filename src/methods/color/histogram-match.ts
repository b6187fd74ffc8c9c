/**
 * Exact histogram matching of one channel: every value is replaced by the target's quantile at
 * the value's rank, so the output's empirical distribution is the target's. Equal input values
 * (ties) form one group that takes the quantile at the group's middle rank — they stay equal, as
 * a pointwise colour mapping must. No binning: ranks come from a counting sort when the values lie
 * on a 16-bit grid (8- and 16-bit images read as-is) and from a radix sort of the float bits
 * otherwise, both O(N).
 */

/** A sorted copy of the values: the target's quantile function. */
export function sortedCopy(values: Float32Array): Float32Array {
  return new Float32Array(values).sort();
}

/** The target's value at fraction `t` of its ranks, interpolated between sample centres. */
function quantileAt(sorted: Float32Array, t: number): number {
  const m = sorted.length;
  const x = t * m - 0.5;
  if (x <= 0) return sorted[0]!;
  if (x >= m - 1) return sorted[m - 1]!;
  const i = x | 0;
  const f = x - i;
  return sorted[i]! + (sorted[i + 1]! - sorted[i]!) * f;
}

const GRID = 65535;
/** How far from a grid point (in grid steps) a value may lie and still count as on the grid. */
const GRID_SLACK = 0.02;

/** In place: give `values` the distribution of `sortedTarget` (ascending, non-empty). */
export function histogramMatch(values: Float32Array, sortedTarget: Float32Array): void {
  if (values.length === 0 || sortedTarget.length === 0) return;
  const counts = gridCounts(values);
  if (counts) matchOnGrid(values, counts, sortedTarget);
  else matchByRadix(values, sortedTarget);
}

/** Counts per 16-bit grid level, or undefined when some value is off the grid. */
function gridCounts(values: Float32Array): Uint32Array | undefined {
  const counts = new Uint32Array(GRID + 1);
  for (let i = 0; i < values.length; i++) {
    const q = values[i]! * GRID;
    const k = Math.round(q);
    if (!(k >= 0 && k <= GRID) || Math.abs(q - k) > GRID_SLACK) return undefined;
    counts[k]!++;
  }
  return counts;
}

function matchOnGrid(values: Float32Array, counts: Uint32Array, sortedTarget: Float32Array): void {
  const n = values.length;
  const lut = new Float32Array(GRID + 1);
  let rank = 0;
  for (let k = 0; k <= GRID; k++) {
    const c = counts[k]!;
    if (c === 0) continue;
    lut[k] = quantileAt(sortedTarget, (rank + c / 2) / n);
    rank += c;
  }
  for (let i = 0; i < n; i++) values[i] = lut[Math.round(values[i]! * GRID)]!;
}

function matchByRadix(values: Float32Array, sortedTarget: Float32Array): void {
  const n = values.length;
  const { keys, order } = radixArgsort(values);
  for (let r = 0; r < n; ) {
    let e = r + 1;
    while (e < n && keys[e] === keys[r]) e++;
    const v = quantileAt(sortedTarget, (r + (e - r) / 2) / n);
    for (let k = r; k < e; k++) values[order[k]!] = v;
    r = e;
  }
}

/**
 * Indices that sort `values` ascending, with the sorted order-preserving integer keys (equal keys
 * = equal values). LSD radix sort over the float bits, 11 bits per pass; passes where every key
 * has the same digit are skipped.
 */
export function radixArgsort(values: Float32Array): { keys: Uint32Array; order: Uint32Array } {
  const n = values.length;
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  let keys = new Uint32Array(n);
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const b = bits[i]!;
    // Negative floats: flip all bits; positive: flip the sign bit. Unsigned order = float order.
    keys[i] = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
    order[i] = i;
  }
  let keys2 = new Uint32Array(n);
  let order2 = new Uint32Array(n);
  const counts = new Uint32Array(2048);
  for (let shift = 0; shift < 32; shift += 11) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(keys[i]! >>> shift) & 2047]!++;
    if (counts[(keys[0]! >>> shift) & 2047] === n) continue;
    let sum = 0;
    for (let d = 0; d < 2048; d++) {
      const c = counts[d]!;
      counts[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      const p = counts[(k >>> shift) & 2047]!++;
      keys2[p] = k;
      order2[p] = order[i]!;
    }
    [keys, keys2] = [keys2, keys];
    [order, order2] = [order2, order];
  }
  return { keys, order };
}
