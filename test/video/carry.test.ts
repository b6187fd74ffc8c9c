import { describe, expect, it } from 'vitest';
import { Image } from '../../src/core/image.js';
import { Rng } from '../../src/core/rng.js';
import { warpByFlow } from '../../src/video/flow.js';
import { warpForCarry } from '../../src/video/temporal/carry-warp.js';
import { InputMotion } from '../../src/video/temporal/motion.js';
import { TemporalStabilizer } from '../../src/video/temporal/stabilizer.js';
import { shiftedFrame, wavesTexture } from '../helpers/waves.js';

/**
 * How a result is carried to the next frame: trust drops where a small fast object was missed by
 * the flow (it would leave a ghost), the cubic warp does not soften what it carries the way
 * repeated bilinear warps do, and a method's own blend weight is used.
 */

const W = 96;
const H = 64;

function noise(seed: number): Image {
  const rng = new Rng(seed);
  const img = new Image(W, H, 3);
  for (let i = 0; i < img.data.length; i++) img.data[i] = rng.next();
  return img;
}

const constantFlow = (u: number, v: number) => ({ width: W, height: H, u: new Float32Array(W * H).fill(u), v: new Float32Array(W * H).fill(v) });

describe('carrying a result to the next frame', () => {
  it('trust falls where a small fast object jumped (the flow missed it) and stays on the still background', () => {
    const texture = wavesTexture(4);
    const background = shiftedFrame(W, H, 0, 0, texture);
    // A 6×6 white square that jumps 20 px between the frames: far beyond what the flow follows at this size.
    const withSquare = (x0: number) => {
      const f = background.clone();
      for (let c = 0; c < 3; c++) for (let y = 28; y < 34; y++) for (let x = x0; x < x0 + 6; x++) f.plane(c)[y * W + x] = 1;
      return f;
    };
    const motion = new InputMotion({ flowSize: 96 });
    motion.next(withSquare(20));
    const m = motion.next(withSquare(60))!;
    const trustIn = (x0: number) => {
      let s = 0;
      for (let y = 28; y < 34; y++) for (let x = x0; x < x0 + 6; x++) s += m.valid[y * W + x]!;
      return s / 36;
    };
    let background_ = 0;
    let n = 0;
    for (let y = 4; y < 20; y++) for (let x = 4; x < W - 4; x++) (background_ += m.valid[y * W + x]!), n++;
    expect(trustIn(20)).toBeLessThan(0.3); // where it was: carrying would leave a ghost square
    expect(trustIn(60)).toBeLessThan(0.3); // where it is now: the previous result has background there
    expect(background_ / n).toBeGreaterThan(0.9);
  });

  it('the cubic carry is exact at whole-pixel shifts and keeps more contrast than bilinear at half pixels', () => {
    const img = noise(5);
    const shifted = warpForCarry(img, constantFlow(2, -1));
    for (let y = 1; y < H - 2; y++) for (let x = 0; x < W - 2; x++) expect(shifted.plane(0)[y * W + x]).toBeCloseTo(img.plane(0)[(y - 1) * W + x + 2]!, 6);
    // Six half-pixel moves there and back: bilinear blurs fine texture away; the cubic keeps much more of it.
    const spread = (a: Image) => {
      let m = 0;
      for (const v of a.data) m += v;
      m /= a.data.length;
      let s = 0;
      for (const v of a.data) s += (v - m) ** 2;
      return Math.sqrt(s / a.data.length);
    };
    let bilinear = img;
    let cubic = img;
    for (let k = 0; k < 6; k++) {
      const f = constantFlow(k % 2 ? -0.5 : 0.5, 0);
      bilinear = warpByFlow(bilinear, f);
      cubic = warpForCarry(cubic, f);
    }
    expect(spread(cubic)).toBeGreaterThan(1.2 * spread(bilinear));
    // Clamped to the neighbours: no ringing past the input's range.
    expect(Math.min(...cubic.data)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...cubic.data)).toBeLessThanOrEqual(1);
  });

  it("uses the method's own blend weight: 1 keeps the carried result wherever the flow is trusted", () => {
    const texture = wavesTexture(6);
    const frames = [0, 1].map((t) => shiftedFrame(W, H, 2 * t, 0, texture));
    const s = new TemporalStabilizer({ mode: 'flow', behaviour: { temporal: 'flow', carry: 'output', weight: 1 }, flowSize: 96 });
    s.begin(frames[0]!);
    s.end(frames[0]!);
    s.begin(frames[1]!);
    const fresh = noise(9);
    const out = s.end(fresh);
    // Where trusted (interior, away from the entering edge) the output is the carried frame, not the fresh result.
    let toCarried = 0;
    let toFresh = 0;
    for (let y = 8; y < H - 8; y++) {
      for (let x = 8; x < W - 8; x++) {
        const i = y * W + x;
        toCarried += Math.abs(out.plane(1)[i]! - frames[1]!.plane(1)[i]!);
        toFresh += Math.abs(out.plane(1)[i]! - fresh.plane(1)[i]!);
      }
    }
    expect(toCarried).toBeLessThan(0.1 * toFresh);
  });
});
