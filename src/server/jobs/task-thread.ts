import { parentPort } from 'node:worker_threads';
import { countNativeCallsForParent } from '../../engine/native-calls.js';
import type { FromThread, ToThread } from './executor.js';
import { errorToJson, runTask } from './task.js';

/** Entry of a job thread (see ThreadExecutor): runs one task at a time, cancellable. */

const port = parentPort;
if (!port) throw new Error('task-thread.js runs only as a worker thread');
// The executor ends this thread only between ONNX Runtime calls (engine/native-calls.ts).
countNativeCallsForParent();

let controller: AbortController | undefined;

port.on('message', (m: ToThread) => {
  if (m.type === 'cancel') {
    controller?.abort(new Error('cancelled'));
    return;
  }
  controller = new AbortController();
  const signal = controller.signal;
  const send = (msg: FromThread, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);
  runTask(m.task, signal, (event) => send({ type: 'progress', event })).then(
    (result) => {
      // Copy into a buffer of its own so the transfer cannot detach sharp's pooled memory.
      const png = new Uint8Array(result.png);
      send({ type: 'result', result: { ...result, png } }, [png.buffer as ArrayBuffer]);
    },
    (e: unknown) => send({ type: 'error', error: errorToJson(e) }),
  );
});
