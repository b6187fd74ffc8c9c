import { AtelierError } from '../core/errors.js';
import type { Image } from '../core/image.js';
import { limitSize } from '../core/resample.js';
import { Graph } from '../engine/graph/graph.js';
import { gram } from '../engine/losses/style-losses.js';
import { randomVgg19Weights, vgg19, type VggTap } from '../engine/nets/vgg19.js';
import { compile, type Runner } from '../engine/runtime.js';
import { readModelWeights } from '../engine/store.js';
import type { MetricContext } from './metric.js';
import { cachedMetricNetwork, type WeightsSource } from './network-cache.js';

/**
 * VGG-19 features for the neural metrics `gram` and `content-loss`: the "normalised VGG" of
 * AdaIN/WCT/CAP-VSTNet (model store name `vgg_normalised`; a 1×1 input conv, reflection padding,
 * max pooling) — the network of the Gram-loss demo CAP-VSTNet's authors posted in their issue #16
 * (github.com/linfengWen98/CAP-VSTNet/issues/16). One compiled graph with symbolic H/W returns the
 * Gram matrices at relu1_1 … relu5_1 and the conv4_2 features of an image.
 *
 * Without installed weights the metrics fail with E_WEIGHTS_MISSING, unless the caller asked for
 * `weights: 'random'`: then seeded random weights are used and every result carries a note saying
 * so — such numbers only compare images scored in the same way, never with published ones.
 */

export const VGG_METRIC_MODEL = 'vgg_normalised';
export const GRAM_LAYERS = ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'] as const satisfies readonly VggTap[];
export const CONTENT_LAYER: VggTap = 'conv4_2';
/** Images are scored at most this large on the long side (time and memory: VGG-19 at 1024² is ~5× slower). */
export const VGG_MAX_SIDE = 512;
/** The seed of random weights: fixed, so every method in a comparison is scored by the same network. */
export const RANDOM_WEIGHTS_SEED = 1;

export interface VggFeatures {
  /** Per GRAM_LAYERS entry: C×C Gram matrix F·Fᵀ / (C·H·W). */
  grams: Float32Array[];
  /** conv4_2 features, 1×512×h×w. */
  content: { data: Float32Array; shape: number[] };
}

export interface VggExtractor {
  features(img: Image): Promise<VggFeatures>;
  /** Set when the weights are random: the label every result must carry. */
  note?: string;
}

const cache = new Map<string, Promise<VggExtractor>>();

async function build(source: WeightsSource, threads: number): Promise<VggExtractor> {
  const weights =
    source === 'installed' ? await readModelWeights(VGG_METRIC_MODEL) : randomVgg19Weights('normalised', RANDOM_WEIGHTS_SEED, 'relu5_1');
  const g = new Graph();
  const x = g.input('image', [1, 3, 'H', 'W']);
  const f = vgg19(g, x, weights, { layout: 'normalised', taps: [...GRAM_LAYERS, CONTENT_LAYER] });
  GRAM_LAYERS.forEach((layer, i) => g.output(`gram${i}`, gram(g, f[layer]!)));
  g.output('content', f[CONTENT_LAYER]!);
  const runner: Runner = await compile(g, { threads, memory: 'lean' });
  return {
    ...(source === 'random' && {
      note: `random VGG-19 weights (seed ${RANDOM_WEIGHTS_SEED}), not the published ${VGG_METRIC_MODEL}: compare only with numbers made the same way`,
    }),
    async features(img: Image) {
      const im = limitSize(img, VGG_MAX_SIDE);
      if (Math.min(im.width, im.height) < 16) {
        throw new AtelierError('E_IMAGE_EMPTY', 'The image is too small for VGG features', { expected: 'at least 16×16 pixels', received: `${im.width}×${im.height}` });
      }
      const out = await runner.run({ image: { data: im.data, shape: [1, 3, im.height, im.width] } });
      return {
        grams: GRAM_LAYERS.map((_, i) => out[`gram${i}`]!.data as Float32Array),
        content: { data: out.content!.data as Float32Array, shape: out.content!.shape },
      };
    },
  };
}

/** The extractor for this context: installed weights when present, random ones only when asked. */
export function vggExtractor(ctx: MetricContext, metricId: string): Promise<VggExtractor> {
  return cachedMetricNetwork(cache, metricId, [VGG_METRIC_MODEL], ctx, build);
}

/** Mean squared difference of two equally long arrays. */
export function meanSquaredDifference(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    s += d * d;
  }
  return s / a.length;
}
