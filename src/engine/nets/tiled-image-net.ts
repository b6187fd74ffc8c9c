import { throwIfAborted } from '../../core/errors.js';
import { Image } from '../../core/image.js';
import { cropPlanar, TileBlender, type Tile } from './capvst/tiles.js';

/**
 * Runs a fully convolutional image-to-image network on an image of any size: the image is padded
 * by reflection to the multiple of its size the network needs (its stride-2 steps) and at least to
 * its smallest side, and larger
 * than one tile it is cut into equal-sized tiles that overlap by twice `margin`; each tile's result
 * is blended in with weights ramping linearly across the overlaps (feathering), so seams — where a
 * tile saw padding instead of its neighbour — carry almost no weight. Equal tiles mean one compiled
 * graph serves every tile.
 */

export interface ImageNetwork {
  /** Input sides must be multiples of this. */
  multiple: number;
  /** Smallest side the network takes (its reflection pads need room); smaller images are padded up to it. */
  minSide?: number;
  /** Called once with the whole (padded) image before it is run in several tiles (e.g. to share norm statistics). */
  prepare?(data: Float32Array, width: number, height: number, tile: number): Promise<void>;
  /**
   * Compile for tiles of this size ahead of the first (the one-off setup before the measured work);
   * `inTile`: the run will ask for progress within the tile (one tile: nothing else to report).
   */
  ready?(width: number, height: number, inTile: boolean): Promise<void>;
  /**
   * Run on one planar RGB tile (1×3×h×w, values as the caller prepared them); returns 3×h×w. Given
   * `progress`, a network that can run in stages reports them and stops between them when its
   * signal fires.
   */
  run(data: Float32Array, width: number, height: number, progress?: TileProgress): Promise<Float32Array>;
}

/** Within one tile: stages done of how many, and the run's signal. */
export interface TileProgress {
  signal?: AbortSignal;
  step(done: number, total: number): void;
}

export interface TiledRunOptions {
  /** Largest tile side (rounded down to the network's multiple). */
  tile: number;
  /** Context each tile gets beyond its core on inner sides. */
  margin: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Tile starts and core boundaries along one axis of `length` with tiles of `size`. */
export function axisTiles(length: number, size: number, margin: number): { ext: [number, number]; core: [number, number] }[] {
  if (length <= size) return [{ ext: [0, length], core: [0, length] }];
  const step = Math.max(1, size - 2 * margin);
  const starts: number[] = [];
  for (let s = 0; ; s += step) {
    if (s + size >= length) {
      starts.push(length - size);
      break;
    }
    starts.push(s);
  }
  // Core boundaries in the middle of each overlap.
  const bounds = [0];
  for (let i = 1; i < starts.length; i++) bounds.push(Math.round((starts[i]! + starts[i - 1]! + size) / 2));
  bounds.push(length);
  return starts.map((s, i) => ({ ext: [s, s + size] as [number, number], core: [bounds[i]!, bounds[i + 1]!] as [number, number] }));
}

/** Reflect-pad a planar image on the right and bottom (mirror without repeating the edge). */
function padPlanar(data: Float32Array, channels: number, width: number, height: number, W: number, H: number): Float32Array {
  if (W === width && H === height) return data;
  const out = new Float32Array(channels * W * H);
  const reflect = (v: number, n: number) => {
    if (n === 1) return 0;
    const period = 2 * (n - 1);
    const m = v % period;
    return m < n ? m : period - m;
  };
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < H; y++) {
      const sy = reflect(y, height);
      for (let x = 0; x < W; x++) out[(c * H + y) * W + x] = data[(c * height + sy) * width + reflect(x, width)]!;
    }
  return out;
}

export async function runTiled(net: ImageNetwork, image: Image, o: TiledRunOptions): Promise<Image> {
  const m = net.multiple;
  const min = Math.ceil((net.minSide ?? m) / m) * m;
  const W = Math.max(min, Math.ceil(image.width / m) * m);
  const H = Math.max(min, Math.ceil(image.height / m) * m);
  const padded = padPlanar(image.data, 3, image.width, image.height, W, H);
  const tile = Math.max(m, Math.floor(o.tile / m) * m);
  const margin = Math.ceil(o.margin / m) * m;
  const xs = axisTiles(W, tile, margin);
  const ys = axisTiles(H, tile, margin);
  const tiles: Tile[] = ys.flatMap((ty) => xs.map((tx) => ({ core: { x0: tx.core[0], y0: ty.core[0], x1: tx.core[1], y1: ty.core[1] }, ext: { x0: tx.ext[0], y0: ty.ext[0], x1: tx.ext[1], y1: ty.ext[1] } })));
  if (tiles.length > 1) await net.prepare?.(padded, W, H, tile);
  // Tiles are equal: one compile serves them all, done before the measured work starts (step 0).
  // One tile has nothing to report between start and end but its network's stages; several report per tile.
  const inTile = tiles.length === 1 && o.onProgress !== undefined;
  await net.ready?.(tiles[0]!.ext.x1 - tiles[0]!.ext.x0, tiles[0]!.ext.y1 - tiles[0]!.ext.y0, inTile);
  throwIfAborted(o.signal);
  const blender = new TileBlender(W, H, 3);
  // Progress counts stages of tiles where the network reports them (`stages` per tile), else tiles.
  let stages = 1;
  o.onProgress?.(0, tiles.length);
  for (let k = 0; k < tiles.length; k++) {
    const t = tiles[k]!;
    throwIfAborted(o.signal);
    const w = t.ext.x1 - t.ext.x0;
    const h = t.ext.y1 - t.ext.y0;
    const input = tiles.length === 1 ? padded : cropPlanar(padded, 3, W, H, t.ext);
    const progress: TileProgress = {
      ...(o.signal && { signal: o.signal }),
      step: (done, total) => {
        stages = total;
        if (done < total) o.onProgress?.(k * total + done, tiles.length * total);
      },
    };
    blender.add(t, await net.run(input, w, h, inTile ? progress : undefined));
    o.onProgress?.((k + 1) * stages, tiles.length * stages);
  }
  const out = blender.result();
  const data = W === image.width && H === image.height ? out : cropPlanar(out, 3, W, H, { x0: 0, y0: 0, x1: image.width, y1: image.height });
  return new Image(image.width, image.height, 3, data);
}
