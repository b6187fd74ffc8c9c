import { describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { readImage } from '../../../src/core/io.js';
import { resizeImage } from '../../../src/core/resample.js';
import { runMethod } from '../../../src/core/stylize.js';
import { planTiles } from '../../../src/engine/nets/capvst/tiles.js';
import { fastStyleModel, locateInstalled, readFastStyleWeights } from '../../../src/engine/nets/fast-style/models.js';
import { FastStyleStylizer, padded, proxyPixels } from '../../../src/engine/nets/fast-style/stylizer.js';
import { fast } from '../../../src/methods/neural/fast.js';
import { gradientImage, tempDir } from '../../helpers/fixtures.js';
import { SHARED_WEIGHTS, TEST_MODEL_HOME, installSharedModel, sharedWeightsPresent, SHARED_WEIGHTS_SKIP } from '../../helpers/shared-models.js';
import { restoreHomeAfterAll } from '../../helpers/temporary-home.js';

/**
 * neural.fast: a missing network names the command that installs it; on the published weights
 * (installed from ../shared/weights through the store) the method gives the network's output, the
 * stroke scale changes it, and tiles cross-fade without a seam.
 */

restoreHomeAfterAll();

describe('neural.fast', () => {
  it('fails with E_WEIGHTS_MISSING naming the pull command when the network is not installed', async () => {
    const empty = tempDir('atelier-empty-home-');
    process.env.ATELIER_HOME = empty.dir;
    try {
      const err = await runMethod(fast, { content: gradientImage(32, 32), extra: {} }, { model: 'fst-engstrom-scream' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AtelierError);
      expect((err as AtelierError).code).toBe('E_WEIGHTS_MISSING');
      expect((err as AtelierError).hint).toContain('atelier models pull fst-engstrom-scream');
    } finally {
      empty.cleanup();
    }
  });

  describe.skipIf(!sharedWeightsPresent)(`on the published networks (${sharedWeightsPresent ? 'shared weights present' : SHARED_WEIGHTS_SKIP})`, () => {
    it('runs each publication’s network: styled, the content’s size, and the stroke scale changes the strokes', async () => {
      const content = resizeImage(await readImage(`${SHARED_WEIGHTS}/../data/dev/content/stata.jpg`), 150, 110);
      for (const model of ['fst-small8-candy', 'fst-engstrom-wave', 'fst-pytorch-mosaic']) {
        await installSharedModel(model);
        process.env.ATELIER_HOME = TEST_MODEL_HOME;
        const r = await runMethod(fast, { content, extra: {} }, { model });
        expect(r.image.width).toBe(150);
        expect(r.image.height).toBe(110);
        expect(r.meta.model).toBe(model);
        let diff = 0;
        for (let i = 0; i < r.image.data.length; i++) diff += Math.abs(r.image.data[i]! - content.data[i]!);
        expect(diff / r.image.data.length, `${model} changes the photo`).toBeGreaterThan(0.05);
        if (model === 'fst-small8-candy') {
          const big = await runMethod(fast, { content, extra: {} }, { model, strokeScale: 2 });
          expect(big.meta.networkSize).toBe('75×55');
          let d = 0;
          for (let i = 0; i < big.image.data.length; i++) d += Math.abs(big.image.data[i]! - r.image.data[i]!);
          expect(d / big.image.data.length).toBeGreaterThan(0.02);
        }
      }
    }, 180_000);

    it('tiles agree with the whole image: ≤ 2/255 away from tile borders, seam gradient energy within 10 % of elsewhere', async () => {
      await installSharedModel('fst-small8-candy');
      process.env.ATELIER_HOME = TEST_MODEL_HOME;
      const model = fastStyleModel('fst-small8-candy');
      const stylizer = await FastStyleStylizer.create(await readFastStyleWeights(model, locateInstalled(model)), model.spec, 2);
      const [W, H] = [480, 384];
      const photo = resizeImage(await readImage(`${SHARED_WEIGHTS}/../data/dev/content/stata.jpg`), W, H);
      const img = padded(photo.data, W, H, 255);
      // Both runs normalise with the same whole-image statistics (those the tiled path uses).
      const maxTile = 200 * 200;
      const stats = await stylizer.proxyStatistics(img, maxTile);
      const plan = planTiles(W, H, maxTile, 96, 4);
      expect(plan.tiles.length).toBeGreaterThanOrEqual(4);
      const whole = await stylizer.runTiles(img, [{ core: { x0: 0, y0: 0, x1: W, y1: H }, ext: { x0: 0, y0: 0, x1: W, y1: H } }], stats);
      const tiled = await stylizer.runTiles(img, plan.tiles, stats);
      const xs = [...new Set(plan.tiles.map((t) => t.core.x0).filter((v) => v > 0))];
      const ys = [...new Set(plan.tiles.map((t) => t.core.y0).filter((v) => v > 0))];
      const n = W * H;
      let away = 0;
      let everywhere = 0;
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++) {
            const i = c * n + y * W + x;
            const clamp = (v: number) => Math.min(255, Math.max(0, v));
            const d = Math.abs(clamp(whole[i]!) - clamp(tiled[i]!));
            everywhere = Math.max(everywhere, d);
            if (!xs.some((b) => Math.abs(x - b) < 16) && !ys.some((b) => Math.abs(y - b) < 16)) away = Math.max(away, d);
          }
      expect(away).toBeLessThanOrEqual(2);
      // The cross-fade band lies beyond the receptive field from both tiles' edges: equal there too.
      expect(everywhere).toBeLessThanOrEqual(2);
      // Horizontal gradient energy on the columns either side of each vertical seam, against all other columns.
      const column = (x: number) => {
        let e = 0;
        for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) e += (tiled[c * n + y * W + x]! - tiled[c * n + y * W + x - 1]!) ** 2;
        return e;
      };
      let seam = 0;
      let seams = 0;
      let rest = 0;
      let others = 0;
      for (let x = 1; x < W; x++) {
        if (xs.some((b) => Math.abs(x - b) <= 1)) (seam += column(x)), seams++;
        else (rest += column(x)), others++;
      }
      const ratio = seam / seams / (rest / others);
      expect(ratio).toBeLessThan(1.1);
    }, 120_000);

    it('tiles come closer to the whole image with the statistics of a larger proxy (half the pixels, not one tile)', async () => {
      await installSharedModel('fst-small8-candy');
      process.env.ATELIER_HOME = TEST_MODEL_HOME;
      const model = fastStyleModel('fst-small8-candy');
      const stylizer = await FastStyleStylizer.create(await readFastStyleWeights(model, locateInstalled(model)), model.spec, 2);
      const [W, H, maxTile] = [480, 384, 160 * 160];
      const photo = resizeImage(await readImage(`${SHARED_WEIGHTS}/../data/dev/content/stata.jpg`), W, H);
      const img = padded(photo.data, W, H, 255);
      const whole = await stylizer.stylize(photo.data, W, H, { maxTilePixels: W * H });
      const plan = planTiles(W, H, maxTile, 96, 4);
      const meanDiff = async (pixels: number) => {
        const tiled = await stylizer.runTiles(img, plan.tiles, await stylizer.proxyStatistics(img, pixels));
        let sum = 0;
        for (let i = 0; i < whole.length; i++) sum += Math.abs(Math.min(255, Math.max(0, tiled[i]!)) - 255 * whole[i]!);
        return sum / whole.length;
      };
      expect(proxyPixels(W * H, maxTile)).toBe((W * H) / 2);
      const half = await meanDiff(proxyPixels(W * H, maxTile));
      const oneTile = await meanDiff(maxTile);
      // The proxy of the tiled path shrinks less, so its statistics (and the output) are nearer the whole run's.
      expect(half).toBeLessThan(oneTile);
      expect(half).toBeLessThan(0.06 * 255);
    }, 120_000);
  });
});
