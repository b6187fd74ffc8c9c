import { afterAll, describe, expect, it } from 'vitest';
import { Image } from '../../../src/core/image.js';
import { releaseSessions } from '../../../src/engine/runtime.js';
import { randomCapVstWeights } from '../../../src/engine/nets/capvst/state-dict.js';
import { CapVstStylizer } from '../../../src/engine/nets/capvst/stylizer.js';
import { equalTileShapes, planTiles } from '../../../src/engine/nets/capvst/tiles.js';
import { gradientImage, noiseImage } from '../../helpers/fixtures.js';

afterAll(releaseSessions);

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function channelMean(img: Image, c: number): number {
  return img.plane(c).reduce((a, b) => a + b, 0) / img.pixels;
}

describe('tile plan', () => {
  it('partitions the image into cores whose extended areas fit the budget', () => {
    const plan = planTiles(400, 240, 128 * 128, 16, 4);
    const covered = new Uint8Array(400 * 240);
    for (const t of plan.tiles) {
      expect((t.ext.x1 - t.ext.x0) * (t.ext.y1 - t.ext.y0)).toBeLessThanOrEqual(128 * 128);
      for (const v of [t.core.x0, t.core.x1, t.core.y0, t.core.y1, t.ext.x0, t.ext.y0]) expect(v % 4).toBe(0);
      for (let y = t.core.y0; y < t.core.y1; y++) for (let x = t.core.x0; x < t.core.x1; x++) covered[y * 400 + x]!++;
    }
    expect(covered.every((v) => v === 1)).toBe(true);
    expect(planTiles(64, 48, 128 * 128, 16, 4).tiles).toHaveLength(1);
  });

  it('gives every tile one shape with equalTileShapes, keeping each core and its context', () => {
    for (const [w, h] of [[400, 240], [3840, 2160], [1000, 104]] as const) {
      const plan = planTiles(w, h, 128 * 128, 16, 4);
      const equal = equalTileShapes(plan);
      const shapes = new Set(equal.tiles.map((t) => `${t.ext.x1 - t.ext.x0}x${t.ext.y1 - t.ext.y0}`));
      expect(shapes.size).toBe(1);
      equal.tiles.forEach((t, i) => {
        const before = plan.tiles[i]!;
        expect(t.core).toEqual(before.core);
        // the widened window holds the old one and stays inside the image, on the multiple of 4
        expect(t.ext.x0).toBeLessThanOrEqual(before.ext.x0);
        expect(t.ext.y0).toBeLessThanOrEqual(before.ext.y0);
        expect(t.ext.x1).toBeGreaterThanOrEqual(before.ext.x1);
        expect(t.ext.y1).toBeGreaterThanOrEqual(before.ext.y1);
        expect(Math.min(t.ext.x0, t.ext.y0)).toBeGreaterThanOrEqual(0);
        expect(t.ext.x1).toBeLessThanOrEqual(w);
        expect(t.ext.y1).toBeLessThanOrEqual(h);
        expect((t.ext.x1 - t.ext.x0) * (t.ext.y1 - t.ext.y0)).toBeLessThanOrEqual(128 * 128);
        for (const v of [t.ext.x0, t.ext.y0, t.ext.x1, t.ext.y1]) expect(v % 4).toBe(0);
      });
    }
  });
});

describe('CapVstStylizer', () => {
  const content = gradientImage(50, 38); // not a multiple of 4: padded and cropped back
  const style = noiseImage(40, 36, 3, [0.7, 0.3, 0.2], 0.2);

  it('returns the content at alpha 0 (the network is exactly invertible)', async () => {
    for (const mode of ['photoreal', 'artistic'] as const) {
      const s = await CapVstStylizer.create(randomCapVstWeights(mode, 2), 2);
      const out = await s.stylize(content, [{ image: style, weight: 1 }], { alpha: 0 });
      expect([out.width, out.height]).toEqual([50, 38]);
      expect(maxDiff(out.data, content.data)).toBeLessThan(1e-4);
    }
  });

  it('moves the colour statistics towards the style and blends several styles', async () => {
    const s = await CapVstStylizer.create(randomCapVstWeights('photoreal', 2), 2);
    const red = await s.stylize(content, [{ image: style, weight: 1 }], { alpha: 1 });
    const blue = noiseImage(40, 36, 4, [0.1, 0.2, 0.8], 0.2);
    const mixed = await s.stylize(content, [{ image: style, weight: 0.5 }, { image: blue, weight: 0.5 }], { alpha: 1 });
    // Red channel minus blue channel: the red style raises it, mixing in the blue style lowers it.
    const rb = (img: Image) => channelMean(img, 0) - channelMean(img, 2);
    expect(rb(red)).toBeGreaterThan(rb(content) + 0.1);
    expect(rb(mixed)).toBeLessThan(rb(red) - 0.1);
  });

  it('tiles large images without visible seams', async () => {
    const s = await CapVstStylizer.create(randomCapVstWeights('photoreal', 5), 2);
    const big = gradientImage(128, 64);
    const whole = await s.stylize(big, [{ image: style, weight: 1 }], { alpha: 1 });
    const tiled = await s.stylize(big, [{ image: style, weight: 1 }], { alpha: 1, maxTilePixels: 64 * 64, margin: 16 });
    const recomputed = await s.stylize(big, [{ image: style, weight: 1 }], { alpha: 1, maxTilePixels: 64 * 64, margin: 16, storeLimitBytes: 0 });
    let sum = 0;
    for (let i = 0; i < whole.data.length; i++) sum += Math.abs(whole.data[i]! - tiled.data[i]!);
    // Measured: mean 4e-4, max 4e-3 (about 1/255); recomputing features per tile: max 0.014.
    expect(sum / whole.data.length).toBeLessThan(2e-3);
    expect(maxDiff(whole.data, tiled.data)).toBeLessThan(0.01);
    expect(maxDiff(whole.data, recomputed.data)).toBeLessThan(0.03);
  });

  it('transfers label regions to their matching style regions', async () => {
    const s = await CapVstStylizer.create(randomCapVstWeights('photoreal', 2), 2);
    const c = gradientImage(48, 32);
    const st = new Image(48, 32, 3);
    const cl = new Int32Array(48 * 32);
    const sl = new Int32Array(48 * 32);
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 48; x++) {
        const i = y * 48 + x;
        cl[i] = x < 24 ? 0 : 1;
        sl[i] = y < 16 ? 0 : 1; // style: top is region 0 (red), bottom region 1 (blue)
        const red = y < 16;
        st.data[i] = red ? 0.9 : 0.1;
        st.data[48 * 32 + i] = 0.2 + 0.05 * Math.sin(x);
        st.data[2 * 48 * 32 + i] = red ? 0.1 : 0.9;
      }
    }
    const out = await s.stylize(c, [{ image: st, weight: 1, labels: sl }], { alpha: 1, contentLabels: cl });
    let left = 0;
    let right = 0;
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 48; x++) {
        const d = out.data[y * 48 + x]! - out.data[2 * 48 * 32 + y * 48 + x]!;
        if (x < 24) left += d;
        else right += d;
      }
    }
    expect(left / (24 * 32)).toBeGreaterThan(0.4); // red left half
    expect(right / (24 * 32)).toBeLessThan(-0.4); // blue right half
  });
});
