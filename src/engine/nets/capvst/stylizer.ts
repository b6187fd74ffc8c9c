import type { Image } from '../../../core/image.js';
import { Graph } from '../../graph/graph.js';
import { compile, type Runner, type SessionOptions } from '../../runtime.js';
import { cwctTransform } from '../../features/cwct.js';
import { Float64Products } from '../../features/float64-products.js';
import { levelTileCount, transferLevel, type AutoencoderLevel, type TransferOptions } from '../autoencoder-transfer.js';
import type { CapVstWeights } from './state-dict.js';
import { RevNetGraph } from './revnet.js';

/**
 * CAP-VSTNet inference on images of any size within a memory bound: the tiled feature-transfer
 * loop of autoencoder-transfer.ts with the reversible network forward as the encoder and inverse
 * as the decoder, and cWCT as the transform: content and style features tile by tile, cWCT
 * statistics over the tiles' cores (the whole image's), the transformed features back through the
 * inverse tile by tile, cross-faded (tiles.ts). The content's features are kept between the passes
 * while they fit in `storeLimitBytes`, else computed again, so memory stays bounded for any size.
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

export class CapVstStylizer {
  private constructor(
    readonly weights: CapVstWeights,
    private readonly forwardRunner: Runner,
    private readonly inverseRunner: Runner,
    /** The cWCT's covariances and colouring on ORT's float64 products, as neural.wct's (not single-threaded JavaScript). */
    private readonly products: Float64Products,
  ) {}

  /** Compile the forward and inverse graphs (one session each, for every image size). */
  static async create(weights: CapVstWeights, threads: number, session: Pick<SessionOptions, 'memory' | 'optimization'> = {}): Promise<CapVstStylizer> {
    const gf = new Graph();
    gf.output('features', new RevNetGraph(gf, weights).forward(gf.input('image', [1, 3, 'H', 'W'])));
    const gi = new Graph();
    gi.output('image', new RevNetGraph(gi, weights).inverse(gi.input('features', [1, weights.layout.featureChannels, 'h', 'w'])));
    const [forwardRunner, inverseRunner, products] = await Promise.all([compile(gf, { threads, ...session }), compile(gi, { threads, ...session }), Float64Products.get(threads)]);
    return new CapVstStylizer(weights, forwardRunner, inverseRunner, products);
  }

  /** The network as the feature-transfer loop sees it: forward as the encoder, inverse as the decoder. */
  private get level(): AutoencoderLevel {
    const { layout } = this.weights;
    return { encoder: this.forwardRunner, decoder: this.inverseRunner, channels: layout.featureChannels, stride: layout.featureStride, sizeMultiple: layout.sizeMultiple, minSide: MIN_SIDE };
  }

  async stylize(content: Image, styles: CapVstStyle[], o: CapVstStylizeOptions): Promise<Image> {
    let done = 0;
    const options: TransferOptions = {
      alpha: o.alpha,
      build: cwctTransform,
      products: this.products,
      ...(o.contentLabels && { contentLabels: o.contentLabels }),
      maxTilePixels: o.maxTilePixels ?? DEFAULT_MAX_TILE_PIXELS,
      margin: o.margin ?? DEFAULT_MARGIN,
      storeLimitBytes: o.storeLimitBytes ?? DEFAULT_STORE_LIMIT,
      ...(o.signal && { signal: o.signal }),
      tick: () => o.onProgress?.(++done, total),
    };
    const total = levelTileCount(this.level, content, styles, options);
    return transferLevel(this.level, content, styles, options);
  }
}
