import { throwIfAborted } from '../../core/errors.js';
import { Image } from '../../core/image.js';
import {
  MomentAccumulator,
  applyAffine,
  applyAffineWith,
  applyRegionTransforms,
  applyRegionTransformsWith,
  indicesByLabel,
  regionTransforms,
  type AffineTransform,
  type FeatureMap,
  type Moments,
  type RegionTransforms,
  type StyleMoments,
} from '../features/cwct.js';
import type { Float64Products } from '../features/float64-products.js';
import type { PartRunner } from '../switched-runner.js';
import { TileBlender, cropPlanar, planTiles, type Rect, type Tile, type TilePlan } from './capvst/tiles.js';

/**
 * Feature-statistics transfer through an encoder/decoder pair, on images of any size within a
 * memory bound: the universal style transfer loop of Li et al. 2017 (WCT) and Huang & Belongie 2017
 * (AdaIN). Features of the styles and the content are computed tile by tile and their moments
 * accumulated over the tiles' cores (so they are the whole image's); one affine transform (cWCT or
 * AdaIN, per label region when masks pair regions) is built in float64; the content's features,
 * transformed, are decoded tile by tile and the tiles cross-faded over their margins
 * (capvst/tiles.ts). Content features are kept between the passes while they fit in
 * `storeLimitBytes`, else computed again, so memory stays bounded for any size. CAP-VSTNet runs the
 * same loop with its reversible network as both halves (capvst/stylizer.ts).
 */

export interface AutoencoderLevel {
  /** Graph input `image` [1, 3, H, W] → output `features` [1, channels, H/stride, W/stride]. */
  encoder: PartRunner;
  /** Graph input `features` → output `image`. */
  decoder: PartRunner;
  channels: number;
  stride: number;
  /** Sides the encoder accepts are multiples of this (default: the stride). */
  sizeMultiple?: number;
  /** The smallest side the encoder accepts; smaller images are mirror-padded up to it. */
  minSide?: number;
  /**
   * Called once the encoder is no longer needed in this level (the content's features are kept),
   * so a session that holds an arena can free it before the decoder fills its own.
   */
  encoderDone?: () => Promise<void>;
}

/** What tiling needs to know of a level. */
export type LevelGeometry = Pick<AutoencoderLevel, 'stride' | 'sizeMultiple' | 'minSide'>;

export type TransformBuilder = (content: Moments, styles: StyleMoments[], alpha: number) => AffineTransform;

export interface TransferStyle {
  image: Image;
  weight: number;
  /** Label per style pixel (first style only), paired with `contentLabels`. */
  labels?: Int32Array;
}

export interface TransferOptions {
  alpha: number;
  build: TransformBuilder;
  contentLabels?: Int32Array;
  /** Largest tile the encoder and decoder see, in pixels (core plus margins). */
  maxTilePixels: number;
  /** Context around each tile's core (rounded up to a multiple of the stride). */
  margin: number;
  storeLimitBytes?: number;
  /**
   * Whether the transform needs whole covariances (the cWCT) or only each channel's variance
   * (AdaIN, whose `cov` then holds only its diagonal). Default true.
   */
  covariance?: boolean;
  /** Where the float64 covariances and the transform's products run (default: JavaScript). */
  products?: Float64Products;
  signal?: AbortSignal;
  /** Called once per tile processed. */
  tick?: () => void;
}

export const DEFAULT_STORE_LIMIT = 256 * 2 ** 20;

interface Padded {
  data: Float32Array;
  width: number;
  height: number;
  innerWidth: number;
  innerHeight: number;
}

/** Mirror index into [0, n) for any integer. */
function mirror(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const m = ((i % period) + period) % period;
  return m < n ? m : period - m;
}

/** A side padded to a multiple of `multiple`, and at least `minSide`. */
function paddedSide(length: number, multiple: number, minSide: number): number {
  return Math.max(minSide, Math.ceil(length / multiple) * multiple);
}

/** Reflect-pad an RGB image at the bottom and right to multiples of `multiple` (and at least `minSide`). */
export function padToMultiple(img: Image, multiple: number, minSide = 0): Padded {
  const width = paddedSide(img.width, multiple, minSide);
  const height = paddedSide(img.height, multiple, minSide);
  if (width === img.width && height === img.height && img.channels === 3) return { data: img.data, width, height, innerWidth: width, innerHeight: height };
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

/** Crop a planar RGB result back to `width` × `height`. */
export function cropToImage(data: Float32Array, padded: { width: number; height: number }, width: number, height: number): Image {
  if (padded.width === width && padded.height === height) return new Image(width, height, 3, data);
  return new Image(width, height, 3, cropPlanar(data, 3, padded.width, padded.height, { x0: 0, y0: 0, x1: width, y1: height }));
}

function featureLabels(labels: Int32Array, img: Padded, r: Rect, stride: number): Int32Array {
  const fw = (r.x1 - r.x0) / stride;
  const fh = (r.y1 - r.y0) / stride;
  const out = new Int32Array(fw * fh);
  const off = Math.floor(stride / 2);
  for (let y = 0; y < fh; y++) {
    const iy = Math.min(img.innerHeight - 1, r.y0 + y * stride + off);
    for (let x = 0; x < fw; x++) out[y * fw + x] = labels[iy * img.innerWidth + Math.min(img.innerWidth - 1, r.x0 + x * stride + off)]!;
  }
  return out;
}

function coreIndices(tile: Tile, s: number): Int32Array {
  const fw = (tile.ext.x1 - tile.ext.x0) / s;
  const cx0 = (tile.core.x0 - tile.ext.x0) / s;
  const cy0 = (tile.core.y0 - tile.ext.y0) / s;
  const cw = (tile.core.x1 - tile.core.x0) / s;
  const ch = (tile.core.y1 - tile.core.y0) / s;
  const out = new Int32Array(cw * ch);
  for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) out[y * cw + x] = (cy0 + y) * fw + cx0 + x;
  return out;
}

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
      store.data.set(z.data.subarray(src, src + cw), (c * fullHeight + tile.core.y0 / s + y) * fullWidth + tile.core.x0 / s);
    }
  }
}

interface EncodedMoments {
  global: Moments;
  byLabel: Map<number, Moments>;
}

/** Tiles for an image at one level (boundaries and margins multiples of the stride). */
export function planLevelTiles(width: number, height: number, level: LevelGeometry, o: Pick<TransferOptions, 'maxTilePixels' | 'margin'>): TilePlan {
  return planTiles(width, height, o.maxTilePixels, o.margin, level.sizeMultiple ?? level.stride);
}

async function encodeRect(level: AutoencoderLevel, img: Padded, r: Rect): Promise<FeatureMap> {
  const w = r.x1 - r.x0;
  const h = r.y1 - r.y0;
  const data = w === img.width && h === img.height ? img.data : cropPlanar(img.data, 3, img.width, img.height, r);
  const { features } = await level.encoder.run({ image: { data, shape: [1, 3, h, w] } });
  return { channels: level.channels, pixels: (w / level.stride) * (h / level.stride), data: features!.data as Float32Array };
}

/** Where the content's features are kept between the passes: copied into `store`, or (one tile covering the image) the encoder's output itself. */
interface FeatureStore {
  store?: FeatureMap;
  whole?: boolean;
}

/** Whether a plan is a single tile whose core is the whole image (nothing to crop, blend or copy). */
function singleWholeTile(plan: TilePlan, width: number, height: number): boolean {
  if (plan.tiles.length !== 1) return false;
  const { core, ext } = plan.tiles[0]!;
  return core.x0 === 0 && core.y0 === 0 && core.x1 === width && core.y1 === height && ext.x0 === 0 && ext.y0 === 0 && ext.x1 === width && ext.y1 === height;
}

async function encodeMoments(level: AutoencoderLevel, img: Padded, plan: TilePlan, labels: Int32Array | undefined, o: TransferOptions, keep?: FeatureStore): Promise<EncodedMoments> {
  const s = level.stride;
  const covariance = o.covariance ?? true;
  const global = new MomentAccumulator(level.channels, covariance);
  const perLabel = new Map<number, MomentAccumulator>();
  for (const tile of plan.tiles) {
    if (o.signal) throwIfAborted(o.signal);
    const z = await encodeRect(level, img, tile.ext);
    const core = coreIndices(tile, s);
    const whole = core.length === z.pixels;
    if (o.products) await global.addWith(o.products, z, whole ? undefined : core);
    else global.add(z, whole ? undefined : core);
    if (labels) {
      const tileLabels = featureLabels(labels, img, tile.ext, s);
      const coreLabels = Int32Array.from(core, (i) => tileLabels[i]!);
      for (const [label, idx] of indicesByLabel(coreLabels)) {
        let acc = perLabel.get(label);
        if (!acc) perLabel.set(label, (acc = new MomentAccumulator(level.channels, covariance)));
        const index = Int32Array.from(idx, (k) => core[k]!);
        if (o.products) await acc.addWith(o.products, z, index);
        else acc.add(z, index);
      }
    }
    if (keep?.whole) keep.store = z;
    else if (keep?.store) copyCore(z, tile, s, keep.store, plan.width / s);
    o.tick?.();
  }
  return { global: global.moments(), byLabel: new Map([...perLabel].map(([l, a]) => [l, a.moments()])) };
}

/**
 * Whether `transferLevel` keeps the content's features between its two passes (they fit in
 * `storeLimitBytes`). If not, it encodes each tile again just before decoding it, so the encoder
 * and the decoder run in turns: sessions that hold an arena would both keep theirs resident.
 */
export function keepsContentFeatures(level: LevelGeometry & { channels: number }, content: { width: number; height: number }, o: Pick<TransferOptions, 'storeLimitBytes' | 'maxTilePixels'>): boolean {
  const multiple = level.sizeMultiple ?? level.stride;
  const pixels = (paddedSide(content.width, multiple, level.minSide ?? 0) * paddedSide(content.height, multiple, level.minSide ?? 0)) / (level.stride * level.stride);
  return level.channels * pixels * 4 <= (o.storeLimitBytes ?? DEFAULT_STORE_LIMIT);
}

/**
 * ORT memory mode for a level's sessions: 'arena' (fast: activations reuse memory instead of
 * fresh mappings the kernel faults in and zeroes) unless the content is tiled AND its features
 * are not kept, where the encoder and decoder run in turns over tiles and both arenas would stay
 * resident at once (4K and up); there 'lean' frees each activation after use.
 */
export function levelSessionMemory(level: LevelGeometry & { channels: number }, content: { width: number; height: number }, o: Pick<TransferOptions, 'storeLimitBytes' | 'maxTilePixels' | 'margin'>): 'arena' | 'lean' {
  if (keepsContentFeatures(level, content, o)) return 'arena';
  const multiple = level.sizeMultiple ?? level.stride;
  const tiles = planLevelTiles(paddedSide(content.width, multiple, level.minSide ?? 0), paddedSide(content.height, multiple, level.minSide ?? 0), level, o).tiles.length;
  return tiles === 1 ? 'arena' : 'lean';
}

/** How many tiles `transferLevel` will process (for progress). */
export function levelTileCount(level: LevelGeometry, content: Image, styles: TransferStyle[], o: TransferOptions): number {
  const multiple = level.sizeMultiple ?? level.stride;
  const count = (img: Image) => planLevelTiles(paddedSide(img.width, multiple, level.minSide ?? 0), paddedSide(img.height, multiple, level.minSide ?? 0), level, o).tiles.length;
  return styles.reduce((a, s) => a + count(s.image), 0) + 2 * count(content);
}

/** One level: encode, transfer the styles' statistics, decode. Returns an image of the content's size (not clamped). */
export async function transferLevel(level: AutoencoderLevel, content: Image, styles: TransferStyle[], o: TransferOptions): Promise<Image> {
  const s = level.stride;
  const n = level.channels;
  const pad = (img: Image) => padToMultiple(img, level.sizeMultiple ?? s, level.minSide ?? 0);
  const c = pad(content);
  const cPlan = planLevelTiles(c.width, c.height, level, o);
  const styleMoments: EncodedMoments[] = [];
  for (const [i, st] of styles.entries()) {
    const img = pad(st.image);
    const labels = i === 0 && o.contentLabels ? st.labels : undefined;
    styleMoments.push(await encodeMoments(level, img, planLevelTiles(img.width, img.height, level, o), labels, o));
  }
  const featurePixels = (c.width * c.height) / (s * s);
  const keep = keepsContentFeatures({ ...level, channels: n }, content, o);
  // One tile covering the image: its features are the store, and its decoded image the result.
  const whole = singleWholeTile(cPlan, c.width, c.height);
  const kept: FeatureStore | undefined = !keep ? undefined : whole ? { whole } : { store: { channels: n, pixels: featurePixels, data: new Float32Array(n * featurePixels) } };
  const contentMoments = await encodeMoments(level, c, cPlan, o.contentLabels, o, kept);
  const store = kept?.store;
  if (store) await level.encoderDone?.();

  const weighted = styles.map((st, i) => ({ moments: styleMoments[i]!.global, weight: st.weight }));
  const transforms: RegionTransforms = o.contentLabels
    ? regionTransforms(contentMoments.global, contentMoments.byLabel, weighted, styleMoments[0]!.byLabel, o.alpha, o.build)
    : { global: o.build(contentMoments.global, weighted, o.alpha), byLabel: new Map() };
  const transform = async (z: FeatureMap, r: Rect) => {
    const p = o.products;
    if (transforms.byLabel.size === 0) {
      if (p) await applyAffineWith(p, z, transforms.global, z.data);
      else applyAffine(z, transforms.global, z.data);
    } else {
      const labels = featureLabels(o.contentLabels!, c, r, s);
      if (p) await applyRegionTransformsWith(p, z, labels, transforms);
      else applyRegionTransforms(z, labels, transforms);
    }
  };
  if (store) await transform(store, { x0: 0, y0: 0, x1: c.width, y1: c.height });

  const blender = whole ? undefined : new TileBlender(c.width, c.height, 3);
  let single: Float32Array | undefined;
  for (const tile of cPlan.tiles) {
    if (o.signal) throwIfAborted(o.signal);
    const w = tile.ext.x1 - tile.ext.x0;
    const h = tile.ext.y1 - tile.ext.y0;
    let z: FeatureMap;
    if (store && whole) {
      z = store;
    } else if (store) {
      const fr = { x0: tile.ext.x0 / s, y0: tile.ext.y0 / s, x1: tile.ext.x1 / s, y1: tile.ext.y1 / s };
      z = { channels: n, pixels: (w * h) / (s * s), data: cropPlanar(store.data, n, c.width / s, c.height / s, fr) };
    } else {
      z = await encodeRect(level, c, tile.ext);
      await transform(z, tile.ext);
    }
    const { image } = await level.decoder.run({ features: { data: z.data, shape: [1, n, h / s, w / s] } });
    if (blender) blender.add(tile, image!.data as Float32Array);
    else single = image!.data as Float32Array;
    o.tick?.();
  }
  return cropToImage(blender ? blender.result() : single!, c, content.width, content.height);
}
