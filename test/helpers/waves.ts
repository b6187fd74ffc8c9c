import { Image } from '../../src/core/image.js';
import { Rng } from '../../src/core/rng.js';

/**
 * A smooth random texture defined analytically (a sum of plane waves), so that a frame shifted by a
 * sub-pixel (dx, dy) is exact: frame(x, y) = texture(x − dx, y − dy). For optical-flow tests.
 */
export function wavesTexture(seed = 3, count = 12): (x: number, y: number) => number {
  const rng = new Rng(seed);
  const waves = Array.from({ length: count }, () => {
    const wavelength = 6 + rng.next() * 30;
    const theta = rng.next() * Math.PI * 2;
    return {
      kx: (Math.cos(theta) * 2 * Math.PI) / wavelength,
      ky: (Math.sin(theta) * 2 * Math.PI) / wavelength,
      phase: rng.next() * Math.PI * 2,
      amplitude: rng.next(),
    };
  });
  return (x, y) => {
    let s = 0;
    for (const w of waves) s += w.amplitude * Math.sin(w.kx * x + w.ky * y + w.phase);
    return 0.5 + s / (2 * count);
  };
}

/** An RGB frame of the texture shifted by (dx, dy), with a per-channel tint so colour is not grey. */
export function shiftedFrame(width: number, height: number, dx: number, dy: number, texture = wavesTexture()): Image {
  const img = new Image(width, height, 3);
  const tint = [1, 0.8, 0.6];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = texture(x - dx, y - dy);
      for (let c = 0; c < 3; c++) img.data[c * width * height + y * width + x] = 0.1 + tint[c]! * v * 0.8;
    }
  }
  return img;
}
