/**
 * Tiling for fully convolutional networks on large images: the image is cut into core rectangles
 * that partition it; each tile is processed with a margin of context around its core, and the
 * results are blended with weights that ramp linearly across the margins, so the seams (where a
 * tile saw reflection padding instead of its neighbours) carry almost no weight and neighbouring
 * tiles cross-fade. At the image border there is no neighbour, hence no margin and no ramp.
 */

export interface Tile {
  /** Core: the pixels this tile is responsible for (the cores partition the image). */
  core: Rect;
  /** Core plus margin, clamped to the image: what the network sees. */
  ext: Rect;
}

export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface TilePlan {
  width: number;
  height: number;
  margin: number;
  tiles: Tile[];
}

/** Split `length` into `parts` nearly equal pieces whose boundaries are multiples of `multiple`. */
function cuts(length: number, parts: number, multiple: number): number[] {
  const out = [0];
  for (let i = 1; i < parts; i++) out.push(Math.round((length * i) / parts / multiple) * multiple);
  out.push(length);
  return out;
}

/**
 * Plan tiles for a `width` × `height` image (both multiples of `multiple`) so that no tile's
 * extended area exceeds `maxTilePixels`; one tile when the image fits. Boundaries and margins are
 * multiples of `multiple`, so every tile is a valid network input.
 */
export function planTiles(width: number, height: number, maxTilePixels: number, margin: number, multiple: number): TilePlan {
  const m = Math.ceil(margin / multiple) * multiple;
  let nx = 1;
  let ny = 1;
  const extSize = (n: number, len: number) => Math.ceil(len / n / multiple) * multiple + (n > 1 ? 2 * m : 0);
  while (extSize(nx, width) * extSize(ny, height) > maxTilePixels) {
    // Cut the side whose tiles are longer; stop when tiles would be thinner than their margins.
    const canX = width / (nx + 1) >= 2 * m && width / (nx + 1) >= 2 * multiple;
    const canY = height / (ny + 1) >= 2 * m && height / (ny + 1) >= 2 * multiple;
    if (!canX && !canY) break;
    if (canX && (!canY || width / nx >= height / ny)) nx++;
    else ny++;
  }
  const xs = cuts(width, nx, multiple);
  const ys = cuts(height, ny, multiple);
  const tiles: Tile[] = [];
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const core = { x0: xs[i]!, y0: ys[j]!, x1: xs[i + 1]!, y1: ys[j + 1]! };
      tiles.push({
        core,
        ext: { x0: Math.max(0, core.x0 - m), y0: Math.max(0, core.y0 - m), x1: Math.min(width, core.x1 + m), y1: Math.min(height, core.y1 + m) },
      });
    }
  }
  return { width, height, margin: m, tiles };
}

/**
 * The same tiles with every context window widened to the largest one's size (shifted inwards at
 * the image border), so a network sees ONE input shape for all of them: ORT then plans its memory
 * once and reuses it tile after tile, instead of allocating afresh for each new shape. Cores are
 * unchanged; a tile only gains context, never loses any. Its area stays within the plan's limit,
 * since planTiles bounds the inner tiles' size, which is the largest in each direction.
 */
export function equalTileShapes(plan: TilePlan): TilePlan {
  const w = Math.max(...plan.tiles.map((t) => t.ext.x1 - t.ext.x0));
  const h = Math.max(...plan.tiles.map((t) => t.ext.y1 - t.ext.y0));
  const widen = (e0: number, e1: number, size: number, limit: number): [number, number] => {
    const start = Math.max(0, Math.min(e0 - (size - (e1 - e0)), limit - size));
    return [start, start + size];
  };
  const tiles = plan.tiles.map(({ core, ext }) => {
    const [x0, x1] = widen(ext.x0, ext.x1, w, plan.width);
    const [y0, y1] = widen(ext.y0, ext.y1, h, plan.height);
    return { core, ext: { x0, y0, x1, y1 } };
  });
  return { ...plan, tiles };
}

/**
 * Blend weight along one axis: 1 in the core, falling linearly to 0 across the margin; or, with
 * `feather`, only across a band of that width centred on the core's edge (where both neighbours'
 * results are good when the margin exceeds the network's receptive field plus half the band).
 * Neighbours' weights sum to 1 across the band either way.
 */
function axisWeight(v: number, c0: number, c1: number, e0: number, e1: number, feather?: number): number {
  if (feather !== undefined) {
    const lo = c0 === e0 ? 1 : (v - c0 + feather / 2 + 0.5) / feather;
    const hi = c1 === e1 ? 1 : (c1 + feather / 2 - v - 0.5) / feather;
    return Math.max(0, Math.min(1, lo, hi));
  }
  if (v < c0) return (v - e0 + 0.5) / (c0 - e0 + 0.5);
  if (v >= c1) return (e1 - v - 0.5) / (e1 - c1 + 0.5);
  return 1;
}

/** Accumulates weighted tile results into one planar image and normalises at the end. */
export class TileBlender {
  readonly sum: Float32Array;
  private readonly weight: Float32Array;

  constructor(
    readonly width: number,
    readonly height: number,
    readonly channels: number,
    /** Width of the cross-fade band centred on each core edge (default: the whole margin). */
    readonly feather?: number,
  ) {
    this.sum = new Float32Array(channels * width * height);
    this.weight = new Float32Array(width * height);
  }

  /** Add a tile's result, planar `channels` × ext height × ext width. */
  add(tile: Tile, data: Float32Array): void {
    const { ext } = tile;
    const tw = ext.x1 - ext.x0;
    const th = ext.y1 - ext.y0;
    const n = this.width * this.height;
    const wx = new Float32Array(tw);
    for (let x = 0; x < tw; x++) wx[x] = axisWeight(ext.x0 + x, tile.core.x0, tile.core.x1, ext.x0, ext.x1, this.feather);
    for (let y = 0; y < th; y++) {
      const wy = axisWeight(ext.y0 + y, tile.core.y0, tile.core.y1, ext.y0, ext.y1, this.feather);
      const row = (ext.y0 + y) * this.width + ext.x0;
      for (let x = 0; x < tw; x++) this.weight[row + x] += wy * wx[x]!;
      for (let c = 0; c < this.channels; c++) {
        const src = (c * th + y) * tw;
        const dst = c * n + row;
        for (let x = 0; x < tw; x++) this.sum[dst + x] += wy * wx[x]! * data[src + x]!;
      }
    }
  }

  /** The blended image (normalised in place). */
  result(): Float32Array {
    const n = this.width * this.height;
    for (let c = 0; c < this.channels; c++) {
      for (let i = 0; i < n; i++) this.sum[c * n + i] /= this.weight[i]!;
    }
    return this.sum;
  }
}

/** Copy a rectangle out of a planar image (channels × height × width). */
export function cropPlanar(data: Float32Array, channels: number, width: number, height: number, r: Rect): Float32Array {
  const tw = r.x1 - r.x0;
  const th = r.y1 - r.y0;
  const out = new Float32Array(channels * tw * th);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < th; y++) {
      const src = (c * height + r.y0 + y) * width + r.x0;
      out.set(data.subarray(src, src + tw), (c * th + y) * tw);
    }
  }
  return out;
}
