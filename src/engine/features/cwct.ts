import { AtelierError } from '../../core/errors.js';
import { invertLower, matMul, robustCholesky, type CholeskyResult } from './cholesky.js';
import type { Float64Products } from './float64-products.js';

/**
 * cWCT, the Cholesky whitening and colouring transform of CAP-VSTNet (Wen, Gao & Zou, CVPR 2023,
 * §3.3; facts from the authors' `models/cWCT.py`): with content features x (n channels × P
 * pixels), mean m_c and covariance C_c = L_c·L_cᵀ, and style mean m_s and C_s = L_s·L_sᵀ,
 *   y = L_s · L_c⁻¹ · (x − m_c) + m_s,
 * so y has exactly the style's mean and covariance (the covariance uses the unbiased P − 1).
 * Interpolation (the reference's `interpolation`): several styles mix their factors and means
 * with weights w_i, and α blends the mix with the content's own factor and mean:
 *   L = α·Σ w_i·L_s,i + (1 − α)·L_c,   m = α·Σ w_i·m_s,i + (1 − α)·m_c,
 * so α = 0 returns the content. Statistics are accumulated in float64, as the reference does.
 * The transform is affine per pixel, y = A·(x − m_c) + m, which lets large images be processed in tiles:
 * accumulate moments over every tile, build one transform, apply it tile by tile.
 */

/** Planar features: `channels` planes of `pixels` values each. */
export interface FeatureMap {
  channels: number;
  pixels: number;
  data: Float32Array;
}

export interface Moments {
  channels: number;
  count: number;
  mean: Float64Array;
  /** Unbiased covariance (divided by count − 1), row-major channels × channels. */
  cov: Float64Array;
}

const CHUNK = 2048;

/** Pixels per block handed to DGEMM: blocks of about 2 M values (16 MB of float64). */
function productChunk(channels: number): number {
  return Math.max(CHUNK, Math.floor(2 ** 21 / channels));
}

/**
 * Streams pixels into sums of (x − shift) and their products, with the shift taken from the
 * first pixel seen, which keeps float64 sums of large, offset features accurate. With
 * `covariance` false only each channel's sum of squares is kept (the diagonal of `cov`; the rest
 * stays 0): what AdaIN needs, in O(channels · pixels) instead of O(channels² · pixels).
 */
export class MomentAccumulator {
  private readonly sum: Float64Array;
  private readonly prod: Float64Array;
  private shift: Float64Array | undefined;
  private count = 0;
  private block: Float64Array | undefined;

  constructor(
    readonly channels: number,
    readonly covariance = true,
  ) {
    this.sum = new Float64Array(channels);
    this.prod = new Float64Array(channels * channels);
  }

  /** Add the pixels of `f` (all, or those listed in `index`), in JavaScript. */
  add(f: FeatureMap, index?: Int32Array): void {
    if (!this.covariance) return this.addVariances(f, index);
    for (const len of this.blocks(f, index, CHUNK)) accumulateGram(this.block!, this.channels, len, this.prod);
  }

  /**
   * `add` without covariances (AdaIN, MicroAST): each channel's sums of (x − shift) and of its
   * square, straight from the map (the same sums, in the same order, as `blocks` makes; no float64
   * copy of the pixels is written).
   */
  private addVariances(f: FeatureMap, index?: Int32Array): void {
    const n = this.channels;
    if (f.channels !== n) throw new AtelierError('E_INTERNAL', `MomentAccumulator for ${n} channels got ${f.channels}`);
    const total = index ? index.length : f.pixels;
    if (total === 0) return;
    if (!this.shift) {
      const p0 = index ? index[0]! : 0;
      this.shift = Float64Array.from({ length: n }, (_, c) => f.data[c * f.pixels + p0]!);
    }
    const { sum, prod, shift } = this;
    for (let start = 0; start < total; start += CHUNK) {
      const len = Math.min(CHUNK, total - start);
      for (let c = 0; c < n; c++) {
        const plane = c * f.pixels;
        const s = shift[c]!;
        let acc = 0;
        let squares = 0;
        if (index) {
          for (let k = 0; k < len; k++) {
            const v = f.data[plane + index[start + k]!]! - s;
            acc += v;
            squares += v * v;
          }
        } else {
          for (let k = start; k < start + len; k++) {
            const v = f.data[plane + k]! - s;
            acc += v;
            squares += v * v;
          }
        }
        sum[c] += acc;
        prod[c * n + c] += squares;
      }
      this.count += len;
    }
  }

  /** The same, with the products on ORT's DGEMM (large maps). */
  async addWith(products: Float64Products, f: FeatureMap, index?: Int32Array): Promise<void> {
    if (!this.covariance) return this.add(f, index);
    const n = this.channels;
    if (!index && f.channels === n && f.pixels > 0) {
      // Whole maps: the float32 planes go to ORT as they are (no float64 copy made here).
      if (!this.shift) this.shift = Float64Array.from({ length: n }, (_, c) => f.data[c * f.pixels]!);
      const chunk = productChunk(n);
      for (let start = 0; start < f.pixels; start += chunk) {
        const end = Math.min(f.pixels, start + chunk);
        const { gram, sums } = await products.centredGram(f.data, n, f.pixels, this.shift, start, end);
        for (let i = 0; i < n * n; i++) this.prod[i] += gram[i]!;
        for (let c = 0; c < n; c++) this.sum[c] += sums[c]!;
        this.count += end - start;
      }
      return;
    }
    for (const len of this.blocks(f, index, productChunk(n))) {
      const gram = await products.gram(this.block!.subarray(0, n * len), n, len);
      for (let i = 0; i < n * n; i++) this.prod[i] += gram[i]!;
    }
  }

  /**
   * Fills `block` with chunks of at most `chunk` pixels, rows of `len` values per channel (x −
   * shift), adding to the sums (and to the diagonal of the products without `covariance`); yields
   * each chunk's length.
   */
  private *blocks(f: FeatureMap, index: Int32Array | undefined, chunk: number): Generator<number> {
    const n = this.channels;
    if (f.channels !== n) throw new AtelierError('E_INTERNAL', `MomentAccumulator for ${n} channels got ${f.channels}`);
    const total = index ? index.length : f.pixels;
    if (total === 0) return;
    if (!this.shift) {
      const p0 = index ? index[0]! : 0;
      this.shift = new Float64Array(n);
      for (let c = 0; c < n; c++) this.shift[c] = f.data[c * f.pixels + p0]!;
    }
    if (!this.block || this.block.length < n * Math.min(chunk, total)) this.block = new Float64Array(n * Math.min(chunk, total));
    const { block, sum, prod, shift } = this;
    for (let start = 0; start < total; start += chunk) {
      const len = Math.min(chunk, total - start);
      for (let c = 0; c < n; c++) {
        const plane = c * f.pixels;
        const s = shift[c]!;
        const row = c * len;
        let acc = 0;
        let squares = 0;
        if (index) {
          for (let k = 0; k < len; k++) {
            const v = f.data[plane + index[start + k]!]! - s;
            block[row + k] = v;
            acc += v;
            squares += v * v;
          }
        } else {
          for (let k = 0; k < len; k++) {
            const v = f.data[plane + start + k]! - s;
            block[row + k] = v;
            acc += v;
            squares += v * v;
          }
        }
        sum[c] += acc;
        if (!this.covariance) prod[c * n + c] += squares;
      }
      this.count += len;
      yield len;
    }
  }

  moments(): Moments {
    const n = this.channels;
    const count = this.count;
    const mean = new Float64Array(n);
    const cov = new Float64Array(n * n);
    if (count === 0 || !this.shift) return { channels: n, count: 0, mean, cov };
    const centred = new Float64Array(n);
    for (let c = 0; c < n; c++) {
      centred[c] = this.sum[c]! / count;
      mean[c] = centred[c]! + this.shift[c]!;
    }
    const denom = Math.max(1, count - 1);
    for (let i = 0; i < n; i++) {
      for (let j = this.covariance ? 0 : i; j <= i; j++) {
        const v = (this.prod[i * n + j]! - count * centred[i]! * centred[j]!) / denom;
        cov[i * n + j] = v;
        cov[j * n + i] = v;
      }
    }
    return { channels: n, count, mean, cov };
  }
}

/**
 * prod[i·n + j] += Σ_k block[i][k]·block[j][k] for j ≤ i (rows of `len`). Blocks of 2 × 2 rows
 * share their loads (four products per two pairs of loads), which is what makes this fast in JS.
 */
function accumulateGram(block: Float64Array, n: number, len: number, prod: Float64Array): void {
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const r0 = i * len;
    const r1 = r0 + len;
    let j = 0;
    for (; j + 1 <= i; j += 2) {
      const q0 = j * len;
      const q1 = q0 + len;
      let a00 = 0, a01 = 0, a10 = 0, a11 = 0;
      for (let k = 0; k < len; k++) {
        const x0 = block[r0 + k]!;
        const x1 = block[r1 + k]!;
        const y0 = block[q0 + k]!;
        const y1 = block[q1 + k]!;
        a00 += x0 * y0;
        a01 += x0 * y1;
        a10 += x1 * y0;
        a11 += x1 * y1;
      }
      prod[i * n + j] += a00;
      prod[i * n + j + 1] += a01;
      prod[(i + 1) * n + j] += a10;
      prod[(i + 1) * n + j + 1] += a11;
    }
    // j === i: the 2 × 2 diagonal block (lower half).
    let d00 = 0, d10 = 0, d11 = 0;
    for (let k = 0; k < len; k++) {
      const x0 = block[r0 + k]!;
      const x1 = block[r1 + k]!;
      d00 += x0 * x0;
      d10 += x1 * x0;
      d11 += x1 * x1;
    }
    prod[i * n + i] += d00;
    prod[(i + 1) * n + i] += d10;
    prod[(i + 1) * n + i + 1] += d11;
  }
  for (; i < n; i++) {
    const ri = i * len;
    for (let j = 0; j <= i; j++) {
      const rj = j * len;
      let acc = 0;
      for (let k = 0; k < len; k++) acc += block[ri + k]! * block[rj + k]!;
      prod[i * n + j] += acc;
    }
  }
}

export function featureMoments(f: FeatureMap, index?: Int32Array, covariance = true): Moments {
  const acc = new MomentAccumulator(f.channels, covariance);
  acc.add(f, index);
  return acc.moments();
}

/**
 * y = A·(x − centre) + target per pixel. Kept in this form rather than A·x + b: for (nearly)
 * constant content A is huge and x − centre exactly zero, and folding the centre into b would
 * cancel catastrophically.
 */
export interface AffineTransform {
  channels: number;
  /** Row-major channels × channels. */
  matrix: Float64Array;
  centre: Float64Array;
  target: Float64Array;
  /** How each covariance was factored, for logs and tests. */
  factors: CholeskyResult['method'][];
}

export interface StyleMoments {
  moments: Moments;
  weight: number;
}

/**
 * The cWCT as an affine map. `alpha` ∈ [0, 1] is the style strength (1 − the reference's alpha_c);
 * style weights are normalised to sum to 1.
 */
export function cwctTransform(content: Moments, styles: StyleMoments[], alpha = 1): AffineTransform {
  const n = content.channels;
  if (styles.length === 0) throw new AtelierError('E_INTERNAL', 'cWCT needs at least one style');
  if (!(alpha >= 0 && alpha <= 1)) throw new AtelierError('E_PARAM', 'cWCT alpha must lie in [0, 1]', { received: String(alpha) });
  const totalWeight = styles.reduce((a, s) => a + s.weight, 0);
  if (!(totalWeight > 0)) throw new AtelierError('E_PARAM', 'cWCT style weights must sum to a positive number');
  const lc = robustCholesky(content.cov, n);
  const mixL = new Float64Array(n * n);
  const mixMean = new Float64Array(n);
  const factors: CholeskyResult['method'][] = [lc.method];
  for (const s of styles) {
    if (s.moments.channels !== n) throw new AtelierError('E_INTERNAL', `cWCT: style has ${s.moments.channels} channels, content ${n}`);
    const w = (alpha * s.weight) / totalWeight;
    if (w === 0) continue;
    const ls = robustCholesky(s.moments.cov, n);
    factors.push(ls.method);
    for (let i = 0; i < n * n; i++) mixL[i] += w * ls.L[i]!;
    for (let i = 0; i < n; i++) mixMean[i] += w * s.moments.mean[i]!;
  }
  if (alpha < 1) {
    for (let i = 0; i < n * n; i++) mixL[i] += (1 - alpha) * lc.L[i]!;
    for (let i = 0; i < n; i++) mixMean[i] += (1 - alpha) * content.mean[i]!;
  }
  const matrix = matMul(mixL, invertLower(lc.L, n), n);
  return { channels: n, matrix, centre: Float64Array.from(content.mean), target: mixMean, factors };
}

/**
 * Apply y = A·(x − centre) + target to the pixels of `f` (all, or those in `index`), writing into
 * `out`, which may be `f.data` itself: each chunk of pixels is read fully before it is written.
 */
export function applyAffine(f: FeatureMap, t: AffineTransform, out: Float32Array, index?: Int32Array): void {
  const n = t.channels;
  if (isDiagonal(t.matrix, n)) return applyDiagonal(f, t, out, index);
  const total = index ? index.length : f.pixels;
  const xs = new Float64Array(n * CHUNK);
  const ys = new Float64Array(CHUNK);
  for (let start = 0; start < total; start += CHUNK) {
    const len = Math.min(CHUNK, total - start);
    for (let c = 0; c < n; c++) {
      const plane = c * f.pixels;
      const row = c * CHUNK;
      const m = t.centre[c]!;
      if (index) for (let k = 0; k < len; k++) xs[row + k] = f.data[plane + index[start + k]!]! - m;
      else for (let k = 0; k < len; k++) xs[row + k] = f.data[plane + start + k]! - m;
    }
    for (let o = 0; o < n; o++) {
      ys.fill(t.target[o]!, 0, len);
      for (let i = 0; i < n; i++) {
        const a = t.matrix[o * n + i]!;
        if (a === 0) continue;
        const row = i * CHUNK;
        for (let k = 0; k < len; k++) ys[k] += a * xs[row + k]!;
      }
      const plane = o * f.pixels;
      if (index) for (let k = 0; k < len; k++) out[plane + index[start + k]!] = ys[k]!;
      else for (let k = 0; k < len; k++) out[plane + start + k] = ys[k]!;
    }
  }
}

/**
 * `applyAffine` for a diagonal A (AdaIN's transforms): each channel on its own, target + a·(x −
 * centre) in float64 per value, the same operations `applyAffine` makes (its other terms are
 * zeros it skips) without its float64 block copies.
 */
function applyDiagonal(f: FeatureMap, t: AffineTransform, out: Float32Array, index?: Int32Array): void {
  const n = t.channels;
  const total = index ? index.length : f.pixels;
  for (let c = 0; c < n; c++) {
    const plane = c * f.pixels;
    const a = t.matrix[c * n + c]!;
    const m = t.centre[c]!;
    const b = t.target[c]!;
    if (index) {
      for (let k = 0; k < total; k++) {
        const j = plane + index[k]!;
        out[j] = b + a * (f.data[j]! - m);
      }
    } else {
      for (let j = plane; j < plane + total; j++) out[j] = b + a * (f.data[j]! - m);
    }
  }
}

/** Whether every off-diagonal entry of a channels × channels matrix is 0 (AdaIN's transforms). */
function isDiagonal(matrix: Float64Array, n: number): boolean {
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j && matrix[i * n + j] !== 0) return false;
  return true;
}

/**
 * `applyAffine` with A·(x − centre) on ORT's DGEMM, in blocks of about 2 M values; a diagonal
 * transform (AdaIN) stays in JavaScript, where it costs O(channels · pixels).
 */
export async function applyAffineWith(products: Float64Products, f: FeatureMap, t: AffineTransform, out: Float32Array, index?: Int32Array): Promise<void> {
  const n = t.channels;
  if (isDiagonal(t.matrix, n)) return applyAffine(f, t, out, index);
  const total = index ? index.length : f.pixels;
  const chunk = productChunk(n);
  if (!index) {
    // Whole maps: slicing, widening, the product and narrowing back all run in ORT.
    const centre = Float64Array.from(t.centre);
    const target = Float64Array.from(t.target);
    for (let start = 0; start < total; start += chunk) {
      const len = Math.min(chunk, total - start);
      const ys = await products.affine(f.data, n, f.pixels, t.matrix, centre, target, start, start + len);
      for (let o = 0; o < n; o++) out.set(ys.subarray(o * len, (o + 1) * len), o * f.pixels + start);
    }
    return;
  }
  const xs = new Float64Array(n * Math.min(chunk, total));
  for (let start = 0; start < total; start += chunk) {
    const len = Math.min(chunk, total - start);
    for (let c = 0; c < n; c++) {
      const plane = c * f.pixels;
      const row = c * len;
      const m = t.centre[c]!;
      if (index) for (let k = 0; k < len; k++) xs[row + k] = f.data[plane + index[start + k]!]! - m;
      else for (let k = 0; k < len; k++) xs[row + k] = f.data[plane + start + k]! - m;
    }
    const ys = await products.product(t.matrix, n, xs.subarray(0, n * len), n, len);
    for (let o = 0; o < n; o++) {
      const plane = o * f.pixels;
      const row = o * len;
      const b = t.target[o]!;
      if (index) for (let k = 0; k < len; k++) out[plane + index[start + k]!] = ys[row + k]! + b;
      else for (let k = 0; k < len; k++) out[plane + start + k] = ys[row + k]! + b;
    }
  }
}

export interface CwctStyle {
  features: FeatureMap;
  weight: number;
}

/** Whole-image cWCT: a new feature map with the styles' statistics blended by `alpha`. */
export function cwct(content: FeatureMap, styles: CwctStyle[], alpha = 1): { features: FeatureMap; transform: AffineTransform } {
  const transform = cwctTransform(
    featureMoments(content),
    styles.map((s) => ({ moments: featureMoments(s.features), weight: s.weight })),
    alpha,
  );
  const out = new Float32Array(content.data.length);
  applyAffine(content, transform, out);
  return { features: { ...content, data: out }, transform };
}

/** Region labels at feature resolution: −1 for pixels without a matching style region. */
export interface FeatureRegions {
  content: Int32Array;
  style: Int32Array;
  count: number;
}

/**
 * A region's statistics are used only when both regions have more pixels than this (and more
 * than the channel count, so the covariance can have full rank); the reference uses > 10 pixels
 * and a size ratio below 100.
 */
export const MIN_REGION_PIXELS = 10;
export const MAX_REGION_RATIO = 100;

/** Pixel indices of each label value. */
export function indicesByLabel(labels: Int32Array): Map<number, Int32Array> {
  const counts = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) counts.set(labels[i]!, (counts.get(labels[i]!) ?? 0) + 1);
  const out = new Map<number, Int32Array>();
  for (const [label, count] of counts) out.set(label, new Int32Array(count));
  const fill = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    const k = fill.get(l) ?? 0;
    out.get(l)![k] = i;
    fill.set(l, k + 1);
  }
  return out;
}

/** Whether a content region and its style region are both large enough to supply statistics. */
export function regionUsable(contentCount: number, styleCount: number, channels: number): boolean {
  const minPixels = Math.max(MIN_REGION_PIXELS, channels) + 1;
  return (
    contentCount >= minPixels &&
    styleCount >= minPixels &&
    contentCount / styleCount < MAX_REGION_RATIO &&
    styleCount / contentCount < MAX_REGION_RATIO
  );
}

export interface RegionTransforms {
  global: AffineTransform;
  /** Transforms of matched, usable labels; every other pixel takes `global`. */
  byLabel: Map<number, AffineTransform>;
}

/**
 * Per-region transforms: each content label whose style region (of the first style) is usable
 * takes that region's statistics (other styles contribute their global statistics with their
 * weights); everything else — label −1, unmatched or too-small regions — the global transform.
 */
export function regionTransforms(
  content: Moments,
  contentByLabel: Map<number, Moments>,
  styles: StyleMoments[],
  styleByLabel: Map<number, Moments>,
  alpha: number,
  /** The statistics transfer: the cWCT, or another affine one (AdaIN) with the same signature. */
  build: (content: Moments, styles: StyleMoments[], alpha: number) => AffineTransform = cwctTransform,
): RegionTransforms {
  const global = build(content, styles, alpha);
  const byLabel = new Map<number, AffineTransform>();
  for (const [label, cm] of contentByLabel) {
    const sm = label >= 0 ? styleByLabel.get(label) : undefined;
    if (!sm || !regionUsable(cm.count, sm.count, content.channels)) continue;
    const regionStyles = styles.map((s, i) => (i === 0 ? { moments: sm, weight: s.weight } : s));
    byLabel.set(label, build(cm, regionStyles, alpha));
  }
  return { global, byLabel };
}

/** Which pixels take which transform (index undefined: all of them). */
function regionGroups(labels: Int32Array, t: RegionTransforms): { transform: AffineTransform; index?: Int32Array }[] {
  const groups: { transform: AffineTransform; index?: Int32Array }[] = [];
  const rest: number[] = [];
  for (const [label, index] of indicesByLabel(labels)) {
    const own = t.byLabel.get(label);
    if (own) groups.push({ transform: own, index });
    else for (let k = 0; k < index.length; k++) rest.push(index[k]!);
  }
  if (rest.length === labels.length) groups.push({ transform: t.global });
  else if (rest.length > 0) groups.push({ transform: t.global, index: Int32Array.from(rest) });
  return groups;
}

/** Apply region transforms to `f` in place, given its pixels' labels. */
export function applyRegionTransforms(f: FeatureMap, labels: Int32Array, t: RegionTransforms): void {
  for (const g of regionGroups(labels, t)) applyAffine(f, g.transform, f.data, g.index);
}

/** The same on ORT's DGEMM (`applyAffineWith`). */
export async function applyRegionTransformsWith(products: Float64Products, f: FeatureMap, labels: Int32Array, t: RegionTransforms): Promise<void> {
  for (const g of regionGroups(labels, t)) await applyAffineWith(products, f, g.transform, f.data, g.index);
}

function momentsByLabel(f: FeatureMap, labels: Int32Array): Map<number, Moments> {
  const out = new Map<number, Moments>();
  for (const [label, index] of indicesByLabel(labels)) out.set(label, featureMoments(f, index));
  return out;
}

/**
 * Region-to-region cWCT on whole feature maps (see `regionTransforms`). Returns the new features
 * and how many regions took their own style statistics.
 */
export function cwctRegions(content: FeatureMap, styles: CwctStyle[], regions: FeatureRegions, alpha = 1): { features: FeatureMap; matched: number } {
  const transforms = regionTransforms(
    featureMoments(content),
    momentsByLabel(content, regions.content),
    styles.map((s) => ({ moments: featureMoments(s.features), weight: s.weight })),
    momentsByLabel(styles[0]!.features, regions.style),
    alpha,
  );
  const out = { ...content, data: content.data.slice() };
  applyRegionTransforms(out, regions.content, transforms);
  return { features: out, matched: transforms.byLabel.size };
}
