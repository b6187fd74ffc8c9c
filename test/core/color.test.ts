import { describe, expect, it } from 'vitest';
import { labToRgb, lalphaBetaToRgb, linearToSrgb, luminance, rgbToLab, rgbToLalphaBeta, srgbToLinear } from '../../src/core/color.js';
import { Image } from '../../src/core/image.js';
import { gradientImage, noiseImage } from '../helpers/fixtures.js';

function pixel(rgb: [number, number, number]): Image {
  return Image.fromPlanes(1, 1, rgb.map((v) => new Float32Array([v])));
}

describe('colour conversions', () => {
  it('maps reference colours to their CIE Lab values (D65)', () => {
    const cases: [[number, number, number], [number, number, number]][] = [
      [[1, 1, 1], [100, 0, 0]],
      [[0, 0, 0], [0, 0, 0]],
      [[1, 0, 0], [53.2408, 80.0925, 67.2032]],
      [[0, 1, 0], [87.7347, -86.1827, 83.1793]],
      [[0, 0, 1], [32.2970, 79.1875, -107.8602]],
      [[0.5, 0.5, 0.5], [53.3889, 0, 0]],
    ];
    for (const [rgb, lab] of cases) {
      const out = rgbToLab(pixel(rgb));
      for (let c = 0; c < 3; c++) expect(out.data[c]).toBeCloseTo(lab[c]!, 2);
    }
  });

  it('round-trips RGB → Lab → RGB within 1e-4', () => {
    const img = noiseImage(32, 32, 3, [0.5, 0.5, 0.5], 0.5);
    const back = labToRgb(rgbToLab(img));
    for (let i = 0; i < img.data.length; i++) expect(Math.abs(back.data[i]! - img.data[i]!)).toBeLessThan(1e-4);
  });

  it("round-trips RGB → lαβ → RGB within 1e-3 (Reinhard et al.'s space)", () => {
    const img = gradientImage(16, 16);
    const back = lalphaBetaToRgb(rgbToLalphaBeta(img));
    for (let i = 0; i < img.data.length; i++) expect(Math.abs(back.data[i]! - img.data[i]!)).toBeLessThan(1e-3);
  });

  it('converts sRGB ↔ linear with the piecewise curve', () => {
    const img = pixel([0.5, 0.04, 1]);
    const lin = srgbToLinear(img);
    expect(lin.data[0]).toBeCloseTo(0.214041, 5);
    expect(lin.data[1]).toBeCloseTo(0.04 / 12.92, 7);
    expect(lin.data[2]).toBeCloseTo(1, 6);
    const back = linearToSrgb(lin);
    for (let i = 0; i < 3; i++) expect(back.data[i]).toBeCloseTo(img.data[i]!, 5);
  });

  it('computes relative luminance with Rec. 709 weights on linear light', () => {
    expect(luminance(pixel([1, 1, 1])).data[0]).toBeCloseTo(1, 5);
    expect(luminance(pixel([0, 1, 0])).data[0]).toBeCloseTo(0.7152, 4);
  });
});
