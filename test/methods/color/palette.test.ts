import { describe, expect, it } from 'vitest';
import { rgbToLab } from '../../../src/core/color.js';
import { Image } from '../../../src/core/image.js';
import { Rng } from '../../../src/core/rng.js';
import { QuantileFunction, histogramMatch } from '../../../src/imaging/histogram-match.js';
import { colorSamples, paintSamples } from '../../../src/methods/color/palette.js';
import { noiseImage } from '../../helpers/fixtures.js';

/** An 8-bit-grid image with few distinct colours (as decoded JPEG/PNG files are). */
function eightBitImage(width: number, height: number, seed: number): Image {
  const rng = new Rng(seed);
  const img = new Image(width, height, 3);
  for (let i = 0; i < img.pixels; i++) {
    const base = rng.int(40);
    for (let c = 0; c < 3; c++) img.plane(c)[i] = Math.min(255, base * 5 + c * 17 + rng.int(2)) / 255;
  }
  return img;
}

describe('colour samples (distinct colours with counts)', () => {
  it('stands for every pixel: weights sum to the pixel count and painting back restores the image', () => {
    const img = eightBitImage(50, 40, 1);
    const samples = colorSamples(img);
    expect(samples.weights).toBeDefined();
    expect(samples.colors.width).toBeLessThan(img.pixels / 4);
    expect(samples.weights!.reduce((a, b) => a + b, 0)).toBe(img.pixels);
    const out = img.emptyLike();
    paintSamples(out, undefined, samples, samples.colors);
    expect(out.data).toEqual(img.data);
  });

  it('falls back to one sample per pixel off the 8-bit grid', () => {
    const img = noiseImage(20, 10, 2);
    img.data[5] = 0.123456;
    const samples = colorSamples(img);
    expect(samples.weights).toBeUndefined();
    expect(samples.colors.width).toBe(200);
  });

  it('gives weighted histogram matching exactly the per-pixel result (Lab values, radix path)', () => {
    const img = eightBitImage(60, 40, 3);
    const style = rgbToLab(noiseImage(30, 30, 4, [0.6, 0.4, 0.3], 0.2));
    for (let ch = 0; ch < 3; ch++) {
      const target = new QuantileFunction(style.plane(ch));
      const perPixel = rgbToLab(img).plane(ch).slice();
      histogramMatch(perPixel, target);
      const samples = colorSamples(img);
      const lab = rgbToLab(samples.colors);
      histogramMatch(lab.plane(ch), target, samples.weights);
      const painted = new Image(60, 40, 3);
      paintSamples(painted, undefined, samples, lab);
      expect(painted.plane(ch)).toEqual(perPixel);
    }
  });

  it('reads a weighted quantile function like the expanded sample', () => {
    const values = Float32Array.from([0.5, 0.1, 0.9]);
    const weights = Float64Array.from([2, 1, 3]);
    const weighted = new QuantileFunction(values, weights);
    const expanded = new QuantileFunction(Float32Array.from([0.1, 0.5, 0.5, 0.9, 0.9, 0.9]));
    for (let t = 0; t <= 1; t += 0.05) expect(weighted.at(t)).toBeCloseTo(expanded.at(t), 12);
  });
});
