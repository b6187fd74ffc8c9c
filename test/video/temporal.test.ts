import { describe, expect, it } from 'vitest';
import { Image } from '../../src/core/image.js';
import { Rng } from '../../src/core/rng.js';
import { warpingError } from '../../src/metrics/temporal.js';
import { fitAffine, GradeSmoother } from '../../src/video/temporal/grade.js';
import { TemporalStabilizer, type TemporalMode } from '../../src/video/temporal/stabilizer.js';
import { frameTiming, timingExpression } from '../../src/video/timestamps.js';
import { shiftedFrame, wavesTexture } from '../helpers/waves.js';

const W = 96;
const H = 64;

/** A pan over a smooth texture: frame t is the texture moved by (1.5 t, 0.5 t). */
function panFrames(n: number): Image[] {
  const texture = wavesTexture(5);
  return Array.from({ length: n }, (_, t) => shiftedFrame(W, H, 1.5 * t, 0.5 * t, texture));
}

/** A flickering "method": the frame's colours inverted plus fresh noise every frame (as per-frame synthesis flickers). */
function flickery(frame: Image, t: number): Image {
  const rng = new Rng(100 + t);
  const out = frame.emptyLike();
  for (let i = 0; i < out.data.length; i++) out.data[i] = Math.min(1, Math.max(0, 1 - frame.data[i]! + 0.08 * rng.normal()));
  return out;
}

function run(mode: TemporalMode, frames: Image[], carry: 'output' | 'init' | 'guide' | 'grade' = 'output', method = flickery) {
  const s = new TemporalStabilizer({ mode, behaviour: { temporal: 'flow', carry }, flowSize: 96 });
  const hints: boolean[] = [];
  const out = frames.map((f, t) => {
    const { previous } = s.begin(f);
    hints.push(previous !== undefined);
    return s.end(method(f, t));
  });
  return { out, hints };
}

describe('temporal stabiliser', () => {
  const frames = panFrames(8);

  it('flow: cuts the warping error of a flickering method by more than half and keeps the picture', () => {
    const none = run('none', frames).out;
    const flow = run('flow', frames).out;
    const eNone = warpingError(frames, none).value;
    const eFlow = warpingError(frames, flow).value;
    expect(eFlow).toBeLessThan(0.5 * eNone);
    // The stabilised frames still are the method's picture (inverted colours), not the input.
    let toMethod = 0;
    let toInput = 0;
    for (let t = 0; t < frames.length; t++) {
      for (let i = 0; i < frames[t]!.data.length; i++) {
        toMethod += Math.abs(flow[t]!.data[i]! - (1 - frames[t]!.data[i]!));
        toInput += Math.abs(flow[t]!.data[i]! - frames[t]!.data[i]!);
      }
    }
    expect(toMethod).toBeLessThan(0.25 * toInput);
  });

  it('blend: steadies a still shot without flow', () => {
    const still = Array.from({ length: 6 }, () => frames[0]!.clone());
    const eNone = warpingError(still, run('none', still).out).value;
    const eBlend = warpingError(still, run('blend', still).out).value;
    expect(eBlend).toBeLessThan(0.5 * eNone);
  });

  it('hands the warped previous result to methods that carry it (init, guide) and to no others', () => {
    expect(run('flow', frames, 'init').hints).toEqual([false, true, true, true, true, true, true, true]);
    expect(run('flow', frames, 'guide').hints.filter(Boolean)).toHaveLength(7);
    expect(run('flow', frames, 'output').hints.some(Boolean)).toBe(false);
    expect(run('none', frames, 'init').hints.some(Boolean)).toBe(false);
  });

  it('the warped previous result lines up with the current frame where the flow is trusted', () => {
    const s = new TemporalStabilizer({ mode: 'flow', behaviour: { temporal: 'flow', carry: 'init' }, flowSize: 96 });
    s.begin(frames[0]!);
    s.end(frames[0]!);
    const { previous } = s.begin(frames[1]!);
    let err = 0;
    let n = 0;
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < W * H; i++) {
        if (previous!.valid[i] === 0) continue;
        err += Math.abs(previous!.image.plane(c)[i]! - frames[1]!.plane(c)[i]!);
        n++;
      }
    }
    expect(n).toBeGreaterThan(0.7 * 3 * W * H);
    expect(err / n).toBeLessThan(0.01);
  });
});

describe('grade smoothing (colour methods)', () => {
  it('fits the affine colour map a method applied', () => {
    const f = panFrames(1)[0]!;
    const out = f.emptyLike();
    const A = [0.9, 0.1, 0, 0.05, 0, 0.8, 0.1, 0.02, 0.2, 0, 0.7, 0];
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < f.pixels; i++) out.plane(c)[i] = A[c * 4]! * f.plane(0)[i]! + A[c * 4 + 1]! * f.plane(1)[i]! + A[c * 4 + 2]! * f.plane(2)[i]! + A[c * 4 + 3]!;
    }
    // The tinted texture has rank-deficient colours (channels are affine in one value): check the map's effect, not its entries.
    const fit = fitAffine(f, out)!;
    let err = 0;
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < f.pixels; i++) {
        const v = fit[c * 4]! * f.plane(0)[i]! + fit[c * 4 + 1]! * f.plane(1)[i]! + fit[c * 4 + 2]! * f.plane(2)[i]! + fit[c * 4 + 3]!;
        err = Math.max(err, Math.abs(v - out.plane(c)[i]!));
      }
    }
    expect(err).toBeLessThan(1e-3);
  });

  it('turns sudden grade jumps into gradual changes', () => {
    const f = panFrames(1)[0]!;
    const smoother = new GradeSmoother();
    const gains = [1, 1, 0.5, 0.5, 0.5, 1, 1, 1];
    const means = gains.map((g) => {
      const out = f.emptyLike();
      for (let i = 0; i < out.data.length; i++) out.data[i] = g * f.data[i]!;
      const s = smoother.smooth(out, f);
      return s.data.reduce((a, b) => a + b, 0) / s.data.length;
    });
    const base = f.data.reduce((a, b) => a + b, 0) / f.data.length;
    const jumps = means.slice(1).map((m, i) => Math.abs(m - means[i]!));
    // Per frame the grade would jump by half the mean at once; smoothed, no step is more than a quarter of that.
    expect(Math.max(...jumps)).toBeLessThan(0.25 * 0.5 * base);
    // ...and it converges towards the new grade.
    expect(means[4]!).toBeLessThan(means[2]!);
  });
});

describe('frame timing', () => {
  it('keeps a constant rate as a rate', () => {
    const ts = Array.from({ length: 50 }, (_, i) => i / 24);
    expect(frameTiming(ts, { num: 24, den: 1 })).toEqual({ kind: 'constant', rate: { num: 24, den: 1 } });
  });

  it('rebuilds variable frame times piece by piece', () => {
    const ts = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 0.8, 0.85, 0.9, 0.95, 1];
    const timing = frameTiming(ts, { num: 20, den: 1 });
    expect(timing.kind).toBe('variable');
    if (timing.kind !== 'variable') return;
    // Evaluate the ffmpeg expression for each frame index N with ffmpeg's if() and lt().
    const expr = timingExpression(timing.pieces).replace(/if\(/g, 'iff(');
    const evaluate = new Function('N', 'iff', 'lt', `return ${expr};`) as (n: number, iff: (c: boolean, a: number, b: number) => number, lt: (a: number, b: number) => boolean) => number;
    for (let n = 0; n < ts.length; n++) {
      expect(evaluate(n, (c, a, b) => (c ? a : b), (a, b) => a < b)).toBeCloseTo(ts[n]!, 6);
    }
  });
});
