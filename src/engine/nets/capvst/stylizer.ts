import { throwIfAborted } from '../../../core/errors.js';
import { Image } from '../../../core/image.js';
import { Graph } from '../../graph/graph.js';
import { compile, type Runner, type SessionOptions } from '../../runtime.js';
import {
  MomentAccumulator,
  applyAffine,
  applyRegionTransforms,
  cwctTransform,
  indicesByLabel,
  regionTransforms,
  type FeatureMap,
  type Moments,
  type RegionTransforms,
} from '../../features/cwct.js';
import type { CapVstWeights } from './state-dict.js';
import { RevNetGraph } from './revnet.js';
import { TileBlender, cropPlanar, planTiles, type Rect, type Tile, type TilePlan } from './tiles.js';

/**
 * CAP-VSTNet inference on images of any size within a memory bound: features of the content
 * and styles come from the reversible network tile by tile; cWCT statistics are accumulated over
 * the tiles' cores (so they are the whole image's); the transformed features go back through the
 * inverse network tile by tile and the tiles are cross-faded (tiles.ts). The content's features
 * are kept between the passes while they fit in `storeLimitBytes`; beyond that they are computed
 * again in the second pass, so memory stays bounded for any image size.
 */

export interface CapVstStyle {
  image: Image;
  weight: number;
  /** Label per style pixel (first style only), paired with `contentLabels`. */
  labels?: Int32Array;
}

export interface CapVstStylizeOptions {
  /** Style strength in [0, 1]: 0 returns the content. */
  alpha: number;
  /** Label per content pixel (−1: no matching style region). */
  contentLabels?: Int32Array;
  /** Largest tile the network sees, in pixels (core plus margins). */
  maxTilePixels?: number;
  /** Context around each tile's core, in pixels. */
  margin?: number;
  /** Keep the content's features between passes up to this size. */
  storeLimitBytes?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/**
 * 768² keeps ONNX Runtime's arenas (one per session, forward and inverse) near 1.2 GB; a whole
 * 1280 × 720 frame in one tile peaked at 1.9 GB, more than PyTorch's 1.6 GB for the same work.
 */
export const DEFAULT_MAX_TILE_PIXELS = 768 * 768;
export const DEFAULT_MARGIN = 64;
export const DEFAULT_STORE_LIMIT = 768 * 2 ** 20;
/** The smallest side the network accepts (its last stage works at 1/4 with 3×3 reflect padding). */
const MIN_SIDE = 8;

interface PaddedImage {
  data: Float32Array;
  width: number;
  height: number;
  /** The image's own size inside the padded one (top-left aligned). */
  innerWidth: number;
  innerHeight: number;
}

/** Mirror index into [0, n) for any integer, however far outside. */
function mirror(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const m = ((i % period) + period) % period;
  return m < n ? m : period - m;
}

function padToMultiple(img: Image, multiple: number): PaddedImage {
  const width = Math.max(MIN_SIDE, Math.ceil(img.width / multiple) * multiple);
  const height = Math.max(MIN_SIDE, Math.ceil(img.height / multiple) * multiple);
  if (width === img.width && height === img.height && img.channels === 3) {
    return { data: img.data, width, height, innerWidth: img.width, innerHeight: img.height };
  }
  const data = new Float32Array(3 * width * height);
  for (let c = 0; c < 3; c++) {
    const src = img.plane(Math.min(c, img.channels - 1));
    for (let y = 0; y < height; y++) {
      const sy = mirror(y, img.height);
      for (let x = 0; x < width; x++) data[(c * height + y) * width + x] = src[sy * img.width + mirror(x, img.width)]!;
    }
  }
  return { data, width, height, innerWidth: img.width, innerHeight: img.height };
}

/** Labels of the feature pixels of `r` (image coordinates, multiples of the feature stride). */
function featureLabels(labels: Int32Array, img: PaddedImage, r: Rect, stride: number): Int32Array {
  const fw = (r.x1 - r.x0) / stride;
  const fh = (r.y1 - r.y0) / stride;
  const out = new Int32Array(fw * fh);
  const off = Math.floor(stride / 2);
  for (let y = 0; y < fh; y++) {
    const iy = Math.min(img.innerHeight - 1, r.y0 + y * stride + off);
    for (let x = 0; x < fw; x++) {
      const ix = Math.min(img.innerWidth - 1, r.x0 + x * stride + off);
      out[y * fw + x] = labels[iy * img.innerWidth + ix]!;
    }
  }
  return out;
}

/** Feature-map indices (within the tile's extended area) of the tile's core pixels. */
function coreIndices(tile: Tile, stride: number): Int32Array {
  const fw = (tile.ext.x1 - tile.ext.x0) / stride;
  const cx0 = (tile.core.x0 - tile.ext.x0) / stride;
  const cy0 = (tile.core.y0 - tile.ext.y0) / stride;
  const cw = (tile.core.x1 - tile.core.x0) / stride;
  const ch = (tile.core.y1 - tile.core.y0) / stride;
  const out = new Int32Array(cw * ch);
  for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) out[y * cw + x] = (cy0 + y) * fw + cx0 + x;
  return out;
}

function scaleRect(r: Rect, stride: number): Rect {
  return { x0: r.x0 / stride, y0: r.y0 / stride, x1: r.x1 / stride, y1: r.y1 / stride };
}

interface EncodedMoments {
  global: Moments;
  byLabel: Map<number, Moments>;
}

export class CapVstStylizer {
  private constructor(
    readonly weights: CapVstWeights,
    private readonly forwardRunner: Runner,
    private readonly inverseRunner: Runner,
  ) {}

  /** Compile the forward and inverse graphs (one session each, for every image size). */
  static async create(weights: CapVstWeights, threads: number, session: Pick<SessionOptions, 'memory' | 'optimization'> = {}): Promise<CapVstStylizer> {
    const gf = new Graph();
    gf.output('z', new RevNetGraph(gf, weights).forward(gf.input('image', [1, 3, 'H', 'W'])));
    const gi = new Graph();
    gi.output('image', new RevNetGraph(gi, weights).inverse(gi.input('z', [1, weights.layout.featureChannels, 'h', 'w'])));
    const [forwardRunner, inverseRunner] = await Promise.all([compile(gf, { threads, ...session }), compile(gi, { threads, ...session })]);
    return new CapVstStylizer(weights, forwardRunner, inverseRunner);
  }

  private get stride(): number {
    return this.weights.layout.featureStride;
  }

  private plan(img: PaddedImage, o: CapVstStylizeOptions): TilePlan {
    return planTiles(img.width, img.height, o.maxTilePixels ?? DEFAULT_MAX_TILE_PIXELS, o.margin ?? DEFAULT_MARGIN, this.weights.layout.sizeMultiple);
  }

  /** Features of one rectangle of the image: a map over the rectangle at feature resolution. */
  async encodeRect(img: PaddedImage, r: Rect): Promise<FeatureMap> {
    const w = r.x1 - r.x0;
    const h = r.y1 - r.y0;
    const data = r.x0 === 0 && r.y0 === 0 && w === img.width && h === img.height ? img.data : cropPlanar(img.data, 3, img.width, img.height, r);
    const { z } = await this.forwardRunner.run({ image: { data, shape: [1, 3, h, w] } });
    return { channels: this.weights.layout.featureChannels, pixels: (w / this.stride) * (h / this.stride), data: z!.data as Float32Array };
  }

  async decode(z: FeatureMap, width: number, height: number): Promise<Float32Array> {
    const { image } = await this.inverseRunner.run({ z: { data: z.data, shape: [1, z.channels, height / this.stride, width / this.stride] } });
    return image!.data as Float32Array;
  }

  /**
   * Moments of an image's features over every tile's core: the global ones and, with labels, one
   * set per label. With `store`, the core features are also copied into it (the full map).
   */
  private async encodeMoments(img: PaddedImage, plan: TilePlan, labels: Int32Array | undefined, tick: () => void, signal?: AbortSignal, store?: FeatureMap): Promise<EncodedMoments> {
    const n = this.weights.layout.featureChannels;
    const s = this.stride;
    const global = new MomentAccumulator(n);
    const perLabel = new Map<number, MomentAccumulator>();
    for (const tile of plan.tiles) {
      if (signal) throwIfAborted(signal);
      const z = await this.encodeRect(img, tile.ext);
      const core = coreIndices(tile, s);
      global.add(z, core);
      if (labels) {
        const tileLabels = featureLabels(labels, img, tile.ext, s);
        const coreLabels = Int32Array.from(core, (i) => tileLabels[i]!);
        for (const [label, idx] of indicesByLabel(coreLabels)) {
          let acc = perLabel.get(label);
          if (!acc) perLabel.set(label, (acc = new MomentAccumulator(n)));
          acc.add(z, Int32Array.from(idx, (k) => core[k]!));
        }
      }
      if (store) copyCore(z, tile, s, store, plan.width / s);
      tick();
    }
    return { global: global.moments(), byLabel: new Map([...perLabel].map(([l, a]) => [l, a.moments()])) };
  }

  async stylize(content: Image, styles: CapVstStyle[], o: CapVstStylizeOptions): Promise<Image> {
    const m = this.weights.layout.sizeMultiple;
    const s = this.stride;
    const n = this.weights.layout.featureChannels;
    const c = padToMultiple(content, m);
    const styleImages = styles.map((st) => padToMultiple(st.image, m));
    const cPlan = this.plan(c, o);
    const sPlans = styleImages.map((img) => this.plan(img, o));
    const featureBytes = (n * c.width * c.height * 4) / (s * s);
    const keep = featureBytes <= (o.storeLimitBytes ?? DEFAULT_STORE_LIMIT);
    const total = sPlans.reduce((a, p) => a + p.tiles.length, 0) + 2 * cPlan.tiles.length;
    let done = 0;
    const tick = () => o.onProgress?.(++done, total);

    const styleMoments: EncodedMoments[] = [];
    for (let i = 0; i < styles.length; i++) {
      const labels = i === 0 && o.contentLabels ? styles[0]!.labels : undefined;
      styleMoments.push(await this.encodeMoments(styleImages[i]!, sPlans[i]!, labels, tick, o.signal));
    }
    const store: FeatureMap | undefined = keep ? { channels: n, pixels: (c.width * c.height) / (s * s), data: new Float32Array((n * c.width * c.height) / (s * s)) } : undefined;
    const contentMoments = await this.encodeMoments(c, cPlan, o.contentLabels, tick, o.signal, store);

    const weighted = styles.map((st, i) => ({ moments: styleMoments[i]!.global, weight: st.weight }));
    const transforms: RegionTransforms = o.contentLabels
      ? regionTransforms(contentMoments.global, contentMoments.byLabel, weighted, styleMoments[0]!.byLabel, o.alpha)
      : { global: cwctTransform(contentMoments.global, weighted, o.alpha), byLabel: new Map() };
    const transform = (z: FeatureMap, r: Rect) => {
      if (transforms.byLabel.size === 0) applyAffine(z, transforms.global, z.data);
      else applyRegionTransforms(z, featureLabels(o.contentLabels!, c, r, s), transforms);
    };
    if (store) transform(store, { x0: 0, y0: 0, x1: c.width, y1: c.height });

    const blender = new TileBlender(c.width, c.height, 3);
    for (const tile of cPlan.tiles) {
      if (o.signal) throwIfAborted(o.signal);
      const w = tile.ext.x1 - tile.ext.x0;
      const h = tile.ext.y1 - tile.ext.y0;
      let z: FeatureMap;
      if (store) {
        z = { channels: n, pixels: (w * h) / (s * s), data: cropPlanar(store.data, n, c.width / s, c.height / s, scaleRect(tile.ext, s)) };
      } else {
        z = await this.encodeRect(c, tile.ext);
        transform(z, tile.ext);
      }
      blender.add(tile, await this.decode(z, w, h));
      tick();
    }
    const out = blender.result();
    if (c.width === content.width && c.height === content.height) return new Image(content.width, content.height, 3, out);
    return new Image(content.width, content.height, 3, cropPlanar(out, 3, c.width, c.height, { x0: 0, y0: 0, x1: content.width, y1: content.height }));
  }
}

/** Copy the core of a tile's feature map into the full map (width `fullWidth` at feature resolution). */
function copyCore(z: FeatureMap, tile: Tile, s: number, store: FeatureMap, fullWidth: number): void {
  const fw = (tile.ext.x1 - tile.ext.x0) / s;
  const fh = (tile.ext.y1 - tile.ext.y0) / s;
  const cx0 = (tile.core.x0 - tile.ext.x0) / s;
  const cy0 = (tile.core.y0 - tile.ext.y0) / s;
  const cw = (tile.core.x1 - tile.core.x0) / s;
  const ch = (tile.core.y1 - tile.core.y0) / s;
  const fullHeight = store.pixels / fullWidth;
  for (let c = 0; c < z.channels; c++) {
    for (let y = 0; y < ch; y++) {
      const src = (c * fh + cy0 + y) * fw + cx0;
      const dst = (c * fullHeight + tile.core.y0 / s + y) * fullWidth + tile.core.x0 / s;
      store.data.set(z.data.subarray(src, src + cw), dst);
    }
  }
}
