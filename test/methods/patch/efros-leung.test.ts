import { describe, expect, it } from 'vitest';
import { Image } from '../../../src/core/image.js';
import { runMethod } from '../../../src/core/stylize.js';
import { efrosLeung } from '../../../src/methods/patch/efros-leung.js';
import { gradientImage, stripesImage } from '../../helpers/fixtures.js';

describe('patch.efros-leung', () => {
  it('fills a hole in a periodic texture with the texture', async () => {
    const truth = stripesImage(48, 40, 6);
    const damaged = truth.clone();
    const hole = new Image(48, 40, 1);
    for (let y = 14; y < 26; y++) {
      for (let x = 18; x < 30; x++) {
        hole.data[y * 48 + x] = 1;
        for (let c = 0; c < 3; c++) damaged.data[c * 48 * 40 + y * 48 + x] = 0.5;
      }
    }
    const r = await runMethod(efrosLeung, { content: damaged, extra: { hole } }, { tolerance: 0, candidates: 200 });
    let right = 0;
    let total = 0;
    for (let y = 14; y < 26; y++) {
      for (let x = 18; x < 30; x++) {
        let d = 0;
        for (let c = 0; c < 3; c++) d += Math.abs(r.image.at(c, x, y) - truth.at(c, x, y));
        if (d < 0.05) right++;
        total++;
      }
    }
    expect(right / total).toBeGreaterThan(0.9);
    // Outside the hole nothing changes.
    expect(r.image.at(0, 2, 2)).toBeCloseTo(truth.at(0, 2, 2), 5);
  });

  it('needs a style or a hole', async () => {
    const err = await runMethod(efrosLeung, { content: gradientImage(20, 20) }, {}).catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe('E_INPUT_MISSING');
  });
});
