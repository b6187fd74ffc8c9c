import { describe, expect, it } from 'vitest';
import { Image } from '../../../src/core/image.js';
import { runMethod } from '../../../src/core/stylize.js';
import { gaussianBlurPlane } from '../../../src/imaging/gaussian.js';
import { DEFAULT_METHOD } from '../../../src/methods/index.js';
import { defaultPatchSize, fuseLayout, layoutTones, patchSizesFor, synthesis } from '../../../src/methods/patch/synthesis.js';
import { discImage, flatImage, gradientImage, noiseImage, stripesImage } from '../../helpers/fixtures.js';

const quick = { levels: 2, iterations: 1, patchSize: 9 };

function meanColor(img: Image, x0 = 0, x1 = img.width): number[] {
  return [0, 1, 2].map((c) => {
    let s = 0;
    for (let y = 0; y < img.height; y++) for (let x = x0; x < x1; x++) s += img.at(c, x, y);
    return s / (img.height * (x1 - x0));
  });
}

/** Two halves: left one colour, right another (a label map, or a style whose halves differ). */
function halves(width: number, height: number, left: [number, number, number], right: [number, number, number]): Image {
  const img = new Image(width, height, 3);
  for (let c = 0; c < 3; c++) {
    const p = img.plane(c);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) p[y * width + x] = x < width / 2 ? left[c] : right[c];
  }
  return img;
}

/** Left half dark (0.15–0.35 top to bottom), right half light (0.65–0.85), grey. */
function twoTone(width: number, height: number): Image {
  const img = new Image(width, height, 3);
  for (let c = 0; c < 3; c++) {
    const p = img.plane(c);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) p[y * width + x] = (x < width / 2 ? 0.15 : 0.65) + (0.2 * y) / (height - 1);
  }
  return img;
}

describe('patch.synthesis', () => {
  it('is the default method of transfer', () => {
    expect(DEFAULT_METHOD).toBe('patch.synthesis');
  });

  it('schedules patch sizes from large to small, finer levels dropping the largest', () => {
    expect(patchSizesFor(0, 3, 33)).toEqual([33, 21, 13]);
    expect(patchSizesFor(2, 3, 33)).toEqual([13, 9]);
  });

  it("sizes its default patches to the image: 49 at 512 px, odd, within [9, 129]", () => {
    expect(defaultPatchSize(new Image(512, 340, 3))).toBe(49);
    expect(defaultPatchSize(new Image(200, 256, 3))).toBe(25);
    expect(defaultPatchSize(new Image(1024, 1024, 3))).toBe(99);
    expect(defaultPatchSize(new Image(40, 30, 3))).toBe(9);
    expect(defaultPatchSize(new Image(4096, 100, 3))).toBe(129);
  });

  it("fuses the content's layout and leaves the estimate's fine detail", () => {
    // Estimate: 1-px stripes 0.3 / 0.7 (detail a σ=2 blur removes); content: dark left, bright right.
    const x = new Image(64, 32, 3);
    const content = halves(64, 32, [0.1, 0.1, 0.1], [0.9, 0.9, 0.9]);
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let i = 0; i < 64; i++) x.plane(c)[y * 64 + i] = i % 2 === 0 ? 0.3 : 0.7;
    const layout = [0, 1, 2].map((c) => gaussianBlurPlane(content.plane(c), 64, 32, 2));
    fuseLayout(x, layout, new Float32Array(64 * 32).fill(1e6), 2);
    // Away from the step: the local mean is the content's, the stripes' contrast is still 0.4.
    for (const [x0, level] of [[4, 0.1], [44, 0.9]] as const) {
      let mean = 0;
      for (let i = x0; i < x0 + 16; i++) mean += x.at(0, i, 16) / 16;
      expect(mean).toBeCloseTo(level, 2);
      expect(Math.abs(x.at(0, x0 + 1, 16) - x.at(0, x0, 16))).toBeCloseTo(0.4, 2);
    }
  });

  it("moves only the estimate's luminance towards the layout, so its colours stay the style's", () => {
    // Estimate: flat red; content layout: flat mid grey (luminance 0.5).
    const x = new Image(32, 16, 3);
    x.plane(0).fill(0.8);
    x.plane(1).fill(0.2);
    x.plane(2).fill(0.2);
    const layout = [0, 1, 2].map(() => new Float32Array(32 * 16).fill(0.5));
    fuseLayout(x, layout, new Float32Array(32 * 16).fill(1e6), 2);
    const [r, g, b] = [x.at(0, 16, 8), x.at(1, 16, 8), x.at(2, 16, 8)];
    expect(0.299 * r + 0.587 * g + 0.114 * b).toBeCloseTo(0.5, 3);
    // Still red: the red-green difference is the estimate's 0.6 (a plain fusion would make it grey).
    expect(r - g).toBeCloseTo(0.6, 3);
    expect(g - b).toBeCloseTo(0, 3);
  });

  it("puts the content in the style's tones at the patches' scale, not its pixels'", () => {
    // A black-and-white stripe style (period 8) and a content dark on the left, light on the right.
    const style = stripesImage(64, 64, 8, [0, 0, 0], [1, 1, 1]);
    const content = twoTone(64, 32);
    const luma = (img: Image, x0: number, x1: number) => meanColor(img, x0, x1).reduce((a, v, c) => a + [0.299, 0.587, 0.114][c]! * v, 0);
    // Pixel tones: the dark half becomes black, the light half white (a two-tone poster).
    const pixels = layoutTones(content, style, undefined, 0);
    expect(luma(pixels, 0, 32)).toBeLessThan(0.1);
    expect(luma(pixels, 32, 64)).toBeGreaterThan(0.9);
    // At the scale of a 9 px patch (σ = 9/√12) the style's tones are greys around 0.5: the halves
    // stay apart (the layout) without leaving the range a patch's mean can take.
    const tones = layoutTones(content, style, undefined, 9 / Math.sqrt(12));
    expect(luma(tones, 0, 32)).toBeGreaterThan(0.2);
    expect(luma(tones, 32, 64)).toBeLessThan(0.8);
    expect(luma(tones, 32, 64)).toBeGreaterThan(luma(tones, 0, 32) + 0.1);
  });

  it("takes the style's colours and keeps the content's structure", async () => {
    const content = discImage(64, 64, 18, [0.9, 0.9, 0.9], [0.1, 0.1, 0.1]);
    // A reddish style with dark and bright areas (noise over a ramp), so brightness can be matched.
    const style = noiseImage(48, 48, 3, [0.5, 0.2, 0.1], 0.08);
    for (let y = 0; y < 48; y++) for (let x = 0; x < 48; x++) for (let c = 0; c < 3; c++) style.data[c * 2304 + y * 48 + x] += ((c === 0 ? 0.45 : 0.2) * (x - 24)) / 24;
    const r = await runMethod(synthesis, { content, style }, quick);
    const m = meanColor(r.image);
    expect(m[0]).toBeGreaterThan(m[2] + 0.2); // reddish like the style, not grey like the content
    // The disc is still there: centre brighter than the corners.
    const centre = r.image.at(0, 32, 32) + r.image.at(1, 32, 32);
    const corner = r.image.at(0, 3, 3) + r.image.at(1, 3, 3);
    expect(centre).toBeGreaterThan(corner + 0.2);
  });

  it('copies from the matching style region under a label-map pair', async () => {
    const content = gradientImage(48, 32);
    const style = halves(40, 40, [0.9, 0.1, 0.1], [0.1, 0.1, 0.9]);
    // Content regions swapped against the style's: left must become blue, right red.
    const mask = halves(48, 32, [0, 0, 1], [1, 0, 0]);
    const styleMask = halves(40, 40, [1, 0, 0], [0, 0, 1]);
    const r = await runMethod(synthesis, { content, style, mask, styleMask }, quick);
    const left = meanColor(r.image, 0, 16);
    const right = meanColor(r.image, 32, 48);
    expect(left[2]).toBeGreaterThan(left[0] + 0.4);
    expect(right[0]).toBeGreaterThan(right[2] + 0.4);
  });

  it('handles a flat style, greyscale inputs and a style thinner than a patch', async () => {
    const flat = await runMethod(synthesis, { content: gradientImage(40, 30), style: flatImage(20, 20, [0.2, 0.6, 0.4]) }, quick);
    const m = meanColor(flat.image);
    expect(m[1]).toBeGreaterThan(m[0]);
    for (const v of flat.image.data) expect(Number.isFinite(v)).toBe(true);

    const grey = (img: Image) => Image.fromPlanes(img.width, img.height, [img.plane(0), img.plane(0), img.plane(0)]);
    const g = await runMethod(synthesis, { content: grey(gradientImage(40, 30)), style: grey(noiseImage(30, 30, 2)) }, quick);
    let chroma = 0;
    for (let i = 0; i < g.image.pixels; i++) chroma = Math.max(chroma, Math.abs(g.image.plane(0)[i] - g.image.plane(2)[i]));
    expect(chroma).toBeLessThan(0.02);

    const thin = await runMethod(synthesis, { content: gradientImage(40, 30), style: stripesImage(200, 1, 10) }, quick);
    expect(thin.image.width).toBe(40);
  });

  it('works on extreme aspect ratios', async () => {
    const line = await runMethod(synthesis, { content: gradientImage(600, 1), style: noiseImage(40, 40, 4) }, quick);
    expect([line.image.width, line.image.height]).toEqual([600, 1]);
    const tall = await runMethod(synthesis, { content: gradientImage(3, 500), style: noiseImage(40, 40, 4) }, quick);
    expect([tall.image.width, tall.image.height]).toEqual([3, 500]);
  });

  it('bounds its working size and returns the full size', async () => {
    const r = await runMethod(synthesis, { content: gradientImage(300, 200), style: noiseImage(64, 64, 5) }, { ...quick, workSize: 64 });
    expect([r.image.width, r.image.height]).toEqual([300, 200]);
    expect(r.meta.workSize).toBe('64×43');
  });

  it('gives the same image for the same seed and another for another seed', async () => {
    const inputs = { content: gradientImage(40, 32), style: noiseImage(32, 32, 9) };
    const a = await runMethod(synthesis, inputs, { ...quick, seed: 3 });
    const b = await runMethod(synthesis, inputs, { ...quick, seed: 3 });
    const c = await runMethod(synthesis, inputs, { ...quick, seed: 4 });
    expect(Buffer.from(a.image.data.buffer).equals(Buffer.from(b.image.data.buffer))).toBe(true);
    expect(Buffer.from(a.image.data.buffer).equals(Buffer.from(c.image.data.buffer))).toBe(false);
  });
});
