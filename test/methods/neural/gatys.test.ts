import { describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { Image } from '../../../src/core/image.js';
import type { ProgressEvent } from '../../../src/core/progress.js';
import { runMethod } from '../../../src/core/stylize.js';
import { gatys } from '../../../src/methods/neural/gatys.js';
import { computeMetric } from '../../../src/metrics/metric.js';
import { styleDistance } from '../../../src/metrics/style.js';
import { gradientImage, noiseImage, stripesImage, tempDir } from '../../helpers/fixtures.js';
import { TEST_MODEL_HOME, installSharedModel, sharedWeightsPresent } from '../../helpers/shared-models.js';

// Shallow layers keep the random network small (the full VGG to relu5_1 is covered by test/engine).
const base = { weights: 'random', size: 48, pyramid: 1, seed: 3, contentLayer: 'relu3_1', styleLayers: ['relu1_1', 'relu2_1', 'relu3_1'] };

function stepValues(events: ProgressEvent[]) {
  return events.filter((e): e is Extract<ProgressEvent, { type: 'step' }> => e.type === 'step' && e.values !== undefined).map((e) => e.values!);
}

describe('neural.gatys', () => {
  it('with L-BFGS, lowers the loss at every iteration and the style loss below 20 % of its start', async () => {
    const events: ProgressEvent[] = [];
    const r = await runMethod(gatys, { content: gradientImage(40, 32), style: stripesImage(40, 40, 8) }, { ...base, iterations: 12 }, { onProgress: (e) => events.push(e), threads: 2 });
    const values = stepValues(events);
    expect(values.length).toBeGreaterThanOrEqual(10);
    for (let i = 1; i < values.length; i++) expect(values[i]!.loss!).toBeLessThanOrEqual(values[i - 1]!.loss! * (1 + 1e-6));
    // The breakdown is reported every iteration.
    expect(Object.keys(values[0]!)).toEqual(expect.arrayContaining(['loss', 'content', 'style', 'tv', 'style.relu1_1', 'style.relu3_1']));
    // The first report is the starting point (iteration 0).
    expect(values.at(-1)!.style!).toBeLessThan(0.2 * values[0]!.style!);
    expect(r.meta.weights).toMatch(/^random/);
    expect(r.image.width).toBe(40);
  }, 60_000);

  it('with Adam, lowers the loss', async () => {
    const events: ProgressEvent[] = [];
    await runMethod(gatys, { content: gradientImage(40, 40), style: stripesImage(40, 40, 6) }, { ...base, optimizer: 'adam', learningRate: 0.05, iterations: 10}, { onProgress: (e) => events.push(e), threads: 2 });
    const values = stepValues(events);
    expect(values.at(-1)!.loss!).toBeLessThan(0.7 * values[0]!.loss!);
  }, 60_000);

  it('runs a coarse-to-fine pyramid and keeps the content size', async () => {
    const r = await runMethod(gatys, { content: gradientImage(70, 50), style: noiseImage(40, 40, 2) }, { ...base, size: 64, pyramid: 2, iterations: 2, styleLayers: ['relu1_1', 'relu3_1'] }, { threads: 2 });
    expect(r.meta.levels).toEqual(['32×23', '64×46']);
    expect([r.image.width, r.image.height]).toEqual([70, 50]);
  }, 60_000);

  it('blends several styles by weight (weights 1, 0 give exactly the first style alone)', async () => {
    const content = gradientImage(40, 32);
    const a = stripesImage(40, 40, 6);
    const b = noiseImage(40, 40, 5);
    const p = { ...base, iterations: 3, styleLayers: ['relu1_1', 'relu2_1'], contentLayer: 'relu2_1' };
    const one = await runMethod(gatys, { content, style: a }, p, { threads: 2 });
    const both = await runMethod(gatys, { content, style: [a, b], styleWeights: [1, 0] }, p, { threads: 2 });
    const mixed = await runMethod(gatys, { content, style: [a, b], styleWeights: [1, 1] }, p, { threads: 2 });
    expect(Buffer.from(both.image.data.buffer).equals(Buffer.from(one.image.data.buffer))).toBe(true);
    expect(Buffer.from(mixed.image.data.buffer).equals(Buffer.from(one.image.data.buffer))).toBe(false);
  }, 60_000);

  it('without installed weights fails with E_WEIGHTS_MISSING and the pull command', async () => {
    const home = tempDir();
    const saved = process.env.ATELIER_HOME;
    process.env.ATELIER_HOME = home.dir;
    try {
      for (const network of ['auto', 'vgg19', 'vgg_normalised']) {
        const err = await runMethod(gatys, { content: gradientImage(32, 32), style: noiseImage(32, 32) }, { iterations: 1, network }).catch((e: unknown) => e);
        expect((err as AtelierError).code).toBe('E_WEIGHTS_MISSING');
        // The default (auto) names the real VGG-19 to relu3_1 and its licence flag.
        expect((err as AtelierError).message).toContain(network === 'auto' ? 'atelier models pull vgg19-relu3_1 --accept-licence' : `atelier models pull ${network}`);
        expect((err as AtelierError).message).toContain('--weights random');
      }
    } finally {
      if (saved === undefined) delete process.env.ATELIER_HOME;
      else process.env.ATELIER_HOME = saved;
      home.cleanup();
    }
  });

  it('restricts the style to the mask (outside it the content is kept)', async () => {
    const content = gradientImage(40, 32);
    const mask = new Image(40, 32, 1);
    for (let y = 0; y < 32; y++) for (let x = 20; x < 40; x++) mask.data[y * 40 + x] = 1;
    const r = await runMethod(gatys, { content, style: stripesImage(40, 40, 6), mask }, { ...base, iterations: 3 }, { threads: 2 });
    let outside = 0;
    let inside = 0;
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 32; y++)
        for (let x = 0; x < 40; x++) {
          const i = c * 1280 + y * 40 + x;
          const d = Math.abs(r.image.data[i]! - content.data[i]!);
          if (x < 18) outside = Math.max(outside, d);
          else if (x >= 22) inside = Math.max(inside, d);
        }
    expect(outside).toBeLessThan(1e-6);
    expect(inside).toBeGreaterThan(0.01);
  }, 60_000);

  it('checks styleLayerWeights against styleLayers', async () => {
    const err = await runMethod(gatys, { content: gradientImage(32, 32), style: noiseImage(32, 32) }, { ...base, styleLayerWeights: [1, 2] }).catch((e: unknown) => e);
    expect((err as AtelierError).code).toBe('E_PARAM');
  });

  it.skipIf(!sharedWeightsPresent)('uses the real VGG-19 to relu3_1 by default when vgg19-relu3_1 is installed, and moves toward the style', async () => {
    await installSharedModel('vgg19-relu3_1');
    const saved = process.env.ATELIER_HOME;
    process.env.ATELIER_HOME = TEST_MODEL_HOME;
    try {
      const content = gradientImage(64, 48);
      const style = stripesImage(64, 64, 5);
      const r = await runMethod(gatys, { content, style }, { iterations: 15, size: 64, pyramid: 1 }, { threads: 2 });
      expect(r.meta.network).toBe('vgg19-relu3_1');
      const before = await computeMetric(styleDistance, { output: content, style });
      const after = await computeMetric(styleDistance, { output: r.image, style });
      expect(after.value).toBeLessThan(0.8 * before.value);
      const deep = await runMethod(gatys, { content, style }, { iterations: 1, styleLayers: ['relu4_1'] }).catch((e: unknown) => e);
      expect((deep as AtelierError).code).toBe('E_PARAM');
    } finally {
      if (saved === undefined) delete process.env.ATELIER_HOME;
      else process.env.ATELIER_HOME = saved;
    }
  }, 120_000);
});
