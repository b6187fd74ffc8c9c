import { AtelierError } from '../core/errors.js';
import { limitSize } from '../core/resample.js';
import { Graph } from '../engine/graph/graph.js';
import { LPIPS_LAYERS, lpipsDistance, randomLpipsWeights } from '../engine/nets/lpips.js';
import { compile, type Runner } from '../engine/runtime.js';
import { readModelWeights } from '../engine/store.js';
import { defineMetric, type MetricContext } from './metric.js';
import { cachedMetricNetwork, type WeightsSource } from './network-cache.js';
import { RANDOM_WEIGHTS_SEED, VGG_MAX_SIDE } from './vgg-features.js';

/**
 * LPIPS (v0.1, VGG-16 trunk): learned perceptual distance between output and content — how far
 * the output has moved from the content as people judge it. Loads the published weights through
 * the model store (`vgg16` and `lpips_vgg`); `weights: 'random'` runs seeded random weights of the
 * same names and shapes, labelled so. Both images are scored at most 512 px on the long side.
 */

export const LPIPS_MODELS = ['vgg16', 'lpips_vgg'] as const;

interface LpipsRunner {
  runner: Runner;
  note?: string;
}

const cache = new Map<string, Promise<LpipsRunner>>();

async function build(source: WeightsSource, threads: number): Promise<LpipsRunner> {
  const { trunk, linear } =
    source === 'installed'
      ? { trunk: await readModelWeights('vgg16'), linear: await readModelWeights('lpips_vgg') }
      : randomLpipsWeights(RANDOM_WEIGHTS_SEED);
  const g = new Graph();
  const a = g.input('a', [1, 3, 'H', 'W']);
  const b = g.input('b', [1, 3, 'H', 'W']);
  const { total, layers } = lpipsDistance(g, a, b, trunk, linear);
  g.output('lpips', total);
  layers.forEach((t, i) => g.output(`layer${i}`, t));
  return {
    runner: await compile(g, { threads, memory: 'lean' }),
    ...(source === 'random' && { note: `random LPIPS weights (seed ${RANDOM_WEIGHTS_SEED}), not the published ones: compare only with numbers made the same way` }),
  };
}

function lpipsRunner(ctx: MetricContext): Promise<LpipsRunner> {
  return cachedMetricNetwork(cache, 'lpips', LPIPS_MODELS, ctx, build);
}

export const lpips = defineMetric({
  id: 'lpips',
  title: 'LPIPS perceptual distance',
  summary: 'Perceptual distance from the content (LPIPS v0.1, VGG-16 features with learned weights); 0 is identical',
  reference: 'Zhang et al. 2018 (CVPR), LPIPS v0.1',
  higherIsBetter: false,
  aspect: 'content',
  needs: ['content'],
  weights: [
    { model: 'vgg16', description: 'VGG-16 (torchvision), the LPIPS trunk' },
    { model: 'lpips_vgg', description: 'LPIPS v0.1 linear weights for VGG-16' },
  ],
  async compute({ output, content }, ctx) {
    const { runner, note } = await lpipsRunner(ctx);
    const a = limitSize(output, VGG_MAX_SIDE);
    const b = limitSize(content!, VGG_MAX_SIDE);
    if (Math.min(a.width, a.height) < 16) {
      throw new AtelierError('E_IMAGE_EMPTY', 'The image is too small for LPIPS', { expected: 'at least 16×16 pixels', received: `${a.width}×${a.height}` });
    }
    const shape = [1, 3, a.height, a.width];
    const out = await runner.run({ a: { data: a.data, shape }, b: { data: b.data, shape } });
    const parts: Record<string, number> = {};
    LPIPS_LAYERS.forEach((layer, i) => (parts[layer] = Number(out[`layer${i}`]!.data[0])));
    return { value: Number(out.lpips!.data[0]), parts, ...(note && { notes: [note] }) };
  },
});
