import { describe, expect, it } from 'vitest';
import { rgbToLab } from '../../../src/core/color.js';
import { matchRegions } from '../../../src/core/mask.js';
import { reinhard } from '../../../src/methods/color/reinhard.js';
import { noiseImage } from '../../helpers/fixtures.js';
import { meanStd, runDirect, twoColorStyle, twoRegionMap } from './run-direct.js';

describe('color.reinhard', () => {
  it("gives the output the style's Lab mean and standard deviation (within 1e-3)", async () => {
    const content = noiseImage(64, 48, 3, [0.45, 0.5, 0.55], 0.2);
    const style = noiseImage(50, 40, 9, [0.6, 0.45, 0.35], 0.12);
    const out = rgbToLab(await runDirect(reinhard, content, style));
    const target = rgbToLab(style);
    for (let ch = 0; ch < 3; ch++) {
      const o = meanStd(out.plane(ch));
      const t = meanStd(target.plane(ch));
      expect(Math.abs(o.mean - t.mean)).toBeLessThan(1e-3);
      expect(Math.abs(o.std - t.std)).toBeLessThan(1e-3);
    }
  });

  it('maps each content region to the style region of the same label', async () => {
    const content = noiseImage(40, 20, 4, [0.5, 0.5, 0.5], 0.2);
    const style = twoColorStyle(40, 20, 10);
    const regions = matchRegions(twoRegionMap(40, 20, 20), twoRegionMap(40, 20, 10));
    const out = rgbToLab(await runDirect(reinhard, content, style, {}, regions));
    const s = rgbToLab(style);
    for (const label of [0, 1]) {
      const ci = [...regions.content.keys()].filter((i) => regions.content[i] === label);
      const si = [...regions.style.keys()].filter((i) => regions.style[i] === label);
      for (let ch = 0; ch < 3; ch++) {
        const o = meanStd(ci.map((i) => out.plane(ch)[i]!));
        const t = meanStd(si.map((i) => s.plane(ch)[i]!));
        expect(Math.abs(o.mean - t.mean)).toBeLessThan(1e-3);
      }
    }
  });
});
