import { describe, expect, it } from 'vitest';
import { runMethod } from '../../../src/core/stylize.js';
import { xdog } from '../../../src/methods/filter/xdog.js';
import { discImage } from '../../helpers/fixtures.js';

describe('filter.xdog', () => {
  it('draws the outline of a disc: dark on the circle, white inside and outside', async () => {
    const size = 96;
    const radius = 28;
    const img = discImage(size, size, radius, [0.85, 0.85, 0.85], [0.15, 0.15, 0.15]);
    const r = await runMethod(xdog, { content: img }, { mode: 'lines' });
    const p = r.image.plane(0);
    const c = (size - 1) / 2;
    let ring = 0;
    let ringN = 0;
    let inside = 0;
    let insideN = 0;
    let outside = 0;
    let outsideN = 0;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const d = Math.hypot(x - c, y - c);
        const v = p[y * size + x]!;
        if (Math.abs(d - radius) < 2.5) {
          ring += v;
          ringN++;
        } else if (d < radius - 6) {
          inside += v;
          insideN++;
        } else if (d > radius + 6 && d < radius + 16) {
          outside += v;
          outsideN++;
        }
      }
    }
    expect(inside / insideN).toBeGreaterThan(0.95);
    expect(outside / outsideN).toBeGreaterThan(0.95);
    expect(ring / ringN).toBeLessThan(0.75);
    // Every angle has a dark pixel on the circle (the outline is closed).
    for (let a = 0; a < 64; a++) {
      const t = (2 * Math.PI * a) / 64;
      let darkest = 1;
      for (let dr = -3; dr <= 3; dr += 0.5) {
        const x = Math.round(c + (radius + dr) * Math.cos(t));
        const y = Math.round(c + (radius + dr) * Math.sin(t));
        darkest = Math.min(darkest, p[y * size + x]!);
      }
      expect(darkest, `angle ${a}`).toBeLessThan(0.3);
    }
  });

  it('tone mode inks a dark region that lines mode leaves white', async () => {
    const img = discImage(64, 64, 20, [0.1, 0.1, 0.1], [0.9, 0.9, 0.9]);
    const lines = await runMethod(xdog, { content: img }, { mode: 'lines' });
    const tone = await runMethod(xdog, { content: img }, { mode: 'tone' });
    const centre = 32 * 64 + 32;
    expect(lines.image.plane(0)[centre]!).toBeGreaterThan(0.9);
    expect(tone.image.plane(0)[centre]!).toBeLessThan(0.2);
  });
});
