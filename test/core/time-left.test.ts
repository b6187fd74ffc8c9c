import { describe, expect, it } from 'vitest';
import type { ProgressEvent } from '../../src/core/progress.js';
import { TimeLeft, timeLeft } from '../../src/core/time-left.js';

const step = (fraction: number): ProgressEvent => ({ type: 'step', label: 'm', step: fraction * 100, total: 100, fraction });

describe('time left', () => {
  it('extrapolates the rate so far, and says nothing under 2 % or once done', () => {
    expect(timeLeft(1000, 0.25)).toBeCloseTo(3000);
    expect(timeLeft(1000, 0.01)).toBeUndefined();
    expect(timeLeft(1000, 1)).toBeUndefined();
  });

  it('counts from the last event at 0 %: one-off setup is not extrapolated', () => {
    // 2 s of setup (a model loaded), then 1 s per 10 % of the work.
    const left = new TimeLeft(0);
    left.observe({ type: 'start', label: 'm', fraction: 0 }, 0);
    expect(left.observe(step(0), 2000)).toBeUndefined();
    expect(left.observe(step(0.1), 3000)).toBeCloseTo(9000);
    expect(left.observe(step(0.5), 7000)).toBeCloseTo(5000);
    // Counted from the start, the same run would read 27 s left at 10 %.
    expect(timeLeft(3000, 0.1)).toBeCloseTo(27000);
  });

  it('without any event at 0 % counts from when the run started', () => {
    const left = new TimeLeft(500);
    expect(left.observe(step(0.2), 1500)).toBeCloseTo(4000);
  });
});
