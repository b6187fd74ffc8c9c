import { describe, expect, it } from 'vitest';
import { Image } from '../../src/core/image.js';
import { runMethod } from '../../src/core/stylize.js';
import { getMethod, methods } from '../../src/index.js';
import { shiftedFrame, wavesTexture } from '../helpers/waves.js';

/**
 * The video hooks methods declare: which carry each family uses, and that a method given the
 * previous frame's result (`inputs.previous`) actually lands nearer to it where it is trusted.
 */

function meanAbs(a: Image, b: Image, mask?: Float32Array): number {
  let s = 0;
  let n = 0;
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < a.pixels; i++) {
      if (mask && mask[i] === 0) continue;
      s += Math.abs(a.plane(c)[i]! - b.plane(c)[i]!);
      n++;
    }
  }
  return s / n;
}

describe('video behaviour declared by methods', () => {
  it('colour methods smooth their grade, Gatys initialises from, patch synthesis is guided by the previous result, CAP-VSTNet takes its video checkpoint', () => {
    for (const [id, def] of Object.entries(methods)) {
      if (id.startsWith('color.')) expect(def.video, id).toMatchObject({ carry: 'grade' });
    }
    expect(getMethod('neural.gatys').video).toMatchObject({ temporal: 'flow', carry: 'init' });
    expect(getMethod('patch.synthesis').video).toMatchObject({ temporal: 'flow', carry: 'guide' });
    expect(getMethod('neural.capvst').video).toMatchObject({ params: { variant: 'video' } });
  });

  const W = 48;
  const H = 40;
  const content = shiftedFrame(W, H, 0, 0, wavesTexture(9));
  const style = shiftedFrame(W, H, 3, 2, wavesTexture(2));
  // A "previous result": a distinct picture, trusted on the left half only.
  const prev = shiftedFrame(W, H, 0, 0, wavesTexture(4));
  const valid = new Float32Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W / 2; x++) valid[y * W + x] = 1;
  const right = valid.map((v) => 1 - v);

  it.each(['patch.synthesis', 'neural.gatys'])('%s moves towards the previous result where it is trusted, not elsewhere', async (id) => {
    const def = getMethod(id);
    const params = { ...def.quickParams, seed: 3 };
    const alone = (await runMethod(def, { content, style }, params)).image;
    const carried = (await runMethod(def, { content, style, previous: { image: prev, valid } }, params)).image;
    // Trusted half: clearly nearer the previous result than the frame made alone.
    expect(meanAbs(carried, prev, valid)).toBeLessThan(0.7 * meanAbs(alone, prev, valid));
    // Untrusted half: not pulled all the way to it.
    expect(meanAbs(carried, prev, right)).toBeGreaterThan(0.5 * meanAbs(alone, prev, right));
  });
});
