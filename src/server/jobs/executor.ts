import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AtelierError, throwIfAborted } from '../../core/errors.js';
import type { ProgressEvent, ProgressListener } from '../../core/progress.js';
import { startCountedWorker, terminateBetweenNativeCalls } from '../../engine/native-calls.js';
import type { JobError } from '../job-store.js';
import type { JobTask, TaskResult } from './job-task.js';
import { pinMallocThreshold, trimNativeHeap } from './native-heap.js';
import { errorFromJson, runTask } from './task.js';

/**
 * Where a task's pixels are computed. `ThreadExecutor` (the default) runs each task on a worker
 * thread so that a method's long synchronous loops never stall the HTTP server, its server-sent
 * events or a BullMQ worker's lock renewal. `InlineExecutor` runs on the calling thread (tests run
 * from TypeScript sources, where there is no compiled thread entry).
 */
export interface Executor {
  run(task: JobTask, signal: AbortSignal, onProgress: ProgressListener): Promise<TaskResult>;
  close(): Promise<void>;
}

export class InlineExecutor implements Executor {
  run(task: JobTask, signal: AbortSignal, onProgress: ProgressListener): Promise<TaskResult> {
    return runTask(task, signal, onProgress);
  }

  async close(): Promise<void> {}
}

/** Messages between the pool and a thread (see task-thread.ts). */
export type ToThread = { type: 'run'; task: JobTask } | { type: 'cancel' };
export type FromThread =
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'result'; result: TaskResult }
  | { type: 'error'; error: JobError };

/** A method that ignores its AbortSignal this long after a cancel has its thread terminated. */
const CANCEL_GRACE_MS = 250;
/** A training checks its signal between steps and then saves its checkpoint: a step and a save may take this long. */
const TRAINING_CANCEL_GRACE_MS = 120_000;
/**
 * A thread is not kept for the next task when the process has grown this much over its size when
 * the pool was made: a big job's freed buffers stay in the thread's heap and allocator arenas, and
 * only ending the thread gives them back (6000² reinhard: 674 MB held for good, 137 MB idle).
 */
const RECYCLE_GROWTH_BYTES = 256 * 2 ** 20;

const threadEntry = fileURLToPath(new URL('./task-thread.js', import.meta.url));

export function threadsAvailable(): boolean {
  return existsSync(threadEntry);
}

/**
 * One thread per running task, created on demand and kept for the next (up to `size` of them);
 * a thread that crashed or was terminated is replaced by a fresh one.
 */
export class ThreadExecutor implements Executor {
  private readonly idle: Worker[] = [];
  private readonly busy = new Set<Worker>();
  private closed = false;
  private readonly baselineRss = process.memoryUsage.rss();

  constructor(private readonly size: number) {
    if (!threadsAvailable()) {
      throw new AtelierError('E_INTERNAL', 'The compiled job thread is missing', { expected: threadEntry, hint: 'run `npm run build`' });
    }
    // A long-running process: what a big job freed must go back to the system (native-heap.ts).
    pinMallocThreshold();
  }

  run(task: JobTask, signal: AbortSignal, onProgress: ProgressListener): Promise<TaskResult> {
    if (this.closed) return Promise.reject(new AtelierError('E_JOB', 'The executor is closed'));
    // Cancelled before it started: a thread would take the cancel for the run before and start this one.
    try {
      throwIfAborted(signal);
    } catch (e) {
      return Promise.reject(e);
    }
    const worker = this.idle.pop() ?? this.spawn();
    this.busy.add(worker);
    return new Promise<TaskResult>((resolve, reject) => {
      let settled = false;
      let killTimer: NodeJS.Timeout | undefined;
      const finish = (keep: boolean) => {
        settled = true;
        clearTimeout(killTimer);
        signal.removeEventListener('abort', onAbort);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        this.busy.delete(worker);
        const bloated = process.memoryUsage.rss() > this.baselineRss + RECYCLE_GROWTH_BYTES;
        if (keep && !bloated && !this.closed && this.idle.length < this.size) {
          this.idle.push(worker);
          trimNativeHeap();
        } else {
          // The thread's heap and its buffers are freed as it ends; trim after that.
          void this.end(worker).then(() => trimNativeHeap());
        }
      };
      const onMessage = (m: FromThread) => {
        if (m.type === 'progress') onProgress(m.event);
        else if (m.type === 'result') {
          finish(true);
          resolve({ ...m.result, png: new Uint8Array(m.result.png) });
        } else {
          finish(true);
          reject(errorFromJson(m.error));
        }
      };
      const onError = (e: Error) => {
        if (settled) return;
        finish(false);
        reject(new AtelierError('E_INTERNAL', `The job thread crashed (${e.message})`, { cause: e }));
      };
      const onExit = (code: number) => {
        if (settled) return;
        finish(false);
        reject(
          signal.aborted
            ? new AtelierError('E_ABORTED', 'The run was cancelled', { hint: 'start it again to get a result' })
            : new AtelierError('E_INTERNAL', `The job thread exited with code ${code}`),
        );
      };
      const onAbort = () => {
        worker.postMessage({ type: 'cancel' } satisfies ToThread);
        // Methods check their signal between steps; one stuck in a long loop is stopped the hard way.
        killTimer = setTimeout(() => void this.end(worker), task.kind === 'training' ? TRAINING_CANCEL_GRACE_MS : CANCEL_GRACE_MS);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      signal.addEventListener('abort', onAbort, { once: true });
      worker.postMessage({ type: 'run', task } satisfies ToThread);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.idle, ...this.busy];
    this.idle.length = 0;
    await Promise.all(all.map((w) => this.end(w)));
  }

  /**
   * Threads are ended only between ONNX Runtime calls (engine/native-calls.ts): a thread ended
   * inside one aborts the whole server process.
   */
  private readonly gauges = new WeakMap<Worker, Int32Array>();

  private spawn(): Worker {
    const { worker, gauge } = startCountedWorker(threadEntry);
    this.gauges.set(worker, gauge);
    return worker;
  }

  private end(worker: Worker): Promise<number> {
    const gauge = this.gauges.get(worker);
    return gauge ? terminateBetweenNativeCalls(worker, gauge) : worker.terminate();
  }
}

/** The executor `atelier serve` and `atelier worker` use: worker threads when compiled, else inline. */
export function createExecutor(execution: 'thread' | 'inline' | undefined, size: number): Executor {
  const mode = execution ?? (threadsAvailable() ? 'thread' : 'inline');
  return mode === 'thread' ? new ThreadExecutor(size) : new InlineExecutor();
}
