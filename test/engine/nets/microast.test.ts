import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Image } from '../../../src/core/image.js';
import { MICROAST_FILES, type MicroAstPart, type MicroAstWeights } from '../../../src/engine/nets/microast.js';
import { MicroAstStylizer } from '../../../src/engine/nets/microast-stylizer.js';
import { readStateDict } from '../../../src/engine/nets/model-files.js';
import { gradientImage, noiseImage, tempDir } from '../../helpers/fixtures.js';
import { relativeMaxDiff, runTorchReference, sharedWeights, torchPython } from '../../helpers/torch-reference.js';

/**
 * MicroAST on its four published files, built as engine graphs, against a PyTorch reference of the
 * paper's network (test/helpers/torch_style_nets.py): max |ours − torch| ≤ 1e-3 of the output
 * range, whole and tiled (the tiles' margins cover the receptive field, so tiling changes nothing
 * beyond rounding).
 */

const skip = !sharedWeights || !torchPython;
if (skip) console.warn(`skipping the MicroAST checks: ${!sharedWeights ? '../shared/weights is absent' : 'no python3 with torch'}`);
const work = tempDir('atelier-microast-');
afterAll(() => work.cleanup());

describe.skipIf(skip)('MicroAST on the real weights against PyTorch', () => {
  it('whole image and 128-px tiles, α 1 and 0.5', async () => {
    const dir = path.join(sharedWeights!, 'microast');
    const parts = Object.keys(MICROAST_FILES) as MicroAstPart[];
    const weights = Object.fromEntries(await Promise.all(parts.map(async (p) => [p, await readStateDict(path.join(dir, MICROAST_FILES[p]))]))) as MicroAstWeights;
    const stylizer = await MicroAstStylizer.create(weights, 1);
    const content = gradientImage(200, 136);
    const style = noiseImage(96, 80, 9, [0.8, 0.3, 0.3], 0.3);
    for (const alpha of [1, 0.5]) {
      const ref = runTorchReference(
        { kind: 'microast', dir, alpha, input: { data: content.data, shape: [1, 3, 136, 200] }, style: { data: style.data, shape: [1, 3, 80, 96] } },
        work.dir,
      );
      expect(ref.shape).toEqual([1, 3, 136, 200]);
      const whole = await stylizer.stylize(content, style, { alpha, maxTilePixels: 4096 * 4096, styleSide: 1024 });
      const tiled = await stylizer.stylize(content, style, { alpha, maxTilePixels: 128 * 128, styleSide: 1024 });
      const a = relativeMaxDiff(whole.data, ref.data);
      const b = relativeMaxDiff(tiled.data, ref.data);
      console.log(`MicroAST α ${alpha}: whole ${a.maxDiff.toExponential(2)}, tiled ${b.maxDiff.toExponential(2)} (range ${a.range.toFixed(2)})`);
      expect(a.maxDiff).toBeLessThanOrEqual(1e-3 * a.range);
      expect(b.maxDiff).toBeLessThanOrEqual(1e-3 * b.range);
      expect(new Image(200, 136, 3, ref.data).width).toBe(200);
    }
    await stylizer.release();
  }, 300_000);
});
