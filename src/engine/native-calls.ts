import { Worker, workerData } from 'node:worker_threads';

/**
 * ONNX Runtime calls, counted where the thread that may end this one can see them.
 *
 * Ending a worker thread (Worker.terminate) while onnxruntime-node 1.30 runs a session or builds
 * one on it aborts the whole process: the binding's call is synchronous, and when it returns to a
 * thread that is being stopped it throws a C++ exception nobody can catch ("terminate called after
 * throwing an instance of 'Napi::Error'"). The CLI's Ctrl-C and the server's cancel end a method's
 * thread when it does not stop within its grace; a neural method in the middle of a run took the
 * CLI, or the whole server, down with it. So a thread that may be ended counts its calls in a
 * gauge shared with its parent, and the parent ends it only between calls:
 *
 * - the thread adds 1 before a call and then looks at the stop flag: when the parent has asked to
 *   stop, it takes the 1 back and never makes the call (it waits to be ended);
 * - the parent sets the stop flag and then waits for the count to be 0 before terminating.
 *
 * With sequentially consistent atomics one of the two always sees the other, so a call is never
 * under way when the thread is ended. The run that is under way when the stop comes finishes (one
 * session run: a second or so for the largest networks), and nothing after it starts.
 */

const CALLS = 0;
const STOP = 1;

/** A gauge for one worker thread: pass it in the thread's workerData as `nativeGauge`. */
export function newNativeGauge(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
}

/** A worker thread on `entry` with a gauge of its own; end it with terminateBetweenNativeCalls. */
export function startCountedWorker(entry: string | URL): { worker: Worker; gauge: Int32Array } {
  const gauge = newNativeGauge();
  return { worker: new Worker(entry, { workerData: { nativeGauge: gauge } }), gauge };
}

let gauge: Int32Array | undefined;

/** Count this thread's native calls in `shared` (called once, by a worker thread's entry). */
export function countNativeCallsIn(shared: Int32Array): void {
  gauge = shared;
}

/** In a thread started by startCountedWorker: count its native calls in the gauge its parent gave it. */
export function countNativeCallsForParent(): void {
  const shared = (workerData as { nativeGauge?: Int32Array } | null)?.nativeGauge;
  if (shared) countNativeCallsIn(shared);
}

/** Make `call` (one ONNX Runtime call) where the thread's parent can see it; see the top of this file. */
export async function nativeCall<T>(call: () => Promise<T>): Promise<T> {
  const g = gauge;
  if (!g) return call();
  Atomics.add(g, CALLS, 1);
  if (Atomics.load(g, STOP) === 1) {
    Atomics.sub(g, CALLS, 1);
    // Being ended: the call is never made and the caller waits until the thread is gone.
    return new Promise<T>(() => {});
  }
  try {
    return await call();
  } finally {
    Atomics.sub(g, CALLS, 1);
  }
}

/** End `worker` once no native call is under way on it (it makes no new one after this is called). */
export async function terminateBetweenNativeCalls(worker: Worker, shared: Int32Array, pollMs = 5): Promise<number> {
  Atomics.store(shared, STOP, 1);
  while (Atomics.load(shared, CALLS) > 0) await new Promise((r) => setTimeout(r, pollMs));
  return worker.terminate();
}
