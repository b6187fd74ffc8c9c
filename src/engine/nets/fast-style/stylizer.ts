import { throwIfAborted } from '../../../core/errors.js';
import { Image } from '../../../core/image.js';
import { resizeImage } from '../../../core/resample.js';
import { Graph, type Tensor } from '../../graph/graph.js';
import { attr } from '../../graph/onnx-model.js';
import { emitModel, type EmittedModel } from '../../graph/lower.js';
import { compile, type Runner, type TensorValue } from '../../runtime.js';
import type { TensorMap } from '../../weights/tensor.js';
import { TileBlender, cropPlanar, equalTileShapes, planTiles, type Tile } from '../capvst/tiles.js';
import { transformerNet, transformerNetNorms, type JohnsonNetSpec } from '../transformer-net.js';

/**
 * A fast-style network run on images of any size. An image that fits one tile runs whole, exactly
 * as published. A larger one is cut into overlapping tiles, cross-faded over their margins
 * (capvst/tiles.ts, see FEATHER). Instance norm makes every pixel depend on the whole image's per-channel
 * statistics; a tile normalised with its own comes out lighter or darker than its neighbours (a
 * seam). So every tile is normalised with ONE set of statistics for the whole image: those of the
 * whole image shrunk to `proxyPixels` (`proxyStatistics`). The tiles then agree with each other
 * (no seam; beyond the network's receptive field, ≈ 55 px, from a tile's edge they equal the whole
 * image run with those statistics), but not exactly with an unshrunk whole run, because the
 * network's features, and so their statistics, depend on scale: mean |difference| to the whole
 * run on stata.jpg at 768×512 (fst-pytorch-candy) is 2.9 % of 255 with the proxy at ½ the pixels,
 * 6.6 % at ¼ and 12.8 % at ⅛ (the shrink of a 4K image in 1024² tiles while the proxy was one tile).
 * So the proxy takes half the image's pixels, up to PROXY_MAX_PIXELS (its pass costs as much
 * memory as a tile of its size). Two cheaper fixes fail: statistics re-measured over the tiles in
 * a second pass with the proxy's upstream statistics diverge (12.8 % → 21 % → 42 %: a norm's
 * input depends on every earlier norm's statistics), and exact statistics need the norms in
 * order, one pass per norm or whole layers kept in memory.
 */

export interface FastStyleRunOptions {
  /** Largest tile (core plus margins) in pixels; an image this size or smaller runs whole. */
  maxTilePixels?: number;
  /** Context each tile gets beyond its core, in pixels. */
  margin?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export const DEFAULT_MAX_TILE_PIXELS = 1024 * 1024;
/**
 * The largest proxy for the shared statistics: half a 4K frame. Its pass peaks at ≈ 1.5 GB for
 * the 32-wide net (≈ 280 bytes a pixel over the image buffers), within the 2 GB a 4K run may use.
 */
export const PROXY_MAX_PIXELS = 3840 * 2160 / 2;

/** Pixels of the shrunk whole image whose statistics the tiles share: half the image, at least a tile, at most PROXY_MAX_PIXELS. */
export function proxyPixels(imagePixels: number, maxTile: number): number {
  return Math.min(imagePixels, Math.max(maxTile, Math.min(imagePixels / 2, PROXY_MAX_PIXELS)));
}
export const DEFAULT_MARGIN = 96;
/**
 * Tiles cross-fade over a 32 px band centred on each core edge: with the 96 px margin, both
 * neighbours' results there are at least 80 px from their tiles' edges, beyond the network's
 * receptive field (56 px: 4 + 1 + 2 + 10·4 + 2 + 2 + 1 + 4 from its 9×9, strided and
 * upsampling convs), so the blend mixes two equal values and no seam can show.
 */
const FEATHER = 32;
/**
 * ORT's CPU arena without its per-shape memory plans. With no arena ('lean') every activation is
 * a fresh mmap that the kernel must fault in and zero on every run: a 1536² tile took 5.1 s per
 * megapixel against 2.4 s with the arena (scratch measurement, 2 threads). With the plans too
 * ('fast') ORT keeps the largest plan of every shape it met: at 4K the arena peaked at 4.1 GB
 * against PyTorch's 2.1 GB for the same tiles. The tiles share one shape (equalTileShapes), and
 * the arena is reused tile after tile.
 */
const TILE_MEMORY = 'arena';
/** Sizes must be multiples of 4 (two stride-2 steps down, two ×2 up). */
const MULTIPLE = 4;

/** Planar RGB 0–255 whose sides are multiples of 4. */
export interface PaddedImage {
  data: Float32Array;
  width: number;
  height: number;
}

export interface NormStats {
  mean: Float32Array;
  variance: Float32Array;
}

/** Mirror index into [0, n) for any integer (reflection without repeating the edge). */
function mirror(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const m = ((i % period) + period) % period;
  return m < n ? m : period - m;
}

/** Planar RGB padded by reflection on the right and bottom to multiples of 4, scaled by `gain`. */
export function padded(data: Float32Array, width: number, height: number, gain: number): PaddedImage {
  const W = Math.max(MULTIPLE, Math.ceil(width / MULTIPLE) * MULTIPLE);
  const H = Math.max(MULTIPLE, Math.ceil(height / MULTIPLE) * MULTIPLE);
  const out = new Float32Array(3 * W * H);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < H; y++) {
      const src = (c * height + mirror(y, height)) * width;
      const dst = (c * H + y) * W;
      if (W === width) for (let x = 0; x < W; x++) out[dst + x] = data[src + x]! * gain;
      else for (let x = 0; x < W; x++) out[dst + x] = data[src + mirror(x, width)]! * gain;
    }
  return { data: out, width: W, height: H };
}

export class FastStyleStylizer {
  private tiled?: Promise<Runner>;
  private proxy?: EmittedModel;

  private constructor(
    readonly weights: TensorMap,
    readonly spec: JohnsonNetSpec,
    readonly threads: number,
    private readonly whole: Runner,
  ) {}

  /** Compile the whole-image graph (the tiled graphs are compiled the first time they are needed). */
  static async create(weights: TensorMap, spec: JohnsonNetSpec, threads: number): Promise<FastStyleStylizer> {
    const g = new Graph();
    g.output('stylised', transformerNet(g, g.input('image', [1, 3, 'H', 'W']), weights, spec));
    return new FastStyleStylizer(weights, spec, threads, await compile(g, { threads }));
  }

  /**
   * Stylise planar RGB in [0, 1] (3 × height × width); returns planar RGB in [0, 1] of the same size.
   */
  async stylize(data: Float32Array, width: number, height: number, o: FastStyleRunOptions = {}): Promise<Float32Array> {
    const maxTile = o.maxTilePixels ?? DEFAULT_MAX_TILE_PIXELS;
    const img = padded(data, width, height, 255);
    let out: Float32Array;
    if (img.width * img.height <= maxTile) {
      throwIfAborted(o.signal);
      out = (await this.whole.run({ image: { data: img.data, shape: [1, 3, img.height, img.width] } })).stylised!.data as Float32Array;
      o.onProgress?.(1, 1);
    } else {
      out = await this.stylizeTiled(img, maxTile, o);
    }
    const result = new Float32Array(3 * width * height);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < height; y++) {
        const src = (c * img.height + y) * img.width;
        const dst = (c * height + y) * width;
        for (let x = 0; x < width; x++) {
          const v = out[src + x]! / 255;
          result[dst + x] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
      }
    return result;
  }

  /** The network's output for a padded image in tiles with whole-image norm statistics (see the file comment). */
  async stylizeTiled(img: PaddedImage, maxTile: number, o: FastStyleRunOptions): Promise<Float32Array> {
    const plan = equalTileShapes(planTiles(img.width, img.height, maxTile, o.margin ?? DEFAULT_MARGIN, MULTIPLE));
    const statistics = await this.proxyStatistics(img, proxyPixels(img.width * img.height, maxTile));
    return this.runTiles(img, plan.tiles, statistics, o);
  }

  /** The network over `tiles` (cross-faded) with every instance norm using `statistics`. */
  async runTiles(img: PaddedImage, tiles: Tile[], statistics: Map<string, NormStats>, o: Pick<FastStyleRunOptions, 'signal' | 'onProgress'> = {}): Promise<Float32Array> {
    const output = await this.tiledRunner();
    const blender = new TileBlender(img.width, img.height, 3, FEATHER);
    let done = 0;
    for (const tile of tiles) {
      throwIfAborted(o.signal);
      const { stylised } = await output.run(this.tileFeeds(img, tile, statistics));
      blender.add(tile, stylised!.data as Float32Array);
      o.onProgress?.(++done, tiles.length);
    }
    return blender.result();
  }

  private tiledRunner(): Promise<Runner> {
    this.tiled ??= (async () => {
      const g = new Graph();
      const normStatistics = (key: string, x: Tensor) => {
        const c = x.shape[1] as number;
        return { mean: g.input(`${key}.mean`, [1, c, 1, 1]), variance: g.input(`${key}.var`, [1, c, 1, 1]) };
      };
      g.output('stylised', transformerNet(g, g.input('image', [1, 3, 'H', 'W']), this.weights, this.spec, { normStatistics }));
      return compile(g, { threads: this.threads, memory: TILE_MEMORY });
    })();
    return this.tiled;
  }

  /** Every norm's statistics from the whole image shrunk to `pixels` or fewer (the statistics tiles share). */
  async proxyStatistics(img: PaddedImage, pixels: number): Promise<Map<string, NormStats>> {
    this.proxy ??= (() => {
      const g = new Graph();
      transformerNet(g, g.input('image', [1, 3, 'H', 'W']), this.weights, this.spec, {
        normStatistics: (key, x) => {
          // var = E[x²] − E[x]² (ReduceSumSquare reads x once, no image-sized temporaries; E[x]
          // is within a few σ of 0 here, so fp32 loses ~1e-4 of σ² to cancellation), and the
          // norm applied with these statistics as one multiply-add, the tiles' form: the
          // pass stays in ORT's blocked conv layout (an InstanceNormalization op reorders to
          // NCHW and back around every norm) and peaks no higher than a tile of its size.
          const c = x.shape[1] as number;
          const [sumSquares] = g.onnx('ReduceSumSquare', [x, g.int64([2, 3])], [{ shape: [1, c, 1, 1] }], { keepdims: attr.i(1) });
          const mean = g.reduceMean(x, [2, 3], true);
          const variance = g.relu(g.sub(g.div(sumSquares!, g.elementCount(x, [2, 3])), g.mul(mean, mean)));
          g.output(`${key}.mean`, g.reshape(mean, [c]));
          g.output(`${key}.var`, g.reshape(variance, [c]));
          return { mean, variance };
        },
      });
      return emitModel(g);
    })();
    // A session of its own, freed after its one run: its arena (the proxy is larger than a tile)
    // must not stay resident beside the tiles' one.
    const runner = await compile(this.proxy, { threads: this.threads, memory: TILE_MEMORY, cache: false });
    // Shrunk to `pixels`, sides kept multiples of 4.
    const s = Math.min(1, Math.sqrt(pixels / (img.width * img.height)));
    const w = Math.max(MULTIPLE, Math.floor((img.width * s) / MULTIPLE) * MULTIPLE);
    const h = Math.max(MULTIPLE, Math.floor((img.height * s) / MULTIPLE) * MULTIPLE);
    const small = resizeImage(new Image(img.width, img.height, 3, img.data), w, h);
    let out: Record<string, TensorValue>;
    try {
      out = await runner.run({ image: { data: small.data, shape: [1, 3, h, w] } });
    } finally {
      await runner.release();
    }
    const stats = new Map<string, NormStats>();
    for (const n of transformerNetNorms(this.spec)) stats.set(n.key, { mean: out[`${n.key}.mean`]!.data as Float32Array, variance: out[`${n.key}.var`]!.data as Float32Array });
    return stats;
  }

  private tileFeeds(img: PaddedImage, tile: Tile, stats: Map<string, NormStats>): Record<string, TensorValue> {
    const { ext } = tile;
    const feeds: Record<string, TensorValue> = {
      image: { data: cropPlanar(img.data, 3, img.width, img.height, ext), shape: [1, 3, ext.y1 - ext.y0, ext.x1 - ext.x0] },
    };
    for (const [key, s] of stats) {
      feeds[`${key}.mean`] = { data: s.mean, shape: [1, s.mean.length, 1, 1] };
      feeds[`${key}.var`] = { data: s.variance, shape: [1, s.variance.length, 1, 1] };
    }
    return feeds;
  }
}
