import { describe, expect, it } from 'vitest';
import { fractalNoise, noisePlane } from '../../src/imaging/noise.js';

describe('noisePlane', () => {
  // The plane hashes lattice rows once per row; it must give fractalNoise's value at every pixel,
  // so strips of a large image still join without seams.
  it.each([
    [64, 9, 37, 1.5, 2, 1],
    [30, 7, 0, 7.3, 3, 9],
    [17, 5, 100, 0.8, 1, 3],
  ])('%i×%i from row %i (scale %s, %i octaves) equals fractalNoise pixel by pixel', (w, h, top, scale, octaves, seed) => {
    const plane = noisePlane(w, h, top, scale, octaves, seed);
    const expected = Float32Array.from({ length: w * h }, (_, i) => fractalNoise(i % w, Math.floor(i / w) + top, scale, octaves, seed));
    expect(Array.from(plane)).toEqual(Array.from(expected));
  });
});
