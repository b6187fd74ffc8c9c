import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProgressDisplay } from '../../src/cli/progress-display.js';
import type { ProgressEvent } from '../../src/core/progress.js';

/** A stream that keeps what was written (plain lines, or the bar's redraws split at \r). */
function sink(columns = 200) {
  let text = '';
  const stream = { write: (s: string) => ((text += s), true), columns } as unknown as NodeJS.WriteStream;
  return { stream, lines: () => text.split(/[\r\n]/).map((l) => l.trimEnd()).filter((l) => l) };
}

const step = (step: number, total: number, fraction: number, values?: Record<string, number>): ProgressEvent => ({ type: 'step', label: 'm', step, total, fraction, ...(values && { values }) });

/** Events at the given ms after the display was made, on a fake clock. */
function play(mode: 'bar' | 'lines', events: [number, ProgressEvent][], columns?: number): string[] {
  const out = sink(columns);
  const display = createProgressDisplay(out.stream, mode);
  const t0 = Date.now();
  for (const [at, e] of events) {
    vi.setSystemTime(t0 + at);
    display.listener(e);
  }
  display.finish();
  return out.lines();
}

describe('CLI progress display', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => vi.useRealTimers());

  it('shows no time left before a second of measured work: a 0.4 s run on a 1×1 image prints none', () => {
    // patch.synthesis on a 1×1 content: its first eighth took 0.3 s (start-up), the rest 0.1 s.
    const run: [number, ProgressEvent][] = [
      [0, { type: 'start', label: 'm', fraction: 0 }],
      [300, step(3, 24, 0.125)],
      [340, step(12, 24, 0.5)],
      [380, step(21, 24, 0.875)],
      [400, { type: 'done', label: 'm', fraction: 1, elapsedMs: 400 }],
    ];
    for (const mode of ['bar', 'lines'] as const) {
      const lines = play(mode, run);
      expect(lines.some((l) => l.includes('step 3/24')), mode).toBe(true);
      expect(lines.filter((l) => l.includes('ETA')), mode).toEqual([]);
    }
  });

  it('shows the rate-based time left once the measured work has run a second', () => {
    const lines = play('lines', [
      [0, { type: 'start', label: 'm', fraction: 0 }],
      [500, step(0, 10, 0)], // setup over: the clock starts here
      [1000, step(1, 10, 0.1)], // 0.5 s of work: too early
      [1700, step(2, 10, 0.2)], // 1.2 s for 20 %: 4.8 s left
      [3500, step(5, 10, 0.5)],
    ]);
    expect(lines.find((l) => l.includes('step 1/10'))).not.toContain('ETA');
    expect(lines.find((l) => l.includes('step 2/10'))).toMatch(/ETA 5 s$/);
    expect(lines.find((l) => l.includes('step 5/10'))).toMatch(/ETA 3 s$/);
  });

  it('prints whole step counts and rounded numbers, never a raw fraction of a phase', () => {
    // color.reinhard reports its phases as shares of one step (0.9997803806734993 of 1).
    const lines = play('lines', [
      [0, { type: 'start', label: 'm', fraction: 0 }],
      [10, step(0.1, 1, 0.1)],
      [20, step(1, 2, 0.5, { layer: 2, strokes: 1234.5678, loss: 0.012345 })],
      [30, step(0.9997803806734993, 1, 0.9997803806734993)],
      [40, { type: 'done', label: 'm', fraction: 1, elapsedMs: 40 }],
    ]);
    expect(lines).toContain('m: 10%');
    expect(lines).toContain('m: 50% step 1/2 layer=2 strokes=1.23e+3 loss=0.012');
    expect(lines).toContain('m: 100%');
    expect(lines.join('\n')).not.toMatch(/\d\.\d{4,}/);
    expect(lines.at(-1)).toBe('m: 100% done in 0.0 s');
  });

  it('draws whole bar lines on a terminal that reports no width (a pty under `script`: 0 columns)', () => {
    const lines = play('bar', [
      [0, { type: 'start', label: 'm', fraction: 0 }],
      [40, { type: 'done', label: 'm', fraction: 1, elapsedMs: 40 }],
    ], 0);
    expect(lines.at(-1)).toMatch(/100% done in 0\.0 s$/);
  });
});
