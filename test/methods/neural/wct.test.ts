import { afterAll, describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { Image } from '../../../src/core/image.js';
import { runMethod } from '../../../src/core/stylize.js';
import { wct } from '../../../src/methods/neural/wct.js';
import { computeMetric } from '../../../src/metrics/metric.js';
import { ssim } from '../../../src/metrics/ssim.js';
import { gradientImage, noiseImage, tempDir } from '../../helpers/fixtures.js';
import { TEST_MODEL_HOME, installSharedModel, sharedWeightsPresent } from '../../helpers/shared-models.js';
import { runTorchReference, sharedWeights, torchPython } from '../../helpers/torch-reference.js';
import { restoreHomeAfterAll } from '../../helpers/temporary-home.js';

/**
 * neural.wct: a missing model names the command that installs it; on the real weights (linked from
 * ../shared/weights as an installed store) the multi-level result matches a PyTorch run of the
 * same loop written from the paper (test/helpers/torch_style_nets.py).
 */

restoreHomeAfterAll();
const work = tempDir('atelier-wct-');
afterAll(() => work.cleanup());

/** Per-channel mean and standard deviation. */
function channelStats(data: Float32Array, pixels: number): number[] {
  const out: number[] = [];
  for (let c = 0; c < 3; c++) {
    let s = 0;
    let q = 0;
    for (let i = 0; i < pixels; i++) {
      const v = data[c * pixels + i]!;
      s += v;
      q += v * v;
    }
    const m = s / pixels;
    out.push(m, Math.sqrt(Math.max(0, q / pixels - m * m)));
  }
  return out;
}

describe('neural.wct', () => {
  it('fails with E_WEIGHTS_MISSING and the pull command when the model is not installed', async () => {
    const empty = tempDir('atelier-empty-home-');
    process.env.ATELIER_HOME = empty.dir;
    try {
      const err = await runMethod(wct, { content: gradientImage(32, 32), style: noiseImage(32, 32), extra: {} }, { network: 'vgg19' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AtelierError);
      expect((err as AtelierError).code).toBe('E_WEIGHTS_MISSING');
      expect((err as AtelierError).hint).toContain('atelier models pull vgg19-relu3_1');
    } finally {
      empty.cleanup();
    }
  });

  it.skipIf(!sharedWeightsPresent || !torchPython).each([
    ['vgg19', [3, 2, 1], 1],
    ['cd16x', [5, 4, 3, 2, 1], 0.7],
  ] as const)('%s levels %j, alpha %f: output statistics match the PyTorch reference', async (network, levels, alpha) => {
    await installSharedModel(network === 'vgg19' ? 'vgg19-relu3_1' : 'wct-cd16x');
    process.env.ATELIER_HOME = TEST_MODEL_HOME;
    const content = gradientImage(96, 64);
    const style = noiseImage(64, 64, 3, [0.7, 0.4, 0.2], 0.25);
    const r = await runMethod(wct, { content, style, extra: {} }, { network, levels: [...levels], alpha }, { threads: 1 });
    const ref = runTorchReference(
      {
        kind: 'universal',
        network,
        levels: [...levels],
        transform: 'wct',
        alpha,
        dir: `${sharedWeights}/${network === 'vgg19' ? 'vgg19-relu3_1' : 'wct-cd16x'}`,
        input: { data: content.data, shape: [1, 3, 64, 96] },
        style: { data: style.data, shape: [1, 3, 64, 64] },
      },
      work.dir,
    );
    const ours = channelStats(r.image.data, 96 * 64);
    const theirs = channelStats(ref.data, 96 * 64);
    let mad = 0;
    for (let i = 0; i < ref.data.length; i++) mad += Math.abs(ref.data[i]! - r.image.data[i]!);
    mad /= ref.data.length;
    console.log(`${network}: ours ${ours.map((v) => v.toFixed(3)).join(' ')} torch ${theirs.map((v) => v.toFixed(3)).join(' ')}; mean |Δ| ${mad.toExponential(2)}`);
    for (let i = 0; i < 6; i++) expect(Math.abs(ours[i]! - theirs[i]!)).toBeLessThan(2e-3);
    expect(mad).toBeLessThan(1e-3);
    // The style moved the colours: the result is far from the content.
    let moved = 0;
    for (let i = 0; i < content.data.length; i++) moved += Math.abs(content.data[i]! - r.image.data[i]!);
    expect(moved / content.data.length).toBeGreaterThan(0.05);
    expect(new Image(96, 64, 3, ref.data).width).toBe(96);
  }, 300_000);

  it('photoreal mode smooths the result guided by the content: closer to the content’s structure than the raw levels', async () => {
    const content = gradientImage(64, 48);
    const style = noiseImage(48, 48, 4, [0.3, 0.6, 0.8], 0.4);
    const raw = await runMethod(wct, { content, style, extra: {} }, { weights: 'random', levels: [2, 1] });
    const photo = await runMethod(wct, { content, style, extra: {} }, { weights: 'random', mode: 'photoreal' });
    expect(photo.meta.levels).toEqual([2, 1]);
    const s0 = (await computeMetric(ssim, { output: raw.image, content })).value;
    const s1 = (await computeMetric(ssim, { output: photo.image, content })).value;
    expect(s1).toBeGreaterThan(s0);
  });
});
