import { throwIfAborted } from './errors.js';

/**
 * Cooperative cancellation for long synchronous loops. An AbortSignal fires from an event-loop
 * callback (Ctrl-C's handler, a server's DELETE, a timer), so a loop that never returns to the
 * event loop never sees it, however often it checks. A loop calls `if (pacer.due()) await
 * pacer.pause()` in its inner steps: `due()` is a clock read, and `pause()` gives the event loop
 * one turn (so the abort can land) at most every `intervalMs` of work, then throws E_ABORTED if
 * the signal fired.
 */
export class CancelPacer {
  private last = performance.now();

  constructor(
    private readonly signal: AbortSignal | undefined,
    private readonly intervalMs = 50,
  ) {}

  /** Time for a turn, or the signal has already fired (then stop at once). */
  due(): boolean {
    return this.signal?.aborted === true || performance.now() - this.last >= this.intervalMs;
  }

  async pause(): Promise<void> {
    throwIfAborted(this.signal);
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.last = performance.now();
    throwIfAborted(this.signal);
  }
}
