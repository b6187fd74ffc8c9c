import { describe, expect, it } from 'vitest';
import { Image } from '../../../src/core/image.js';
import { Rng } from '../../../src/core/rng.js';
import { quiltTexture } from '../../../src/methods/patch/quilting.js';
import { stripesImage } from '../../helpers/fixtures.js';

/** A two-dimensional periodic texture: period px along x and py along y, several colours. */
function lattice(width: number, height: number, px: number, py: number): Image {
  const img = new Image(width, height, 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = (x % px) / px;
      const v = (y % py) / py;
      img.data[y * width + x] = 0.5 + 0.4 * Math.sin(2 * Math.PI * u);
      img.data[width * height + y * width + x] = 0.5 + 0.4 * Math.cos(2 * Math.PI * v);
      img.data[2 * width * height + y * width + x] = u < 0.5 !== v < 0.5 ? 0.9 : 0.1;
    }
  }
  return img;
}

/** Share of pixels equal (within tol) to the pixel one period away. */
function periodic(img: Image, dx: number, dy: number): number {
  let same = 0;
  let total = 0;
  for (let y = 0; y + dy < img.height; y++) {
    for (let x = 0; x + dx < img.width; x++) {
      let d = 0;
      for (let c = 0; c < 3; c++) d += Math.abs(img.at(c, x, y) - img.at(c, x + dx, y + dy));
      if (d < 0.02) same++;
      total++;
    }
  }
  return same / total;
}

describe('image quilting', () => {
  it('reproduces the period of stripes', async () => {
    // Block 24 → overlap 4, a whole stripe: the overlap pins the phase (a narrower one could not).
    const out = await quiltTexture(stripesImage(40, 40, 8), 120, 96, { blockSize: 24, tolerance: 0, rng: new Rng(1) });
    expect(out.width).toBe(120);
    expect(out.height).toBe(96);
    expect(periodic(out, 8, 0)).toBeGreaterThan(0.98);
    expect(periodic(out, 4, 0)).toBeLessThan(0.05);
  });

  it('reproduces a two-dimensional period', async () => {
    const out = await quiltTexture(lattice(48, 48, 12, 8), 100, 100, { blockSize: 24, tolerance: 0, rng: new Rng(2) });
    expect(periodic(out, 12, 0)).toBeGreaterThan(0.97);
    expect(periodic(out, 0, 8)).toBeGreaterThan(0.97);
  });

  it('is reproducible under a seed and varies with it', async () => {
    const src = lattice(40, 40, 7, 9);
    const a = await quiltTexture(src, 64, 64, { rng: new Rng(5) });
    const b = await quiltTexture(src, 64, 64, { rng: new Rng(5) });
    const c = await quiltTexture(src, 64, 64, { rng: new Rng(6) });
    expect(Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer))).toBe(true);
    expect(Buffer.from(a.data.buffer).equals(Buffer.from(c.data.buffer))).toBe(false);
  });

  it('grows a texture from a sample smaller than a block', async () => {
    const out = await quiltTexture(stripesImage(3, 2, 2), 30, 20, { rng: new Rng(1) });
    expect(out.width).toBe(30);
    for (const v of out.data) expect(Number.isFinite(v)).toBe(true);
  });
});
