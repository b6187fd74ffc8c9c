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

  due(): boolean {
    return performance.now() - this.last >= this.intervalMs;
  }

  async pause(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.last = performance.now();
    throwIfAborted(this.signal);
  }
}
