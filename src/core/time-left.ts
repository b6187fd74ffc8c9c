import type { ProgressEvent } from './progress.js';

/**
 * Time left in a run, from its progress events: the rate of progress so far applied to what is
 * left, with the clock started where the measured work starts. That is the last event at 0 %: the
 * run's `start`, or a `step 0` a method reports once its one-off setup is over (a model loaded,
 * workers started, a WebAssembly kernel compiled). Setup costs the same whatever the image size, so
 * counted in the rate it would be extrapolated over the whole run: a 0.6 s kernel compile before a
 * filter's first 15 % read as 3.4 s more to come. The CLI shows this estimate; the studio applies
 * the same rule to the events it receives (web/src/components/ProgressPanel.tsx).
 */
export class TimeLeft {
  /** `startedAt`: when the run started, on the clock `observe` is given (the anchor until an event at 0 % arrives). */
  constructor(private from: number) {}

  /**
   * Take one event seen at `now` (ms, any clock that only moves forward); returns the estimated ms
   * left, or undefined while there is no rate worth trusting (under 2 % done) or nothing left.
   */
  observe(e: ProgressEvent, now: number): number | undefined {
    if (e.fraction === 0) this.from = now;
    return timeLeft(now - this.from, e.fraction);
  }

  /**
   * What a display shows for the same event: the estimate once the measured work has run for
   * SHOWN_AFTER_MS, undefined before. A rate taken over a few hundred ms mostly measures the first
   * step's own start-up (a pyramid's coarsest level, a worker's first strip): a 1×1 image's 0.4 s
   * run read "ETA 46 s" from it. A run shorter than that ends before any estimate would help.
   * (The studio's panel waits for 800 ms since the job started and 3 % done, which also keeps such
   * runs quiet.)
   */
  shown(e: ProgressEvent, now: number): number | undefined {
    const left = this.observe(e, now);
    return now - this.from >= SHOWN_AFTER_MS ? left : undefined;
  }
}

/** How long the measured work must have run before a display shows its time left (ms). */
export const SHOWN_AFTER_MS = 1000;

/** The ms left when `fraction` of the measured work took `elapsedMs`; undefined under 2 % done or once done. */
export function timeLeft(elapsedMs: number, fraction: number): number | undefined {
  if (!(fraction > 0.02) || fraction >= 1) return undefined;
  return (elapsedMs * (1 - fraction)) / fraction;
}
