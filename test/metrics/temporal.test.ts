import { describe, expect, it } from 'vitest';
import type { Image } from '../../src/core/image.js';
import { warpingError } from '../../src/metrics/temporal.js';
import { noiseImage } from '../helpers/fixtures.js';
import { shiftedFrame, wavesTexture } from '../helpers/waves.js';

/** A pan: frame t is the texture moved by t·(1.5, 0.5). */
function pan(texture: (x: number, y: number) => number, frames: number): Image[] {
  return Array.from({ length: frames }, (_, t) => shiftedFrame(72, 56, 1.5 * t, 0.5 * t, texture));
}

function flicker(frames: Image[], amount: number): Image[] {
  return frames.map((f, t) => {
    const out = f.clone();
    const delta = t % 2 === 0 ? amount : -amount;
    for (let i = 0; i < out.data.length; i++) out.data[i]! += delta;
    return out;
  });
}

describe('temporal warping error', () => {
  const input = pan(wavesTexture(3), 4);

  it('is near 0 when the output moves with the input (a stable stylisation)', () => {
    // The "stylised" video is another texture moving the same way: consistent in time.
    const output = pan(wavesTexture(11), 4);
    const r = warpingError(input, output);
    expect(r.value).toBeLessThan(2e-4);
    expect(r.parts.inputError).toBeLessThan(2e-4);
    expect(r.parts.pairs).toBe(3);
  });

  it('grows with flicker: ±0.05 brightness alternating gives about 0.01 (= 0.1²)', () => {
    const output = flicker(pan(wavesTexture(11), 4), 0.05);
    const r = warpingError(input, output);
    expect(r.value).toBeGreaterThan(0.008);
    expect(r.value).toBeLessThan(0.012);
  });

  it('is large for frames stylised independently (noise that does not follow the motion)', () => {
    const output = input.map((_, t) => noiseImage(72, 56, t + 1));
    expect(warpingError(input, output).value).toBeGreaterThan(0.02);
  });

  it('refuses sequences of different lengths', () => {
    expect(() => warpingError(input, input.slice(0, 2))).toThrow(/matching input and output/);
  });
});
