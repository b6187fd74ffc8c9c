import { Image } from '../core/image.js';

/**
 * A grid of square planar RGB crops in [−1, 1] (the GAN generators' range) as one image with
 * 2-pixel white gutters: rows of [input, translation, reconstruction, …], as the GAN recipes show
 * their fixed samples at every checkpoint.
 */
export function sampleGrid(rows: Float32Array[][], size: number): Image {
  const gutter = 2;
  const cols = Math.max(...rows.map((r) => r.length));
  const width = cols * size + (cols - 1) * gutter;
  const height = rows.length * size + (rows.length - 1) * gutter;
  const out = new Image(width, height, 3);
  out.data.fill(1);
  const plane = width * height;
  rows.forEach((row, r) =>
    row.forEach((crop, c) => {
      const x0 = c * (size + gutter);
      const y0 = r * (size + gutter);
      for (let ch = 0; ch < 3; ch++)
        for (let y = 0; y < size; y++)
          for (let x = 0; x < size; x++) {
            const v = (crop[(ch * size + y) * size + x]! + 1) / 2;
            out.data[ch * plane + (y0 + y) * width + x0 + x] = Math.min(1, Math.max(0, v));
          }
    }),
  );
  return out;
}

/** [0, 1] planar RGB to the generators' [−1, 1]. */
export function toSigned(data: Float32Array): Float32Array {
  return data.map((v) => 2 * v - 1);
}
