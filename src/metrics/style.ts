import { AtelierError } from '../core/errors.js';
import type { Image } from '../core/image.js';
import { limitSize } from '../core/resample.js';
import { Graph } from '../engine/graph/graph.js';
import { gram } from '../engine/losses/style-losses.js';
import { readModelFile } from '../engine/nets/model-files.js';
import { randomVgg19Weights, vgg19, type VggTap } from '../engine/nets/vgg19.js';
import { WCT_MODELS } from '../engine/nets/wct-autoencoders.js';
import { compile, type Runner } from '../engine/runtime.js';
import { defineMetric } from './metric.js';
import { cachedMetricNetwork, type WeightsSource } from './network-cache.js';
import { RANDOM_WEIGHTS_SEED, VGG_MAX_SIDE } from './vgg-features.js';

/**
 * Style distance on real features (the report's "style similarity"): the Gram matrices
 * G = F·Fᵀ / (C·H·W) of the output and of the style at relu1_1, relu2_1 and relu3_1 of the real
 * normalised VGG-19 (`vgg19-relu3_1`, the AdaIN/WCT encoder), compared by relative Frobenius norm
 * ‖G_out − G_style‖_F / ‖G_style‖_F and averaged over the three layers. Relative, so each layer
 * weighs the same whatever its feature scale, and 0 means the same second-order statistics
 * (1 is as far as a Gram matrix of zeros). Images are scored at most VGG_MAX_SIDE on the long side.
 */

export const STYLE_LAYERS = ['relu1_1', 'relu2_1', 'relu3_1'] as const satisfies readonly VggTap[];
const MODEL = WCT_MODELS.vgg19;
const ENCODER_FILE = 'vgg_normalised_conv3_1.pth';

interface GramExtractor {
  grams(img: Image): Promise<Float32Array[]>;
  note?: string;
}

const cache = new Map<string, Promise<GramExtractor>>();

async function build(source: WeightsSource, threads: number): Promise<GramExtractor> {
  const weights = source === 'installed' ? await readModelFile(MODEL, ENCODER_FILE) : randomVgg19Weights('normalised', RANDOM_WEIGHTS_SEED, 'relu3_1');
  const g = new Graph();
  const f = vgg19(g, g.input('image', [1, 3, 'H', 'W']), weights, { layout: 'normalised', taps: STYLE_LAYERS });
  STYLE_LAYERS.forEach((layer, i) => g.output(`gram${i}`, gram(g, f[layer]!)));
  const runner: Runner = await compile(g, { threads, memory: 'lean' });
  return {
    ...(source === 'random' && { note: `random VGG-19 weights (seed ${RANDOM_WEIGHTS_SEED}), not the published ${MODEL}: compare only with numbers made the same way` }),
    async grams(img: Image) {
      const im = limitSize(img, VGG_MAX_SIDE);
      if (Math.min(im.width, im.height) < 4) {
        throw new AtelierError('E_IMAGE_EMPTY', 'The image is too small for VGG features', { expected: 'at least 4×4 pixels', received: `${im.width}×${im.height}` });
      }
      const out = await runner.run({ image: { data: im.data, shape: [1, 3, im.height, im.width] } });
      return STYLE_LAYERS.map((_, i) => out[`gram${i}`]!.data as Float32Array);
    },
  };
}

/** ‖a − b‖_F / ‖b‖_F. */
export function relativeFrobenius(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    const e = a[i]! - b[i]!;
    d += e * e;
    n += b[i]! * b[i]!;
  }
  return n > 0 ? Math.sqrt(d / n) : d > 0 ? Infinity : 0;
}

export const styleDistance = defineMetric({
  id: 'style',
  title: 'Style distance (real VGG-19 Gram, relative)',
  summary: 'Style likeness: relative Frobenius distance of Gram matrices of output and style at the real VGG-19 relu1_1, relu2_1, relu3_1, averaged',
  reference: 'Gatys et al. 2016 (Gram matrices); the real normalised VGG-19 of Huang & Belongie 2017 / Li et al. 2017',
  higherIsBetter: false,
  aspect: 'style',
  needs: ['style'],
  weights: [{ model: MODEL, description: 'normalised VGG-19 to relu3_1 (vgg_normalised_conv3_1.pth)' }],
  async compute({ output, style }, ctx) {
    const net = await cachedMetricNetwork(cache, 'style', [MODEL], ctx, build);
    const [a, b] = [await net.grams(output), await net.grams(style!)];
    const parts: Record<string, number> = {};
    let value = 0;
    STYLE_LAYERS.forEach((layer, i) => {
      parts[layer] = relativeFrobenius(a[i]!, b[i]!);
      value += parts[layer] / STYLE_LAYERS.length;
    });
    return { value, parts, ...(net.note && { notes: [net.note] }) };
  },
});
