/**
 * Progress is one tagged union, delivered as a callback (`onProgress`), as an async iterator
 * (`progressStream`), as CLI bars and as server-sent events. `fraction` never decreases during a
 * run and the last event of a successful run is `done` with fraction 1.
 */

export type ProgressEvent =
  | { type: 'start'; label: string; fraction: 0 }
  | {
      type: 'step';
      label: string;
      step: number;
      total: number;
      fraction: number;
      /** Named numbers a method wants to show: a loss breakdown, a layer's stroke count. */
      values?: Record<string, number>;
    }
  | { type: 'frame'; label: string; frame: number; total: number; fraction: number }
  | { type: 'download'; label: string; received: number; total?: number; fraction: number }
  | { type: 'done'; label: string; fraction: 1; elapsedMs: number }
  | { type: 'error'; label: string; fraction: number; code: string; message: string };

export type ProgressListener = (event: ProgressEvent) => void;

/**
 * What a method uses to report. Steps may come from nested phases: `phase(i, n)` maps a
 * sub-range of the whole run, so a method with 3 pyramid levels can report each as 0..1.
 */
export interface Progress {
  /** Report `step` of `total` within the current phase. */
  step(step: number, total: number, values?: Record<string, number>): void;
  /** Report a video frame. */
  frame(frame: number, total: number): void;
  /** A reporter for the sub-range [from, to) of this one, as fractions. */
  sub(from: number, to: number, label?: string): Progress;
}

export class ProgressReporter implements Progress {
  private last = 0;
  private readonly started = Date.now();

  constructor(
    private readonly emit: ProgressListener,
    readonly label: string,
  ) {}

  start(): void {
    this.emit({ type: 'start', label: this.label, fraction: 0 });
  }

  /** Report an absolute fraction of the whole run; never lets it go backwards. */
  report(fraction: number, make: (f: number) => ProgressEvent): void {
    const f = Math.min(1, Math.max(this.last, Number.isFinite(fraction) ? fraction : this.last));
    this.last = f;
    this.emit(make(f));
  }

  step(step: number, total: number, values?: Record<string, number>): void {
    this.stepAt(0, 1, this.label, step, total, values);
  }

  frame(frame: number, total: number): void {
    this.report(total > 0 ? frame / total : 0, (fraction) => ({ type: 'frame', label: this.label, frame, total, fraction }));
  }

  sub(from: number, to: number, label = this.label): Progress {
    return new SubProgress(this, from, to, label);
  }

  /** @internal used by sub-ranges */
  stepAt(from: number, to: number, label: string, step: number, total: number, values?: Record<string, number>): void {
    const local = total > 0 ? Math.min(1, step / total) : 0;
    this.report(from + (to - from) * local, (fraction) => ({
      type: 'step',
      label,
      step,
      total,
      fraction,
      ...(values && { values }),
    }));
  }

  done(): void {
    this.last = 1;
    this.emit({ type: 'done', label: this.label, fraction: 1, elapsedMs: Date.now() - this.started });
  }

  error(code: string, message: string): void {
    this.emit({ type: 'error', label: this.label, fraction: this.last, code, message });
  }
}

class SubProgress implements Progress {
  constructor(
    private readonly root: ProgressReporter,
    private readonly from: number,
    private readonly to: number,
    private readonly label: string,
  ) {}

  step(step: number, total: number, values?: Record<string, number>): void {
    this.root.stepAt(this.from, this.to, this.label, step, total, values);
  }

  frame(frame: number, total: number): void {
    this.step(frame, total);
  }

  sub(from: number, to: number, label = this.label): Progress {
    const span = this.to - this.from;
    return new SubProgress(this.root, this.from + span * from, this.from + span * to, label);
  }
}

/** A Progress that goes nowhere (for internal helpers called outside a run). */
export const silentProgress: Progress = {
  step() {},
  frame() {},
  sub() {
    return silentProgress;
  },
};

/**
 * Turn a run that reports through a listener into an async iterator of its events.
 * The iterator ends after `done` or `error`; the run's promise result is returned at the end.
 */
export async function* progressStream<T>(run: (listener: ProgressListener) => Promise<T>): AsyncGenerator<ProgressEvent, T> {
  const queue: ProgressEvent[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let result: T | undefined;
  let failure: unknown;
  const push: ProgressListener = (e) => {
    queue.push(e);
    wake?.();
  };
  const running = run(push).then(
    (r) => {
      result = r;
    },
    (e) => {
      failure = e;
    },
  ).finally(() => {
    finished = true;
    wake?.();
  });
  while (true) {
    while (queue.length > 0) yield queue.shift()!;
    if (finished) break;
    await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
  }
  await running;
  if (failure !== undefined) throw failure;
  return result as T;
}
