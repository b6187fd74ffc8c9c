import { luma } from '../../core/color.js';
import type { Image } from '../../core/image.js';

/**
 * Mixing the carried-over previous result into the current one. Under `flow` the previous result
 * has been warped onto this frame and is mixed in only where the flow is trusted, with `weight`
 * (Ruder et al. 2016 blend the warped frame the same way to initialise and to constrain): in those
 * pixels the change between frames shrinks by (1 − weight), i.e. the warping error by (1 − weight)².
 * Under `blend` (no flow) the previous result is mixed in where the input itself barely changed,
 * which steadies static shots and leaves moving parts alone.
 */

export function blendWarped(current: Image, warped: Image, valid: Float32Array, weight: number): Image {
  const out = current.clone();
  const n = current.pixels;
  for (let c = 0; c < current.channels; c++) {
    const o = out.plane(c);
    const w = warped.plane(c);
    for (let i = 0; i < n; i++) {
      const k = weight * valid[i]!;
      if (k > 0) o[i] = k * w[i]! + (1 - k) * o[i]!;
    }
  }
  return out;
}

/** Inputs changing less than this (luma, 0–1) count as still. */
const STILL_SIGMA = 0.04;

export function blendStill(current: Image, previous: Image, input: Image, previousInput: Image, weight: number): Image {
  const a = luma(input).data;
  const b = luma(previousInput).data;
  const valid = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const d = (a[i]! - b[i]!) / STILL_SIGMA;
    valid[i] = Math.exp(-d * d);
  }
  return blendWarped(current, previous, valid, weight);
}

