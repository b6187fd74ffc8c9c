import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AtelierError, ERROR_CODES, type ErrorCode } from '../core/errors.js';
import { Image } from '../core/image.js';
import type { ImageSource } from '../core/io.js';
import type { ProgressEvent, ProgressListener } from '../core/progress.js';
import type { Logger } from '../core/registry.js';
import type { StylizeResult } from '../core/stylize.js';
import { startCountedWorker, terminateBetweenNativeCalls } from '../engine/native-calls.js';
import { stylize } from '../methods/index.js';

/**
 * Run a method for the command line on a thread of its own, so that Ctrl-C is heard however long
 * the method's loops run without looking at their signal: the method gets `GRACE_MS` to stop at
 * its next check, then its thread is ended. Either way the run stops well within a second and
 * nothing is written. From the TypeScript sources (tests), where there is no compiled thread
 * entry, it runs on the calling thread.
 */

/** How long a cancelled method may take to stop by itself before its thread is ended. */
export const GRACE_MS = 250;

export interface ThreadInputs {
  content: ImageSource;
  style?: ImageSource | ImageSource[];
  styleWeights?: number[];
  mask?: ImageSource;
  styleMask?: ImageSource;
  extra?: Record<string, ImageSource>;
}

export type ToMethodThread =
  | { type: 'run'; method: string; inputs: ThreadInputs; params: Record<string, unknown>; maxPixels?: number; maxMemoryBytes?: number; threads?: number; wantSvg: boolean }
  | { type: 'cancel' };

export type FromMethodThread =
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  | {
      type: 'result';
      image: { width: number; height: number; channels: number; data: Float32Array; alpha?: Float32Array };
      svg?: string;
      params: StylizeResult['params'];
      timings: StylizeResult['timings'];
      meta: StylizeResult['meta'];
    }
  | { type: 'error'; error: { code: string; message: string; hint?: string } };

const threadEntry = fileURLToPath(new URL('./method-thread.js', import.meta.url));

export interface ThreadRunOptions {
  signal: AbortSignal;
  onProgress?: ProgressListener;
  log?: Logger;
  maxPixels?: number;
  maxMemoryBytes?: number;
  threads?: number;
  wantSvg?: boolean;
}

function aborted(): AtelierError {
  return new AtelierError('E_ABORTED', 'The run was cancelled', { hint: 'start it again to get a result' });
}

export async function runMethodInThread(method: string, inputs: ThreadInputs, params: Record<string, unknown>, options: ThreadRunOptions): Promise<StylizeResult> {
  if (!existsSync(threadEntry)) {
    return stylize(method, inputs, params, {
      signal: options.signal,
      flagStyle: true,
      ...(options.onProgress && { onProgress: options.onProgress }),
      ...(options.log && { log: options.log }),
      ...(options.maxPixels !== undefined && { maxPixels: options.maxPixels }),
      ...(options.maxMemoryBytes !== undefined && { maxMemoryBytes: options.maxMemoryBytes }),
      ...(options.threads !== undefined && { threads: options.threads }),
    });
  }
  const { signal } = options;
  if (signal.aborted) throw aborted();
  // The thread is ended only between ONNX Runtime calls (engine/native-calls.ts): ended inside one,
  // it would abort this whole process.
  const { worker, gauge } = startCountedWorker(threadEntry);
  return new Promise<StylizeResult>((resolve, reject) => {
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(killTimer);
      signal.removeEventListener('abort', onAbort);
      void terminateBetweenNativeCalls(worker, gauge);
      fn();
    };
    const onAbort = () => {
      worker.postMessage({ type: 'cancel' } satisfies ToMethodThread);
      killTimer = setTimeout(() => settle(() => reject(aborted())), GRACE_MS);
    };
    worker.on('message', (m: FromMethodThread) => {
      if (m.type === 'progress') options.onProgress?.(m.event);
      else if (m.type === 'log') options.log?.[m.level](m.message);
      else if (m.type === 'result') {
        const image = new Image(m.image.width, m.image.height, m.image.channels, m.image.data, m.image.alpha);
        settle(() => resolve({ image, ...(m.svg !== undefined && { svg: m.svg }), params: m.params, timings: m.timings, meta: m.meta }));
      } else {
        const code = m.error.code in ERROR_CODES ? (m.error.code as ErrorCode) : 'E_INTERNAL';
        settle(() => reject(new AtelierError(code, m.error.message)));
      }
    });
    worker.on('error', (e) => settle(() => reject(signal.aborted ? aborted() : new AtelierError('E_INTERNAL', `The method's thread crashed (${e.message})`, { cause: e }))));
    worker.on('exit', (code) => settle(() => reject(signal.aborted ? aborted() : new AtelierError('E_INTERNAL', `The method's thread exited with code ${code}`))));
    signal.addEventListener('abort', onAbort, { once: true });
    worker.postMessage({ type: 'run', method, inputs, params, maxPixels: options.maxPixels, maxMemoryBytes: options.maxMemoryBytes, threads: options.threads, wantSvg: options.wantSvg ?? false } satisfies ToMethodThread);
  });
}
