import { AtelierError } from '../core/errors.js';
import { limitSize } from '../core/resample.js';
import { Graph } from '../engine/graph/graph.js';
import { LPIPS_SQUEEZE_LAYERS, lpipsSqueezeDistance, randomLpipsSqueezeWeights, squeezeTrunkFromKeras } from '../engine/nets/lpips-squeeze.js';
import { compile, type Runner } from '../engine/runtime.js';
import { modelFiles } from '../engine/store.js';
import { readKerasHdf5 } from '../engine/weights/keras-hdf5.js';
import { readPth } from '../engine/weights/pth.js';
import { defineMetric, type MetricContext } from './metric.js';
import { cachedMetricNetwork, type WeightsSource } from './network-cache.js';
import { RANDOM_WEIGHTS_SEED, VGG_MAX_SIDE } from './vgg-features.js';

/**
 * LPIPS's SqueezeNet heads (v0.1) on the Caffe SqueezeNet 1.1 of the `lpips-squeeze` model. NOT
 * the published LPIPS-squeeze: the heads were fitted to torchvision's separately trained
 * squeezenet1_1 (see ../engine/nets/lpips-squeeze.ts), so this is an uncalibrated perceptual
 * distance, comparable only with itself. Every result carries that note.
 */

export const LPIPS_SQUEEZE_MODEL = 'lpips-squeeze';
const CAVEAT =
  'not the published LPIPS-squeeze: its heads were trained on torchvision squeezenet1_1, this trunk is the Caffe SqueezeNet 1.1 (other weights); an uncalibrated distance, compare only with itself';

interface SqueezeRunner {
  runner: Runner;
  notes: string[];
}

const cache = new Map<string, Promise<SqueezeRunner>>();

async function build(source: WeightsSource, threads: number): Promise<SqueezeRunner> {
  let weights;
  if (source === 'installed') {
    const model = modelFiles(LPIPS_SQUEEZE_MODEL);
    weights = { trunk: squeezeTrunkFromKeras(await readKerasHdf5(model.fileOf('hdf5'))), heads: await readPth(model.file('v0.1/squeeze.pth')) };
  } else {
    weights = randomLpipsSqueezeWeights(RANDOM_WEIGHTS_SEED);
  }
  const g = new Graph();
  const a = g.input('a', [1, 3, 'H', 'W']);
  const b = g.input('b', [1, 3, 'H', 'W']);
  const { total, layers } = lpipsSqueezeDistance(g, a, b, weights.trunk, weights.heads);
  g.output('distance', total);
  layers.forEach((t, i) => g.output(`layer${i}`, t));
  return {
    runner: await compile(g, { threads, memory: 'lean' }),
    notes: source === 'random' ? [`random weights (seed ${RANDOM_WEIGHTS_SEED}), not the published ones`, CAVEAT] : [CAVEAT],
  };
}

function squeezeRunner(ctx: MetricContext): Promise<SqueezeRunner> {
  return cachedMetricNetwork(cache, 'lpips-squeeze', [LPIPS_SQUEEZE_MODEL], ctx, build);
}

export const lpipsSqueeze = defineMetric({
  id: 'lpips-squeeze',
  title: 'SqueezeNet perceptual distance (uncalibrated)',
  summary: "Distance from the content on SqueezeNet 1.1 features weighted by LPIPS's squeeze heads; the trunk is not the one the heads were trained on, so it is not LPIPS: compare only with itself; 0 is identical",
  reference: 'Zhang et al. 2018 (LPIPS heads v0.1) on Iandola et al. 2016 SqueezeNet 1.1 (Caffe weights)',
  higherIsBetter: false,
  aspect: 'content',
  needs: ['content'],
  weights: [{ model: LPIPS_SQUEEZE_MODEL, description: 'LPIPS squeeze heads + Keras (Caffe-converted) SqueezeNet 1.1' }],
  async compute({ output, content }, ctx) {
    const { runner, notes } = await squeezeRunner(ctx);
    const a = limitSize(output, VGG_MAX_SIDE);
    const b = limitSize(content!, VGG_MAX_SIDE);
    if (Math.min(a.width, a.height) < 16) {
      throw new AtelierError('E_IMAGE_EMPTY', 'The image is too small for the SqueezeNet distance', { expected: 'at least 16×16 pixels', received: `${a.width}×${a.height}` });
    }
    const shape = [1, 3, a.height, a.width];
    const out = await runner.run({ a: { data: a.data, shape }, b: { data: b.data, shape } });
    const parts: Record<string, number> = {};
    LPIPS_SQUEEZE_LAYERS.forEach((layer, i) => (parts[layer] = Number(out[`layer${i}`]!.data[0])));
    return { value: Number(out.distance!.data[0]), parts, notes };
  },
});
