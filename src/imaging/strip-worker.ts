import { parentPort } from 'node:worker_threads';
import { Image } from '../core/image.js';
import type { TileFunction } from './strip-pool.js';

/** Worker side of `strip-pool.ts`: import the filter's module, run its tile function, send the pixels back. */
const modules = new Map<string, Promise<Record<string, unknown>>>();

/**
 * A block, or (with `warm` present) the warm-up before the first block: the module's warm function
 * (`TileJob.warm`, when named) and one run of the tile function whose result is dropped.
 */
type TileMessage = { id: number; module: string; fn: string; warm?: string | null; options: unknown; width: number; height: number; channels: number; top: number; data: Float32Array };

parentPort!.on('message', async (m: TileMessage) => {
  try {
    let mod = modules.get(m.module);
    if (!mod) modules.set(m.module, (mod = import(m.module) as Promise<Record<string, unknown>>));
    const fn = (await mod)[m.fn] as TileFunction<unknown>;
    if (m.warm !== undefined) {
      if (m.warm) ((await mod)[m.warm] as (options: unknown) => void)(m.options);
      fn(new Image(m.width, m.height, m.channels, m.data), m.top, m.options);
      parentPort!.postMessage({ id: m.id });
      return;
    }
    const out = fn(new Image(m.width, m.height, m.channels, m.data), m.top, m.options);
    parentPort!.postMessage({ id: m.id, data: out.data, channels: out.channels }, [out.data.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e as { message?: string; code?: string };
    parentPort!.postMessage({ id: m.id, error: { message: err.message ?? String(e), code: err.code } });
  }
});
