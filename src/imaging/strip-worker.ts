import { parentPort } from 'node:worker_threads';
import { Image } from '../core/image.js';
import type { TileFunction } from './strip-pool.js';

/** Worker side of `strip-pool.ts`: import the filter's module, run its tile function, send the pixels back. */
const modules = new Map<string, Promise<Record<string, unknown>>>();

parentPort!.on('message', async (m: { id: number; module: string; fn: string; options: unknown; width: number; height: number; channels: number; top: number; data: Float32Array }) => {
  try {
    let mod = modules.get(m.module);
    if (!mod) modules.set(m.module, (mod = import(m.module) as Promise<Record<string, unknown>>));
    const fn = (await mod)[m.fn] as TileFunction<unknown>;
    const out = fn(new Image(m.width, m.height, m.channels, m.data), m.top, m.options);
    parentPort!.postMessage({ id: m.id, data: out.data, channels: out.channels }, [out.data.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e as { message?: string; code?: string };
    parentPort!.postMessage({ id: m.id, error: { message: err.message ?? String(e), code: err.code } });
  }
});
