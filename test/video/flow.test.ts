import { describe, expect, it } from 'vitest';
import { opticalFlow, warpByFlow, flowConsistencyMask, meanFlow } from '../../src/video/flow.js';
import { meanAbsDiff } from '../helpers/fixtures.js';
import { shiftedFrame } from '../helpers/waves.js';

const W = 128;
const H = 96;
const MARGIN = 12;

/** Error over pixels whose solving window and whose target both lie inside the frames. */
function interiorError(flow: ReturnType<typeof opticalFlow>, dx: number, dy: number) {
  let sum = 0;
  let max = 0;
  let n = 0;
  const mx = MARGIN + Math.ceil(Math.abs(dx));
  const my = MARGIN + Math.ceil(Math.abs(dy));
  for (let y = my; y < H - my; y++) {
    for (let x = mx; x < W - mx; x++) {
      const i = y * W + x;
      const e = Math.hypot(flow.u[i]! - dx, flow.v[i]! - dy);
      sum += e;
      max = Math.max(max, e);
      n++;
    }
  }
  return { mean: sum / n, max };
}

describe('optical flow (Farnebäck polynomial expansion)', () => {
  it.each([
    [0.3, -0.2],
    [2.4, -1.7],
    [6.5, 3.25],
  ])('recovers a synthetic translation of (%f, %f) within 0.1 px', (dx, dy) => {
    // frame2 is frame1 moved by (dx, dy): frame1(x) = frame2(x + d).
    const flow = opticalFlow(shiftedFrame(W, H, 0, 0), shiftedFrame(W, H, dx, dy));
    const err = interiorError(flow, dx, dy);
    expect(err.mean).toBeLessThan(0.05);
    expect(err.max).toBeLessThan(0.1);
  });

  it('gives zero flow for identical frames', () => {
    const f = shiftedFrame(W, H, 0, 0);
    const flow = opticalFlow(f, f);
    expect(interiorError(flow, 0, 0).max).toBeLessThan(1e-4);
  });

  it('warps frame2 back onto frame1', () => {
    const a = shiftedFrame(W, H, 0, 0);
    const b = shiftedFrame(W, H, 3, 1.5);
    const flow = opticalFlow(a, b);
    const back = warpByFlow(b, flow).crop(MARGIN, MARGIN, W - 2 * MARGIN, H - 2 * MARGIN);
    expect(meanAbsDiff(back, a.crop(MARGIN, MARGIN, W - 2 * MARGIN, H - 2 * MARGIN))).toBeLessThan(0.003);
    // Without the flow they differ clearly.
    expect(meanAbsDiff(b, a)).toBeGreaterThan(0.02);
  });

  it('marks consistent forward/backward flows as trusted, and pixels that leave the frame as not', () => {
    const a = shiftedFrame(W, H, 0, 0);
    const b = shiftedFrame(W, H, 4, 0);
    const fwd = opticalFlow(a, b);
    const bwd = opticalFlow(b, a);
    expect(meanFlow(bwd).u).toBeCloseTo(-4, 0);
    const mask = flowConsistencyMask(fwd, bwd);
    let interior = 0;
    let n = 0;
    for (let y = MARGIN; y < H - MARGIN; y++) for (let x = MARGIN; x < W - MARGIN; x++, n++) interior += mask[y * W + x]!;
    expect(interior / n).toBeGreaterThan(0.99);
    // The last 4 columns map outside frame 2.
    expect(mask[40 * W + W - 2]).toBe(0);
  });
});
