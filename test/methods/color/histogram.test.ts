import { describe, expect, it } from 'vitest';
import { labToRgb, rgbToLab } from '../../../src/core/color.js';
import { Image } from '../../../src/core/image.js';
import { matchRegions } from '../../../src/core/mask.js';
import { Rng } from '../../../src/core/rng.js';
import { histogram } from '../../../src/methods/color/histogram.js';
import { QuantileFunction, histogramMatch, radixArgsort } from '../../../src/imaging/histogram-match.js';
import { noiseImage } from '../../helpers/fixtures.js';
import { ksDistance, runDirect, twoColorStyle, twoRegionMap } from './run-direct.js';

function randomImage(width: number, height: number, seed: number, f: (u: number) => number): Image {
  const rng = new Rng(seed);
  const img = new Image(width, height, 3);
  for (let i = 0; i < img.data.length; i++) img.data[i] = f(rng.next());
  return img;
}

describe('exact histogram matching', () => {
  it('gives continuous content exactly the style sorted values when the sizes agree', () => {
    const rng = new Rng(3);
    const values = Float32Array.from({ length: 5000 }, () => rng.normal() * 3 - 1);
    const target = Float32Array.from({ length: 5000 }, () => rng.next() ** 3);
    const order = Array.from(values.keys()).sort((a, b) => values[a]! - values[b]!);
    histogramMatch(values, new QuantileFunction(target));
    const sortedTarget = new Float32Array(target).sort();
    // Rank k of the input now holds the target's k-th smallest value: the CDFs are identical.
    order.forEach((i, k) => expect(values[i]).toBe(sortedTarget[k]));
  });

  it("matches the style's CDF up to tie groups for 8-bit content (counting-sort path)", () => {
    const rng = new Rng(4);
    const n = 20000;
    const values = Float32Array.from({ length: n }, () => Math.round(255 * rng.next() ** 2) / 255);
    const target = Float32Array.from({ length: 7000 }, () => 0.2 + 0.5 * rng.next());
    const counts = new Map<number, number>();
    for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
    const largestTie = Math.max(...counts.values()) / n;
    const before = values.slice();
    histogramMatch(values, new QuantileFunction(target));
    // Equal inputs stay equal and the map is monotone.
    const order = Array.from(before.keys()).sort((a, b) => before[a]! - before[b]!);
    for (let k = 1; k < n; k++) {
      const [i, j] = [order[k - 1]!, order[k]!];
      if (before[i] === before[j]) expect(values[j]).toBe(values[i]);
      else expect(values[j]!).toBeGreaterThan(values[i]!);
    }
    // Output CDF equals the target's wherever no tie group straddles: KS distance ≤ half the largest group.
    expect(ksDistance(values, target)).toBeLessThanOrEqual(largestTie / 2 + 1 / 7000 + 1e-9);
  });

  it('sorts floats of both signs exactly with the radix argsort', () => {
    const rng = new Rng(5);
    const values = Float32Array.from({ length: 3001 }, (_, i) => (i % 7 === 0 ? 0.25 : rng.normal() * 1e3));
    const { order } = radixArgsort(values);
    const sorted = new Float32Array(values).sort();
    order.forEach((i, k) => expect(values[i]).toBe(sorted[k]));
  });
});

describe('color.histogram', () => {
  it("per RGB channel: each output channel has the style's distribution", async () => {
    const content = randomImage(60, 50, 1, (u) => u * 0.6 + 0.1);
    const style = randomImage(60, 50, 2, (u) => u * u);
    // smooth: 0 is exact matching (the default smooths the colour change: see the JPEG-block test).
    const out = await runDirect(histogram, content, style, { channels: 'rgb', smooth: 0 });
    // Float32 rounding may make two content values equal (one tie group): allow one sample.
    for (let ch = 0; ch < 3; ch++) expect(ksDistance(out.plane(ch), style.plane(ch))).toBeLessThanOrEqual(1 / 3000 + 1e-9);
  });

  it("lightness only: L takes the style's distribution, a and b stay the content's", async () => {
    const content = noiseImage(48, 40, 1, [0.4, 0.5, 0.45], 0.15);
    const style = noiseImage(48, 40, 2, [0.6, 0.55, 0.5], 0.1);
    const out = rgbToLab(await runDirect(histogram, content, style, { channels: 'lightness', smooth: 0 }));
    const c = rgbToLab(content);
    expect(ksDistance(out.plane(0), rgbToLab(style).plane(0))).toBeLessThan(1e-3);
    for (const ch of [1, 2]) {
      let maxDiff = 0;
      for (let i = 0; i < c.pixels; i++) maxDiff = Math.max(maxDiff, Math.abs(out.plane(ch)[i]! - c.plane(ch)[i]!));
      expect(maxDiff).toBeLessThan(0.05);
    }
  });

  it('at its defaults leaves no saturated specks where a few colours sit just outside a dense mass (a sky with JPEG chroma at its edges)', async () => {
    // Content: a blue "sky" of near-equal colours and 0.5 % of pixels 3–4 Lab units greener (what
    // 4:2:0 chroma does along cables); style: wide, independent spreads of a and b.
    const w = 80;
    const h = 60;
    const rng = new Rng(11);
    const lab = new Image(w, h, 3);
    const outlier = new Uint8Array(w * h);
    for (let i = 0; i < w * h; i++) {
      lab.plane(0)[i] = 70 + 6 * (i / (w * h)) + rng.normal() * 0.3;
      const odd = rng.next() < 0.005;
      outlier[i] = odd ? 1 : 0;
      lab.plane(1)[i] = (odd ? -3.5 : 0) + rng.normal() * 0.4;
      lab.plane(2)[i] = (odd ? -33 : -30) + rng.normal() * 0.4;
    }
    const content = labToRgb(lab);
    const styleLab = new Image(64, 64, 3);
    for (let i = 0; i < 64 * 64; i++) {
      styleLab.plane(0)[i] = 30 + 50 * rng.next();
      styleLab.plane(1)[i] = rng.normal() * 25;
      styleLab.plane(2)[i] = rng.normal() * 25;
    }
    const style = labToRgb(styleLab);
    // How far, in a–b, each outlier lands from the colour the sky around it got.
    const drift = async (params: Record<string, unknown>) => {
      const out = rgbToLab(await runDirect(histogram, content, style, params));
      let skyA = 0;
      let skyB = 0;
      let count = 0;
      for (let i = 0; i < w * h; i++) {
        if (outlier[i]) continue;
        skyA += out.plane(1)[i]!;
        skyB += out.plane(2)[i]!;
        count++;
      }
      [skyA, skyB] = [skyA / count, skyB / count];
      let worst = 0;
      for (let i = 0; i < w * h; i++) if (outlier[i]) worst = Math.max(worst, Math.hypot(out.plane(1)[i]! - skyA, out.plane(2)[i]! - skyB));
      return { worst, out };
    };
    const exact = await drift({ colorSmoothing: 0 });
    const smooth = await drift({});
    // Exact per-channel matching throws them onto the style's tails: a speck far from the sky's colour.
    expect(exact.worst).toBeGreaterThan(40);
    // Smoothed between neighbouring colours they stay with the sky (the sky itself spans ~±20 here).
    expect(smooth.worst).toBeLessThan(15);
    // Lightness is matched no worse than before: the smoothing moves chroma only (the distance is
    // not 0 for either: this style reaches outside the sRGB gamut, and L is read back from RGB).
    expect(ksDistance(smooth.out.plane(0), styleLab.plane(0))).toBeLessThanOrEqual(ksDistance(exact.out.plane(0), styleLab.plane(0)) + 1e-3);
  });

  it('at its defaults does not turn a flat sky\'s JPEG blocks into visible squares', async () => {
    // Content: a flat sky whose 8×8 blocks differ by a JPEG's ±0.004 (invisible), on a gentle
    // gradient; style: a wide spread of tones. Exact matching gives the sky's narrow range a wide
    // part of the style's, so the blocks become squares (statue_of_liberty × udnie).
    const w = 96;
    const h = 64;
    const rng = new Rng(5);
    const content = new Image(w, h, 3);
    const offset = Array.from({ length: (w / 8) * (h / 8) }, () => (rng.next() - 0.5) * 0.008);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const v = 0.45 + 0.02 * (y / h) + offset[Math.floor(y / 8) * (w / 8) + Math.floor(x / 8)]!;
        for (let c = 0; c < 3; c++) content.plane(c)[y * w + x] = v * [0.55, 0.7, 1][c]!;
      }
    const style = randomImage(64, 64, 6, (u) => u);
    // Mean lightness step across block edges against within blocks, in Lab L units.
    const blockiness = async (params: Record<string, unknown>) => {
      const L = rgbToLab(await runDirect(histogram, content, style, params)).plane(0);
      let across = 0;
      let within = 0;
      let na = 0;
      let nw = 0;
      for (let y = 0; y < h; y++)
        for (let x = 0; x + 1 < w; x++) {
          const d = Math.abs(L[y * w + x + 1]! - L[y * w + x]!);
          if ((x + 1) % 8 === 0) (across += d), na++;
          else (within += d), nw++;
        }
      return across / na - within / nw;
    };
    const exact = await blockiness({ smooth: 0 });
    const defaults = await blockiness({});
    expect(exact).toBeGreaterThan(2);
    expect(defaults).toBeLessThan(exact / 4);
  });

  it("maps each labelled content region onto its style region's distribution", async () => {
    const content = noiseImage(40, 20, 4, [0.5, 0.5, 0.5], 0.2);
    const style = twoColorStyle(40, 20, 10);
    const regions = matchRegions(twoRegionMap(40, 20, 20), twoRegionMap(40, 20, 10));
    const out = await runDirect(histogram, content, style, { channels: 'rgb', smooth: 0 }, regions);
    for (const label of [0, 1]) {
      const ci = [...regions.content.keys()].filter((i) => regions.content[i] === label);
      const si = [...regions.style.keys()].filter((i) => regions.style[i] === label);
      for (let ch = 0; ch < 3; ch++) {
        const o = Float32Array.from(ci, (i) => out.plane(ch)[i]!);
        const t = Float32Array.from(si, (i) => style.plane(ch)[i]!);
        expect(ksDistance(o, t)).toBeLessThan(1 / si.length + 1e-9);
      }
    }
  });
});
