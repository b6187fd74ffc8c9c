import type { Image } from '../../core/image.js';

/**
 * Make a colour map a smooth function of the input colour: each input colour's mapped chroma
 * (a, b) becomes the weighted mean of the mapped chroma of the input colours around it in Lab, by
 * a bilateral grid (Chen, Paris & Durand 2007): weights splatted trilinearly onto a coarse Lab
 * grid, blurred, read back trilinearly. O(colours + grid cells).
 *
 * Why: exact per-channel matching follows ranks, and a dense mass of near-equal colours (a sky)
 * takes a wide run of the style's values, so the few colours just outside the mass (the chroma a
 * JPEG smears along cables and edges) rank at a channel's extremes and land on the style's most
 * saturated tails: isolated specks. Averaged with the mass a few Lab units away, they take its
 * colour instead; colours far apart in Lab (the bridge and the sky) do not mix, and the smoothing
 * happens between colours, not between neighbouring pixels, so no blotches appear in the image.
 */

const L_RANGE: [number, number] = [-10, 110];
const AB_RANGE: [number, number] = [-140, 140];

/**
 * `cell`: the grid spacing along a and b in Lab units (the blur reaches about as far); L's is
 * twice that, lightness being matched exactly and mattering less to which colours belong together.
 */
export function smoothChromaMap(input: Image, weights: Float64Array | undefined, mapped: Image, cell: number): void {
  const grid = { cellL: 2 * cell, cellAb: cell };
  const n = input.width * input.height;
  const [L, A, B] = [input.plane(0), input.plane(1), input.plane(2)];
  const [ma, mb] = [mapped.plane(1), mapped.plane(2)];
  const nl = Math.ceil((L_RANGE[1] - L_RANGE[0]) / grid.cellL) + 2;
  const nab = Math.ceil((AB_RANGE[1] - AB_RANGE[0]) / grid.cellAb) + 2;
  const cells = nl * nab * nab;
  // Accumulators: weight, weight·a, weight·b.
  let w: Float64Array = new Float64Array(cells);
  let sa: Float64Array = new Float64Array(cells);
  let sb: Float64Array = new Float64Array(cells);
  const at = (i: number) => gridPoint(L[i]!, A[i]!, B[i]!, nl, nab, grid);
  for (let i = 0; i < n; i++) {
    const g = at(i);
    const wi = weights ? weights[i]! : 1;
    for (let corner = 0; corner < 8; corner++) {
      const [idx, cw] = cornerOf(g, corner, nab);
      const k = cw * wi;
      w[idx]! += k;
      sa[idx]! += k * ma[i]!;
      sb[idx]! += k * mb[i]!;
    }
  }
  for (const stride of [1, nab, nab * nab]) {
    const extent = stride === nab * nab ? nl : nab;
    w = blurAxis(w, stride, extent);
    sa = blurAxis(sa, stride, extent);
    sb = blurAxis(sb, stride, extent);
  }
  for (let i = 0; i < n; i++) {
    const g = at(i);
    let tw = 0;
    let ta = 0;
    let tb = 0;
    for (let corner = 0; corner < 8; corner++) {
      const [idx, cw] = cornerOf(g, corner, nab);
      tw += cw * w[idx]!;
      ta += cw * sa[idx]!;
      tb += cw * sb[idx]!;
    }
    if (tw > 0) {
      ma[i] = ta / tw;
      mb[i] = tb / tw;
    }
  }
}

interface GridPoint {
  l: number;
  a: number;
  b: number;
  fl: number;
  fa: number;
  fb: number;
}

function gridPoint(l: number, a: number, b: number, nl: number, nab: number, grid: { cellL: number; cellAb: number }): GridPoint {
  const gl = clamp((l - L_RANGE[0]) / grid.cellL, 0, nl - 2.000001);
  const ga = clamp((a - AB_RANGE[0]) / grid.cellAb, 0, nab - 2.000001);
  const gb = clamp((b - AB_RANGE[0]) / grid.cellAb, 0, nab - 2.000001);
  const [il, ia, ib] = [Math.floor(gl), Math.floor(ga), Math.floor(gb)];
  return { l: il, a: ia, b: ib, fl: gl - il, fa: ga - ia, fb: gb - ib };
}

/** One of the 8 grid corners around a point: its cell index and trilinear weight. */
function cornerOf(g: GridPoint, corner: number, nab: number): [number, number] {
  const dl = corner & 1;
  const da = (corner >> 1) & 1;
  const db = (corner >> 2) & 1;
  const weight = (dl ? g.fl : 1 - g.fl) * (da ? g.fa : 1 - g.fa) * (db ? g.fb : 1 - g.fb);
  return [((g.l + dl) * nab + g.a + da) * nab + g.b + db, weight];
}

/** [1 4 6 4 1]/16 along one axis of the grid (σ ≈ 1 cell); zero beyond the ends. */
function blurAxis(src: Float64Array, stride: number, extent: number): Float64Array {
  const out = new Float64Array(src.length);
  const taps = [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16];
  for (let i = 0; i < src.length; i++) {
    const pos = Math.floor(i / stride) % extent;
    let acc = 0;
    for (let t = -2; t <= 2; t++) {
      const p = pos + t;
      if (p >= 0 && p < extent) acc += taps[t + 2]! * src[i + t * stride]!;
    }
    out[i] = acc;
  }
  return out;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
