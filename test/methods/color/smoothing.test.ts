import { describe, expect, it } from 'vitest';
import { Image } from '../../../src/core/image.js';
import { silentProgress } from '../../../src/core/progress.js';
import { smoothResult } from '../../../src/methods/color/smoothing.js';
import { gradientImage } from '../../helpers/fixtures.js';

const ctx = { signal: new AbortController().signal, progress: silentProgress };

describe('smoothing of the colour change', () => {
  it('removes a seam that follows no edge of the content, keeping each side its colour', () => {
    // Content: a smooth gradient with no edge at x = 50. Result: two different shifts either side of it.
    const content = gradientImage(100, 40);
    const result = content.clone();
    for (let y = 0; y < 40; y++) for (let x = 50; x < 100; x++) result.plane(0)[y * 100 + x]! += 0.2;
    const out = smoothResult(ctx, content, result, { smooth: 8, smoothEps: 1e-3 });
    const change = (img: Image, x: number) => img.plane(0)[20 * 100 + x]! - content.plane(0)[20 * 100 + x]!;
    // The 0.2 jump across one pixel becomes a ramp…
    expect(change(out, 50) - change(out, 49)).toBeLessThan(0.05);
    // …while far from the seam the shifts are kept.
    expect(change(out, 5)).toBeCloseTo(0, 2);
    expect(change(out, 95)).toBeCloseTo(0.2, 2);
  });

  it('keeps a seam that lies on an edge of the content', () => {
    const content = new Image(100, 40, 3);
    for (let c = 0; c < 3; c++) for (let y = 0; y < 40; y++) for (let x = 0; x < 100; x++) content.plane(c)[y * 100 + x] = x < 50 ? 0.2 : 0.7;
    const result = content.clone();
    for (let y = 0; y < 40; y++) for (let x = 50; x < 100; x++) result.plane(0)[y * 100 + x]! += 0.2;
    const out = smoothResult(ctx, content, result, { smooth: 8, smoothEps: 1e-3 });
    const change = (x: number) => out.plane(0)[20 * 100 + x]! - content.plane(0)[20 * 100 + x]!;
    expect(change(49)).toBeCloseTo(0, 2);
    expect(change(50)).toBeCloseTo(0.2, 2);
  });

  it('is a no-op at radius 0', () => {
    const content = gradientImage(20, 10);
    const result = gradientImage(20, 10);
    expect(smoothResult(ctx, content, result, { smooth: 0, smoothEps: 1e-3 })).toBe(result);
  });
});
