import { describe, expect, it } from 'vitest';
import { Image } from '../../../src/core/image.js';
import { Rng } from '../../../src/core/rng.js';
import { idt, randomRotation } from '../../../src/methods/color/idt.js';
import { regrain } from '../../../src/methods/color/regrain.js';
import { matchRegions } from '../../../src/core/mask.js';
import { channelCovariance } from '../../../src/methods/color/statistics.js';
import { gradientImage, noiseImage } from '../../helpers/fixtures.js';
import { runDirect, twoColorStyle, twoRegionMap } from './run-direct.js';

/** Sliced 1-Wasserstein distance between two images' colour clouds, over fixed random directions. */
function slicedWasserstein(a: Image, b: Image, directions = 64): number {
  const rng = new Rng(99);
  let total = 0;
  for (let d = 0; d < directions; d++) {
    const r = randomRotation(rng);
    const project = (img: Image) => {
      const out = new Float32Array(img.pixels);
      for (let i = 0; i < img.pixels; i++) out[i] = r[0]! * img.plane(0)[i]! + r[1]! * img.plane(1)[i]! + r[2]! * img.plane(2)[i]!;
      return out.sort();
    };
    const pa = project(a);
    const pb = project(b);
    const m = 200;
    for (let k = 0; k < m; k++) {
      const t = (k + 0.5) / m;
      total += Math.abs(pa[Math.floor(t * pa.length)]! - pb[Math.floor(t * pb.length)]!) / m;
    }
  }
  return total / directions;
}

/** A style whose colours form two separated clusters with correlated channels (not Gaussian). */
function clusteredStyle(width: number, height: number): Image {
  const rng = new Rng(8);
  const img = new Image(width, height, 3);
  for (let i = 0; i < img.pixels; i++) {
    const warm = rng.next() < 0.3;
    const t = rng.normal() * 0.05;
    img.plane(0)[i] = (warm ? 0.8 : 0.2) + t;
    img.plane(1)[i] = (warm ? 0.5 : 0.3) + t * 0.5 + rng.normal() * 0.02;
    img.plane(2)[i] = (warm ? 0.2 : 0.6) - t + rng.normal() * 0.02;
  }
  return img;
}

describe('color.idt', () => {
  it("moves the colour distribution onto the style's (sliced Wasserstein)", async () => {
    const content = gradientImage(64, 48);
    const style = clusteredStyle(60, 50);
    const out = await runDirect(idt, content, style, { regrain: false, iterations: 30 });
    const before = slicedWasserstein(content, style);
    const after = slicedWasserstein(out, style);
    expect(after).toBeLessThan(0.01);
    expect(after).toBeLessThan(before / 10);
  });

  it('draws its rotations from the seeded generator: other seed, other result, equally close', async () => {
    const content = gradientImage(48, 32);
    const style = clusteredStyle(40, 40);
    const a = await runDirect(idt, content, style, { regrain: false }, undefined, 1);
    const again = await runDirect(idt, content, style, { regrain: false }, undefined, 1);
    const b = await runDirect(idt, content, style, { regrain: false }, undefined, 2);
    expect(again.data).toEqual(a.data);
    expect(b.data).not.toEqual(a.data);
    expect(slicedWasserstein(a, style)).toBeLessThan(0.02);
    expect(slicedWasserstein(b, style)).toBeLessThan(0.02);
  });
});

describe('color.idt with label maps', () => {
  it('moves each labelled region onto the colours of its style region', async () => {
    const content = noiseImage(40, 20, 4, [0.5, 0.5, 0.5], 0.2);
    const style = twoColorStyle(40, 20, 10);
    const regions = matchRegions(twoRegionMap(40, 20, 20), twoRegionMap(40, 20, 10));
    const out = await runDirect(idt, content, style, { regrain: false }, regions);
    for (const label of [0, 1]) {
      const ci = Int32Array.from([...regions.content.keys()].filter((i) => regions.content[i] === label));
      const si = Int32Array.from([...regions.style.keys()].filter((i) => regions.style[i] === label));
      const o = channelCovariance(out, ci);
      const t = channelCovariance(style, si);
      for (let a = 0; a < 3; a++) {
        expect(Math.abs(o.mean[a]! - t.mean[a]!)).toBeLessThan(0.01);
        expect(Math.abs(Math.sqrt(o.cov[a * 4]!) - Math.sqrt(t.cov[a * 4]!))).toBeLessThan(0.01);
      }
    }
  });
});

describe('regrain', () => {
  it("keeps the mapped colours but the content's gradients: grain removed, edges kept", () => {
    const [w, h] = [96, 64];
    const rng = new Rng(3);
    const content = new Image(w, h, 3);
    const mapped = new Image(w, h, 3);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const i = y * w + x;
          // A smooth ramp with a sharp step: the step is content detail that must survive.
          const v = 0.2 + 0.3 * (x / w) + (x >= w / 2 ? 0.3 : 0);
          content.plane(c)[i] = v;
          // The mapping darkens and adds grain (noise the content does not have).
          mapped.plane(c)[i] = 0.8 * v + 0.05 + 0.04 * rng.normal();
        }
      }
    }
    const out = regrain(content, mapped, { smoothness: 1 });
    const gradientError = (img: Image) => {
      let s = 0;
      for (let y = 0; y < h; y++) for (let x = 1; x < w; x++) {
        const i = y * w + x;
        s += Math.abs(img.plane(0)[i]! - img.plane(0)[i - 1]! - (content.plane(0)[i]! - content.plane(0)[i - 1]!));
      }
      return s / (h * (w - 1));
    };
    expect(gradientError(out)).toBeLessThan(gradientError(mapped) / 4);
    // Colours stay the mapped ones on average, and the step keeps (most of) the mapped height.
    let meanOut = 0;
    let meanMapped = 0;
    for (let i = 0; i < w * h; i++) {
      meanOut += out.plane(1)[i]! / (w * h);
      meanMapped += mapped.plane(1)[i]! / (w * h);
    }
    expect(Math.abs(meanOut - meanMapped)).toBeLessThan(0.01);
    let step = 0;
    for (let y = 0; y < h; y++) step += (out.plane(0)[y * w + w / 2]! - out.plane(0)[y * w + w / 2 - 1]!) / h;
    expect(step).toBeGreaterThan(0.2);
  });
});
