/**
 * Exact histogram matching of one channel: every value is replaced by the target's quantile at
 * the value's rank, so the output's empirical distribution is the target's. Equal input values
 * (ties) form one group that takes the quantile at the group's middle rank — they stay equal, as
 * a pointwise colour mapping must. No binning: ranks come from a counting sort when the values lie
 * on a 16-bit grid (8- and 16-bit images read as-is) and from a radix sort of the float bits
 * otherwise, both O(N). Values may carry weights (distinct colours standing for many pixels).
 */

/**
 * The quantile function of a sample (optionally weighted: sample k stands for weights[k] equal
 * values), read between sample centres as the unweighted sample expanded would be.
 */
export class QuantileFunction {
  private readonly sorted: Float32Array;
  /** Cumulative weight up to and including each sorted sample; undefined: 1 each. */
  private readonly cumulative?: Float64Array;
  readonly total: number;

  constructor(values: Float32Array, weights?: Float64Array) {
    // Values on the 16-bit grid: the sorted sample is its histogram, no sort needed.
    const counts = gridCounts(values, weights);
    if (counts) {
      let levels = 0;
      for (let k = 0; k <= GRID; k++) if (counts[k]! > 0) levels++;
      this.sorted = new Float32Array(levels);
      this.cumulative = new Float64Array(levels);
      let j = 0;
      let sum = 0;
      for (let k = 0; k <= GRID; k++) {
        if (counts[k]! === 0) continue;
        sum += counts[k]!;
        this.sorted[j] = k / GRID;
        this.cumulative[j++] = sum;
      }
      this.total = sum;
      return;
    }
    // Radix sort: several times faster than Float32Array.prototype.sort on a million values.
    const { order } = radixArgsort(values);
    this.sorted = new Float32Array(values.length);
    if (!weights) {
      for (let k = 0; k < order.length; k++) this.sorted[k] = values[order[k]!]!;
      this.total = values.length;
      return;
    }
    this.cumulative = new Float64Array(values.length);
    let sum = 0;
    for (let k = 0; k < order.length; k++) {
      this.sorted[k] = values[order[k]!]!;
      sum += weights[order[k]!]!;
      this.cumulative[k] = sum;
    }
    this.total = sum;
  }

  /** The value at fraction t of the ranks. */
  at(t: number): number {
    const x = t * this.total - 0.5;
    if (x <= 0) return this.sorted[0]!;
    if (x >= this.total - 1) return this.sorted[this.sorted.length - 1]!;
    const j = Math.floor(x);
    const a = this.expanded(j);
    return a + (this.expanded(j + 1) - a) * (x - j);
  }

  /** The j-th smallest value of the expanded sample. */
  private expanded(j: number): number {
    const cum = this.cumulative;
    if (!cum) return this.sorted[j]!;
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cum[mid]! > j) hi = mid;
      else lo = mid + 1;
    }
    return this.sorted[lo]!;
  }
}

const GRID = 65535;
/** How far from a grid point (in grid steps) a value may lie and still count as on the grid. */
const GRID_SLACK = 0.02;

/**
 * In place: give `values` (each standing for weights[k] pixels, or one) the distribution of
 * `target`.
 */
export function histogramMatch(values: Float32Array, target: QuantileFunction, weights?: Float64Array): void {
  if (values.length === 0 || target.total === 0) return;
  const counts = gridCounts(values, weights);
  if (counts) matchOnGrid(values, counts, target);
  else matchByRadix(values, target, weights);
}

/** Weight per 16-bit grid level, or undefined when some value is off the grid. */
function gridCounts(values: Float32Array, weights: Float64Array | undefined): Float64Array | undefined {
  const counts = new Float64Array(GRID + 1);
  const n = values.length;
  for (let i = 0; i < n; i++) {
    const q = values[i]! * GRID;
    if (!(q > -GRID_SLACK && q < GRID + GRID_SLACK)) return undefined;
    const k = (q + 0.5) | 0;
    if (Math.abs(q - k) > GRID_SLACK) return undefined;
    counts[k]! += weights ? weights[i]! : 1;
  }
  return counts;
}

function matchOnGrid(values: Float32Array, counts: Float64Array, target: QuantileFunction): void {
  let total = 0;
  for (let k = 0; k <= GRID; k++) total += counts[k]!;
  const lut = new Float32Array(GRID + 1);
  let rank = 0;
  for (let k = 0; k <= GRID; k++) {
    const c = counts[k]!;
    if (c === 0) continue;
    lut[k] = target.at((rank + c / 2) / total);
    rank += c;
  }
  // gridCounts has checked every value lies within the grid's range.
  for (let i = 0; i < values.length; i++) values[i] = lut[(values[i]! * GRID + 0.5) | 0]!;
}

function matchByRadix(values: Float32Array, target: QuantileFunction, weights: Float64Array | undefined): void {
  const n = values.length;
  let total = n;
  if (weights) {
    total = 0;
    for (let i = 0; i < n; i++) total += weights[i]!;
  }
  const { keys, order } = radixArgsort(values);
  let rank = 0;
  for (let r = 0; r < n; ) {
    let e = r + 1;
    while (e < n && keys[e] === keys[r]) e++;
    let w = e - r;
    if (weights) {
      w = 0;
      for (let k = r; k < e; k++) w += weights[order[k]!]!;
    }
    const v = target.at((rank + w / 2) / total);
    for (let k = r; k < e; k++) values[order[k]!] = v;
    rank += w;
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
