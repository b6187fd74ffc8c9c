import type { Rng } from '../../core/rng.js';

/**
 * Nearest-neighbour fields between patches: for each query patch (on a grid over an image being
 * synthesised), the position of the most similar patch in a target image (the style).
 *
 * Patches are compared through a *sampler*: a fixed set of (dx, dy) taps inside an n × n patch.
 * Small patches use every pixel; large ones a k × k lattice of taps over an image that was blurred
 * first, so a 33 × 33 patch costs what a 7 × 7 one does. The target is kept as an interleaved
 * (HWC) buffer and distances are computed on the fly, so no per-position descriptor field is held
 * in memory whatever the target's size.
 *
 * Two searches share that representation:
 * - `patchMatch` (Barnes et al., SIGGRAPH 2009): random init, propagation from grid neighbours,
 *   random search in shrinking windows; warm-startable from a previous field.
 * - `exactSearch`: brute force over every target position; the reference the tests and the
 *   benchmark compare PatchMatch against. Measured (bench/patch.mjs, 3 364 queries of 7 × 7
 *   against 14 884 positions, one thread): exact search ~45× slower than 5 PatchMatch iterations
 *   from a random start, whose mean distance was 8 % above the exact one — and synthesis
 *   warm-starts PatchMatch from the previous iteration's field. The methods use PatchMatch.
 */

/** Taps of a patch: offsets from its top-left corner. */
export interface PatchSampler {
  /** Side of the patch in pixels. */
  size: number;
  dx: Int32Array;
  dy: Int32Array;
}

/** Every pixel of an n × n patch when n ≤ maxTaps, otherwise a maxTaps × maxTaps lattice spread over it. */
export function patchSampler(size: number, maxTaps = 7): PatchSampler {
  const k = Math.min(size, maxTaps);
  const dx = new Int32Array(k * k);
  const dy = new Int32Array(k * k);
  for (let j = 0; j < k; j++) {
    for (let i = 0; i < k; i++) {
      dx[j * k + i] = k === 1 ? 0 : Math.round((i * (size - 1)) / (k - 1));
      dy[j * k + i] = k === 1 ? 0 : Math.round((j * (size - 1)) / (k - 1));
    }
  }
  return { size, dx, dy };
}

/** An image as interleaved samples (pixel-major), the layout distances are computed on. */
export interface Interleaved {
  width: number;
  height: number;
  channels: number;
  data: Float32Array;
}

/** Interleave planes (with optional per-channel weights applied to the values). */
export function interleave(planes: Float32Array[], width: number, height: number, weights?: number[]): Interleaved {
  const c = planes.length;
  const n = width * height;
  const data = new Float32Array(n * c);
  for (let k = 0; k < c; k++) {
    const p = planes[k];
    const w = weights?.[k] ?? 1;
    for (let i = 0, j = k; i < n; i++, j += c) data[j] = p[i] * w;
  }
  return { width, height, channels: c, data };
}

/** Descriptors of the patches whose top-left corners are `positions` (x, y pairs), one row each. */
export function gatherDescriptors(img: Interleaved, sampler: PatchSampler, positions: Int32Array): Float32Array {
  const taps = sampler.dx.length;
  const c = img.channels;
  const dims = taps * c;
  const count = positions.length / 2;
  const out = new Float32Array(count * dims);
  const offs = tapOffsets(sampler, img.width, c);
  for (let q = 0; q < count; q++) {
    const base = (positions[2 * q + 1] * img.width + positions[2 * q]) * c;
    let o = q * dims;
    for (let t = 0; t < taps; t++) {
      const b = base + offs[t];
      for (let k = 0; k < c; k++) out[o++] = img.data[b + k];
    }
  }
  return out;
}

function tapOffsets(sampler: PatchSampler, width: number, channels: number): Int32Array {
  const offs = new Int32Array(sampler.dx.length);
  for (let t = 0; t < offs.length; t++) offs[t] = (sampler.dy[t] * width + sampler.dx[t]) * channels;
  return offs;
}

/** A regular grid of query patch positions covering an image: the last row/column touches the border. */
export interface QueryGrid {
  cols: number;
  rows: number;
  /** x then y of each position's top-left corner, row-major over the grid. */
  positions: Int32Array;
}

/** Patch corners every `gap` pixels, with the last one flush with the border so every pixel is covered. */
export function queryGrid(width: number, height: number, size: number, gap: number): QueryGrid {
  const xs = gridAxis(width, size, gap);
  const ys = gridAxis(height, size, gap);
  const positions = new Int32Array(xs.length * ys.length * 2);
  let k = 0;
  for (const y of ys) for (const x of xs) {
    positions[k++] = x;
    positions[k++] = y;
  }
  return { cols: xs.length, rows: ys.length, positions };
}

function gridAxis(extent: number, size: number, gap: number): number[] {
  const last = Math.max(0, extent - size);
  const out: number[] = [];
  for (let v = 0; v < last; v += gap) out.push(v);
  out.push(last);
  return out;
}

/** Result of a search: the target top-left corner (y · width + x) and squared distance per query. */
export interface Nnf {
  index: Int32Array;
  distance: Float32Array;
}

/**
 * Which target positions a query may use: per query a label, per target position a label. A query
 * with label < 0, or whose label no target position carries, may use any position.
 */
export interface NnfConstraint {
  queryLabels: Int32Array;
  /** Label of each target top-left position (y · width + x over the whole target image). */
  targetLabels: Int32Array;
}

export interface PatchMatchOptions {
  rng: Rng;
  iterations?: number;
  /** A previous field to start from (warm start); otherwise random. */
  init?: Int32Array;
  /** Target pixels per grid step when propagating (the query grid's gap, in target pixels). */
  step?: number;
  constraint?: NnfConstraint;
  /** Largest random-search radius in target pixels (default: the target's larger side). */
  maxRadius?: number;
  /**
   * Coherence bias κ ≥ 0 (Hertzmann et al. 2001): a candidate propagated from a neighbour — one that
   * continues the neighbour's source region — wins unless a random one is better by a factor 1 + κ.
   * Distances of coherent matches are stored divided by 1 + κ.
   */
  coherence?: number;
  /**
   * A cost added to the distance of each target top-left position (y · width + x): the
   * patch-occurrence penalty of synthesis (occurrence.ts), so overused patches lose to fresh ones.
   */
  penalty?: Float32Array;
}

interface Target {
  img: Interleaved;
  offs: Int32Array;
  maxX: number;
  maxY: number;
}

function makeTarget(img: Interleaved, sampler: PatchSampler): Target {
  return { img, offs: tapOffsets(sampler, img.width, img.channels), maxX: img.width - sampler.size, maxY: img.height - sampler.size };
}

/** Squared distance between query descriptor `q` (at `qo` in `qd`) and the target patch at `pos`, or ≥ `bound`. */
function distanceAt(t: Target, qd: Float32Array, qo: number, pos: number, bound: number): number {
  const c = t.img.channels;
  const data = t.img.data;
  const offs = t.offs;
  const base = pos * c;
  let d = 0;
  let o = qo;
  if (c === 3) {
    for (let k = 0; k < offs.length; k++) {
      const b = base + offs[k];
      const e0 = data[b] - qd[o];
      const e1 = data[b + 1] - qd[o + 1];
      const e2 = data[b + 2] - qd[o + 2];
      d += e0 * e0 + e1 * e1 + e2 * e2;
      o += 3;
      if (d >= bound) return d;
    }
    return d;
  }
  for (let k = 0; k < offs.length; k++) {
    const b = base + offs[k];
    for (let j = 0; j < c; j++) {
      const e = data[b + j] - qd[o++];
      d += e * e;
    }
    if (d >= bound) return d;
  }
  return d;
}

/** Positions per label, for random draws that respect a constraint. */
function labelPools(t: Target, labels: Int32Array): Map<number, Int32Array> {
  const lists = new Map<number, number[]>();
  const w = t.img.width;
  for (let y = 0; y <= t.maxY; y++) {
    for (let x = 0; x <= t.maxX; x++) {
      const l = labels[y * w + x];
      let a = lists.get(l);
      if (!a) lists.set(l, (a = []));
      a.push(y * w + x);
    }
  }
  return new Map([...lists].map(([k, v]) => [k, Int32Array.from(v)]));
}

/**
 * PatchMatch from query descriptors (one row per grid position, gathered with the same sampler)
 * into the target image. Scan order alternates; each pass propagates from the two already-visited
 * grid neighbours (shifted by one grid step) and then searches randomly around the best match.
 */
export function patchMatch(queries: Float32Array, grid: QueryGrid, target: Interleaved, sampler: PatchSampler, options: PatchMatchOptions): Nnf {
  const t = makeTarget(target, sampler);
  if (t.maxX < 0 || t.maxY < 0) throw new RangeError(`target ${target.width}×${target.height} is smaller than a ${sampler.size}-pixel patch`);
  const { rng } = options;
  const iterations = options.iterations ?? 4;
  const step = options.step ?? 1;
  const count = grid.cols * grid.rows;
  const dims = sampler.dx.length * target.channels;
  const w = target.width;
  const index = new Int32Array(count);
  const distance = new Float32Array(count);
  const constraint = options.constraint;
  const penalty = options.penalty;
  const pools = constraint ? labelPools(t, constraint.targetLabels) : undefined;
  // A query's pool: its label's positions, or undefined (anything goes).
  const poolOf = (q: number): Int32Array | undefined => {
    if (!constraint || !pools) return undefined;
    const l = constraint.queryLabels[q];
    return l < 0 ? undefined : pools.get(l);
  };
  const allowed = (q: number, pos: number): boolean => {
    if (!constraint) return true;
    const l = constraint.queryLabels[q];
    if (l < 0 || !pools!.has(l)) return true;
    return constraint.targetLabels[pos] === l;
  };
  const randomPos = (q: number): number => {
    const pool = poolOf(q);
    if (pool && pool.length > 0) return pool[rng.int(pool.length)];
    return rng.int(t.maxY + 1) * w + rng.int(t.maxX + 1);
  };

  for (let q = 0; q < count; q++) {
    let pos = options.init ? options.init[q] : randomPos(q);
    const px = pos % w;
    const py = (pos - px) / w;
    if (px > t.maxX || py > t.maxY || !allowed(q, pos)) pos = randomPos(q);
    index[q] = pos;
    distance[q] = (penalty ? penalty[pos] : 0) + distanceAt(t, queries, q * dims, pos, Infinity);
  }

  const maxRadius = options.maxRadius ?? Math.max(target.width, target.height);
  const coherent = 1 / (1 + (options.coherence ?? 0));
  const tryCandidate = (q: number, x: number, y: number, factor = 1): void => {
    if (x < 0 || y < 0 || x > t.maxX || y > t.maxY) return;
    const pos = y * w + x;
    if (pos === index[q] || !allowed(q, pos)) return;
    const extra = penalty ? penalty[pos] : 0;
    const d = factor * (extra + distanceAt(t, queries, q * dims, pos, distance[q] / factor - extra));
    if (d < distance[q]) {
      distance[q] = d;
      index[q] = pos;
    }
  };

  for (let it = 0; it < iterations; it++) {
    const forward = it % 2 === 0;
    const dir = forward ? 1 : -1;
    for (let gy0 = 0; gy0 < grid.rows; gy0++) {
      const gy = forward ? gy0 : grid.rows - 1 - gy0;
      for (let gx0 = 0; gx0 < grid.cols; gx0++) {
        const gx = forward ? gx0 : grid.cols - 1 - gx0;
        const q = gy * grid.cols + gx;
        // Propagation: the neighbour visited before, shifted by one grid step.
        const nx = gx - dir;
        if (nx >= 0 && nx < grid.cols) {
          const p = index[q - dir];
          const x = (p % w) + dir * step;
          tryCandidate(q, x, (p - (p % w)) / w, coherent);
        }
        const ny = gy - dir;
        if (ny >= 0 && ny < grid.rows) {
          const p = index[q - dir * grid.cols];
          const x = p % w;
          tryCandidate(q, x, (p - x) / w + dir * step, coherent);
        }
        // Random search around the current best in windows halving from maxRadius.
        const bx = index[q] % w;
        const by = (index[q] - bx) / w;
        for (let r = maxRadius; r >= 1; r >>= 1) {
          const x = bx + Math.round((rng.next() * 2 - 1) * r);
          const y = by + Math.round((rng.next() * 2 - 1) * r);
          tryCandidate(q, Math.min(t.maxX, Math.max(0, x)), Math.min(t.maxY, Math.max(0, y)));
        }
        // Under a constraint the window may hold no allowed position: also draw one from the pool.
        if (constraint) {
          const pool = poolOf(q);
          if (pool && pool.length > 0) {
            const pos = pool[rng.int(pool.length)];
            const x = pos % w;
            tryCandidate(q, x, (pos - x) / w);
          }
        }
      }
    }
  }
  return { index, distance };
}

/** Exhaustive search over every target position (respecting a constraint when given). */
export function exactSearch(queries: Float32Array, count: number, target: Interleaved, sampler: PatchSampler, constraint?: NnfConstraint): Nnf {
  const t = makeTarget(target, sampler);
  if (t.maxX < 0 || t.maxY < 0) throw new RangeError(`target ${target.width}×${target.height} is smaller than a ${sampler.size}-pixel patch`);
  const dims = sampler.dx.length * target.channels;
  const w = target.width;
  const index = new Int32Array(count);
  const distance = new Float32Array(count);
  const present = constraint ? labelPools(t, constraint.targetLabels) : undefined;
  for (let q = 0; q < count; q++) {
    let best = Infinity;
    let bestPos = 0;
    const l = constraint ? constraint.queryLabels[q] : -1;
    const restrict = constraint !== undefined && l >= 0 && present!.has(l);
    for (let y = 0; y <= t.maxY; y++) {
      for (let x = 0; x <= t.maxX; x++) {
        const pos = y * w + x;
        if (restrict && constraint!.targetLabels[pos] !== l) continue;
        const d = distanceAt(t, queries, q * dims, pos, best);
        if (d < best) {
          best = d;
          bestPos = pos;
        }
      }
    }
    index[q] = bestPos;
    distance[q] = best;
  }
  return { index, distance };
}
