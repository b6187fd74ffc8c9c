import { describe, expect, it } from 'vitest';
import { Image } from '../../../../src/core/image.js';
import { clipImagePixels } from '../../../../src/engine/nets/clip/preprocess.js';
import { CLIP_PIXEL_MEAN, CLIP_PIXEL_STD } from '../../../../src/engine/nets/clip/config.js';
import { flatImage } from '../../../helpers/fixtures.js';

describe('clipImagePixels', () => {
  it('normalises a flat colour by CLIP\'s mean and std, planar', () => {
    const px = clipImagePixels(flatImage(50, 30, [0.2, 0.5, 0.9]), 16);
    expect(px).toHaveLength(3 * 16 * 16);
    [0.2, 0.5, 0.9].forEach((v, c) => {
      const want = (v - CLIP_PIXEL_MEAN[c]!) / CLIP_PIXEL_STD[c]!;
      for (let i = 0; i < 256; i++) expect(px[c * 256 + i]).toBeCloseTo(want, 5);
    });
  });

  it('keeps the centre: a wide image with a bright middle third gives a bright crop, dark sides cut away', () => {
    const w = 90;
    const h = 30;
    const data = new Float32Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 30; x < 60; x++) for (let c = 0; c < 3; c++) data[c * w * h + y * w + x] = 1; // planar
    const px = clipImagePixels(new Image(w, h, 3, data), 10);
    const white = (1 - CLIP_PIXEL_MEAN[0]) / CLIP_PIXEL_STD[0];
    // columns 1…8 of the 10-wide crop lie inside the bright third
    for (let y = 0; y < 10; y++) for (let x = 1; x < 9; x++) expect(px[y * 10 + x]).toBeCloseTo(white, 2);
  });
});
