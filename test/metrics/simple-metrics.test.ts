import { describe, expect, it } from 'vitest';
import { Image } from '../../src/core/image.js';
import { edgeSimilarity } from '../../src/metrics/edge-ssim.js';
import { histogramDistance } from '../../src/metrics/histogram-distance.js';
import { computeMetric } from '../../src/metrics/metric.js';
import { getMetric, listMetrics } from '../../src/metrics/index.js';
import { peakSignalToNoise, PSNR_CAP_DB } from '../../src/metrics/psnr.js';
import { slicedWassersteinPatches } from '../../src/metrics/swd-patches.js';
import { discImage, flatImage, gradientImage, noiseImage, stripesImage } from '../helpers/fixtures.js';

function addToAll(img: Image, delta: number): Image {
  const out = img.clone();
  for (let i = 0; i < out.data.length; i++) out.data[i]! += delta;
  return out;
}

describe('psnr', () => {
  it('is 20 dB for noise of known power (±0.1, MSE 0.01) and capped for identical images', () => {
    const a = flatImage(30, 20, [0.5, 0.4, 0.6]);
    const b = a.clone();
    for (let i = 0; i < b.data.length; i++) b.data[i]! += i % 2 === 0 ? 0.1 : -0.1;
    const r = peakSignalToNoise(a, b);
    expect(r.value).toBeCloseTo(20, 4);
    expect(r.parts.mse).toBeCloseTo(0.01, 6);
    expect(peakSignalToNoise(a, a).value).toBe(PSNR_CAP_DB);
  });
});

describe('edge-ssim', () => {
  it('is 1 for a global brightness change (edges unmoved) and falls when edges move', () => {
    const a = discImage(64, 64, 16, [0.8, 0.7, 0.6], [0.2, 0.2, 0.3]);
    expect(edgeSimilarity(a, addToAll(a, 0.1)).value).toBeCloseTo(1, 5);
    const moved = discImage(64, 64, 22, [0.8, 0.7, 0.6], [0.2, 0.2, 0.3]);
    expect(edgeSimilarity(a, moved).value).toBeLessThan(0.8);
  });
});

describe('histogram', () => {
  it('is 0 for one image against itself, whatever the sizes', () => {
    const a = flatImage(20, 20, [0.7, 0.2, 0.1]);
    const r = histogramDistance(a, flatImage(33, 7, [0.7, 0.2, 0.1]));
    expect(r.value).toBeCloseTo(0, 10);
    expect(r.parts.chi2).toBeCloseTo(0, 10);
  });

  it('measures a lightness shift in Lab units (EMD of L) and disjoint colours as χ² = 1', () => {
    // Two flat greys: their L values differ by a known amount; the EMD of L is that difference.
    const a = flatImage(10, 10, [0.2, 0.2, 0.2]);
    const b = flatImage(10, 10, [0.6, 0.6, 0.6]);
    const r = histogramDistance(a, b);
    // L* of an sRGB grey g: 116·∛(linear(g)) − 16 (CIE 1976, Y > 0.008856).
    const lstar = (g: number) => 116 * Math.cbrt(((g + 0.055) / 1.055) ** 2.4) - 16;
    expect(Math.abs(r.parts.emdL! - (lstar(0.6) - lstar(0.2)))).toBeLessThan(0.4); // one bin of 100/256
    expect(r.parts.emdA).toBeLessThan(0.5);
    expect(r.parts.chi2).toBeCloseTo(1, 10);
  });
});

describe('swd-patches', () => {
  it('is exactly 0 for identical images, small for two samples of one distribution, and grows with a shift', () => {
    const a = noiseImage(96, 96, 1);
    expect(slicedWassersteinPatches(a, a).value).toBe(0);
    const sameDistribution = slicedWassersteinPatches(a, noiseImage(96, 96, 2)).value;
    const shifted = [0.05, 0.1, 0.2].map((d) => slicedWassersteinPatches(a, addToAll(noiseImage(96, 96, 2), d)).value);
    expect(sameDistribution).toBeLessThan(shifted[0]!);
    expect(shifted[0]).toBeLessThan(shifted[1]!);
    expect(shifted[1]).toBeLessThan(shifted[2]!);
  });

  it('tells textures apart that share a colour histogram', () => {
    // Stripes of two periods: the same two colours in the same proportions, different structure.
    const fine = stripesImage(96, 96, 4);
    const coarse = stripesImage(96, 96, 24);
    expect(histogramDistance(fine, coarse).value).toBeLessThan(1);
    expect(slicedWassersteinPatches(fine, coarse).value).toBeGreaterThan(10 * slicedWassersteinPatches(fine, stripesImage(80, 90, 4)).value);
  });
});

describe('metric registry', () => {
  it('declares what each metric needs, its direction and aspect', () => {
    for (const m of listMetrics()) {
      expect(m.title.length).toBeGreaterThan(3);
      expect(m.summary.length).toBeGreaterThan(10);
      expect(typeof m.higherIsBetter).toBe('boolean');
      expect(['content', 'style', 'temporal']).toContain(m.aspect);
      expect(m.needs.length).toBeGreaterThan(0);
    }
    expect(getMetric('ssim').higherIsBetter).toBe(true);
    expect(getMetric('swd-patches').higherIsBetter).toBe(false);
  });

  it('suggests the nearest id for a typo', () => {
    expect(() => getMetric('ssmi')).toThrow(/Did you mean ssim\?/);
  });

  it('refuses a metric call without the inputs it needs', async () => {
    await expect(computeMetric(getMetric('ssim'), { output: gradientImage(20, 20) })).rejects.toMatchObject({ code: 'E_INPUT_MISSING' });
  });

  it('runs every image metric through computeMetric with finite values', async () => {
    const content = gradientImage(48, 40);
    const output = addToAll(content, 0.05);
    const style = noiseImage(50, 50, 3);
    for (const m of listMetrics().filter((m) => !m.needs.includes('frames') && !m.weights)) {
      const r = await computeMetric(m, { output, content, style });
      expect(Number.isFinite(r.value)).toBe(true);
    }
  });
});
