import { parentPort } from 'node:worker_threads';
import { isAtelierError } from '../core/errors.js';
import type { StylizeInputs } from '../core/stylize.js';
import { countNativeCallsForParent } from '../engine/native-calls.js';
import { stylize } from '../methods/index.js';
import type { FromMethodThread, ToMethodThread } from './run-method-thread.js';

/**
 * Entry of the thread a CLI run computes in (see run-method-thread.ts). The main thread stays free
 * to hear Ctrl-C while a method's loops run here, and can end this thread at once if the method
 * does not stop at its next check of the signal.
 */

const port = parentPort;
if (!port) throw new Error('method-thread.js runs only as a worker thread');
// The parent ends this thread only between ONNX Runtime calls (engine/native-calls.ts).
countNativeCallsForParent();

const controller = new AbortController();

port.on('message', (m: ToMethodThread) => {
  if (m.type === 'cancel') {
    controller.abort(new Error('interrupted'));
    return;
  }
  const send = (msg: FromMethodThread, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);
  stylize(m.method, m.inputs as StylizeInputs, m.params, {
    signal: controller.signal,
    flagStyle: true,
    onProgress: (event) => send({ type: 'progress', event }),
    ...(m.maxPixels !== undefined && { maxPixels: m.maxPixels }),
    ...(m.maxMemoryBytes !== undefined && { maxMemoryBytes: m.maxMemoryBytes }),
    ...(m.threads !== undefined && { threads: m.threads }),
    log: {
      debug() {},
      info: (message) => send({ type: 'log', level: 'info', message }),
      warn: (message) => send({ type: 'log', level: 'warn', message }),
    },
  }).then(
    (result) => {
      const { image } = result;
      const svg = m.wantSvg ? result.svg : undefined;
      send(
        {
          type: 'result',
          image: { width: image.width, height: image.height, channels: image.channels, data: image.data, ...(image.alpha && { alpha: image.alpha }) },
          ...(svg !== undefined && { svg }),
          params: result.params,
          timings: result.timings,
          meta: result.meta,
        },
        [image.data.buffer as ArrayBuffer, ...(image.alpha ? [image.alpha.buffer as ArrayBuffer] : [])],
      );
    },
    (e: unknown) =>
      send({
        type: 'error',
        error: isAtelierError(e)
          ? { code: e.code, message: e.message, ...(e.hint !== undefined && { hint: e.hint }) }
          : { code: 'E_INTERNAL', message: e instanceof Error ? (e.stack ?? e.message) : String(e) },
      }),
  );
});
