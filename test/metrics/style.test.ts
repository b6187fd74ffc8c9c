import { afterAll, describe, expect, it } from 'vitest';
import { computeMetric } from '../../src/metrics/metric.js';
import { styleDistance } from '../../src/metrics/style.js';
import { gradientImage, noiseImage, tempDir } from '../helpers/fixtures.js';
import { TEST_MODEL_HOME, installSharedModel, sharedWeightsPresent } from '../helpers/shared-models.js';
import { runTorchReference, sharedWeights, torchPython } from '../helpers/torch-reference.js';
import { restoreHomeAfterAll } from '../helpers/temporary-home.js';

/** The `style` metric on the real VGG-19 against the same Gram distance computed with PyTorch. */

restoreHomeAfterAll();
const work = tempDir('atelier-style-metric-');
afterAll(() => work.cleanup());

describe('style metric', () => {
  it('is 0 for the style itself and positive otherwise (random weights, labelled)', async () => {
    const s = noiseImage(48, 40, 3, [0.6, 0.3, 0.2]);
    const same = await computeMetric(styleDistance, { output: s, style: s }, { weights: 'random' });
    expect(same.value).toBe(0);
    const other = await computeMetric(styleDistance, { output: gradientImage(48, 40), style: s }, { weights: 'random' });
    expect(other.value).toBeGreaterThan(0.05);
    expect(other.notes?.[0]).toContain('random');
  });

  it.skipIf(!sharedWeightsPresent || !torchPython)('matches PyTorch on the real relu1_1…relu3_1', async () => {
    await installSharedModel('vgg19-relu3_1');
    process.env.ATELIER_HOME = TEST_MODEL_HOME;
    const out = gradientImage(64, 48);
    const style = noiseImage(56, 40, 4, [0.3, 0.5, 0.7], 0.3);
    const ours = await computeMetric(styleDistance, { output: out, style });
    expect(ours.notes).toBeUndefined();
    const ref = runTorchReference(
      { kind: 'style-distance', dir: `${sharedWeights}/vgg19-relu3_1`, input: { data: out.data, shape: [1, 3, 48, 64] }, style: { data: style.data, shape: [1, 3, 40, 56] } },
      work.dir,
    );
    const layers = ['relu1_1', 'relu2_1', 'relu3_1'];
    layers.forEach((l, i) => expect(ours.parts[l]).toBeCloseTo(ref.data[i]!, 4));
    expect(ours.value).toBeCloseTo((ref.data[0]! + ref.data[1]! + ref.data[2]!) / 3, 4);
  }, 300_000);
});
