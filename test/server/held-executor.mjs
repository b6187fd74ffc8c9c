/**
 * A test double of the server's job executor: it holds each task `holdMs` before handing it to the
 * real executor, and lets go at once when the job is cancelled. Tests of cancellation, crashes,
 * queue limits and the studio's progress need a job that is surely still running when they act;
 * reinhard takes milliseconds, and a really slow method would burn the CPU the whole time.
 * Plain JavaScript so that child processes running the compiled server (held-atelier.mjs) share it
 * with the in-process tests. Set `holdMs` between jobs to change it.
 */
export class HeldExecutor {
  constructor(inner, holdMs = 0) {
    this.inner = inner;
    this.holdMs = holdMs;
  }

  async run(task, signal, onProgress) {
    const ms = this.holdMs;
    if (ms > 0 && !signal.aborted) {
      await new Promise((resolve) => {
        const timer = setTimeout(letGo, ms);
        function letGo() {
          clearTimeout(timer);
          signal.removeEventListener('abort', letGo);
          resolve();
        }
        signal.addEventListener('abort', letGo, { once: true });
      });
    }
    // A cancelled job reaches the real executor with its signal aborted: it ends the way a real cancel does.
    return this.inner.run(task, signal, onProgress);
  }

  close() {
    return this.inner.close();
  }
}
