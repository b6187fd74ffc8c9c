import { afterAll, describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { runMethod } from '../../../src/core/stylize.js';
import { adainTransform } from '../../../src/engine/features/adain.js';
import { featureMoments } from '../../../src/engine/features/cwct.js';
import { Rng } from '../../../src/core/rng.js';
import { adain } from '../../../src/methods/neural/adain.js';
import { gradientImage, noiseImage, tempDir } from '../../helpers/fixtures.js';
import { TEST_MODEL_HOME, installSharedModel, sharedWeightsPresent } from '../../helpers/shared-models.js';
import { runTorchReference, sharedWeights, torchPython } from '../../helpers/torch-reference.js';
import { restoreHomeAfterAll } from '../../helpers/temporary-home.js';

/**
 * neural.adain: the AdaIN transform's algebra (statistics, α, interpolation), a missing model, and
 * the real relu3_1 encoder/decoder against a PyTorch run of the paper's pipeline.
 */

restoreHomeAfterAll();
const work = tempDir('atelier-adain-');
afterAll(() => work.cleanup());

function features(channels: number, pixels: number, seed: number, scale: number, shift: number) {
  const rng = new Rng(seed);
  return { channels, pixels, data: Float32Array.from({ length: channels * pixels }, (_, i) => rng.normal() * scale * (1 + (i % 3)) + shift) };
}

describe('AdaIN transform', () => {
  const c = featureMoments(features(4, 500, 1, 1, 0));
  const s1 = featureMoments(features(4, 400, 2, 3, 2));
  const s2 = featureMoments(features(4, 300, 3, 0.5, -1));

  it('gives the content the style’s means and deviations (α = 1), and is the identity at α = 0', () => {
    const t = adainTransform(c, [{ moments: s1, weight: 1 }], 1);
    for (let k = 0; k < 4; k++) {
      expect(t.target[k]).toBeCloseTo(s1.mean[k]!, 10);
      const gain = t.matrix[k * 4 + k]!;
      expect(gain * Math.sqrt(c.cov[k * 5]! + 1e-5)).toBeCloseTo(Math.sqrt(s1.cov[k * 5]! + 1e-5), 8);
    }
    const id = adainTransform(c, [{ moments: s1, weight: 1 }], 0);
    for (let k = 0; k < 4; k++) {
      expect(id.matrix[k * 5]).toBeCloseTo(1, 12);
      expect(id.target[k]).toBeCloseTo(c.mean[k]!, 12);
    }
  });

  it('interpolates styles: a mix with one style at weight 1 is that style; weights mix gains and means linearly', () => {
    const one = adainTransform(c, [{ moments: s1, weight: 1 }, { moments: s2, weight: 0 }], 1);
    const alone = adainTransform(c, [{ moments: s1, weight: 1 }], 1);
    expect([...one.matrix]).toEqual([...alone.matrix]);
    expect([...one.target]).toEqual([...alone.target]);
    const b = adainTransform(c, [{ moments: s2, weight: 1 }], 1);
    const mix = adainTransform(c, [{ moments: s1, weight: 0.25 }, { moments: s2, weight: 0.75 }], 1);
    for (let k = 0; k < 4; k++) {
      expect(mix.matrix[k * 5]).toBeCloseTo(0.25 * alone.matrix[k * 5]! + 0.75 * b.matrix[k * 5]!, 10);
      expect(mix.target[k]).toBeCloseTo(0.25 * alone.target[k]! + 0.75 * b.target[k]!, 10);
    }
  });
});

describe('neural.adain', () => {
  it('fails with E_WEIGHTS_MISSING and the pull command when vgg19-relu3_1 is not installed', async () => {
    const empty = tempDir('atelier-empty-home-');
    process.env.ATELIER_HOME = empty.dir;
    try {
      const err = await runMethod(adain, { content: gradientImage(32, 32), style: noiseImage(32, 32), extra: {} }).catch((e: unknown) => e);
      expect((err as AtelierError).code).toBe('E_WEIGHTS_MISSING');
      expect((err as AtelierError).hint).toContain('atelier models pull vgg19-relu3_1');
    } finally {
      empty.cleanup();
    }
  });

  it.skipIf(!sharedWeightsPresent || !torchPython)('matches the PyTorch reference on the real relu3_1 encoder and decoder (α 0.8)', async () => {
    await installSharedModel('vgg19-relu3_1');
    process.env.ATELIER_HOME = TEST_MODEL_HOME;
    const content = gradientImage(80, 64);
    const style = noiseImage(64, 48, 5, [0.2, 0.5, 0.7], 0.3);
    const r = await runMethod(adain, { content, style, extra: {} }, { alpha: 0.8 }, { threads: 1 });
    const ref = runTorchReference(
      {
        kind: 'universal',
        network: 'vgg19',
        levels: [3],
        transform: 'adain',
        alpha: 0.8,
        dir: `${sharedWeights}/vgg19-relu3_1`,
        input: { data: content.data, shape: [1, 3, 64, 80] },
        style: { data: style.data, shape: [1, 3, 48, 64] },
      },
      work.dir,
    );
    let max = 0;
    let moved = 0;
    for (let i = 0; i < ref.data.length; i++) {
      max = Math.max(max, Math.abs(ref.data[i]! - r.image.data[i]!));
      moved += Math.abs(content.data[i]! - r.image.data[i]!);
    }
    console.log(`neural.adain vs torch: max |Δ| ${max.toExponential(2)}; mean change from content ${(moved / ref.data.length).toFixed(3)}`);
    expect(max).toBeLessThan(1e-3);
    expect(moved / ref.data.length).toBeGreaterThan(0.03);
  }, 300_000);
});
