import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CancelPacer } from '../core/cancel-pacer.js';
import { AtelierError, throwIfAborted } from '../core/errors.js';
import { Image } from '../core/image.js';
import type { Progress } from '../core/progress.js';

/**
 * Strip filtering on worker threads. A filter exports a tile function `(tile, top, options) =>
 * Image` from its module; strips (cut by `planStrips` below, with overlapping margins) are sent to a
 * small pool of workers that import that module and call it, so both cores work on one image.
 * The strip layout depends only on the image size, never on the thread count, so results are the
 * same whatever `--threads` is. Where workers cannot run (the sources are run untranspiled, as in
 * the test runner) the strips run inline.
 *
 * Strips double as the unit of progress and of cancellation: an image is cut into row blocks of
 * about `BLOCK_PIXELS` (never so thin that the margins cost more than a tenth on each side), the
 * run reports progress as rows complete, and it stops between blocks when cancelled. The blocks
 * run on workers, one thread included, so a cancel ends the workers still busy at once instead of
 * waiting for their blocks; inline, the event loop gets a turn between blocks (CancelPacer).
 * The workers' one-off setup (starting, importing the filter's module, its `warm` function) is done
 * before the first block, and the run reports step 0 then: time-left estimates count from there
 * (`core/time-left.ts`), so a cost paid once is not extrapolated over every block.
 */

export type TileFunction<O> = (tile: Image, top: number, options: O) => Image;

export interface TileJob<O> {
  /** `import.meta.url` of the module exporting the tile function. */
  module: string;
  /** Name of the exported tile function. */
  fn: string;
  /** Plain data (structured-cloneable) passed to every call. */
  options: O;
  /**
   * Name of an exported `(options) => void` doing the tile function's one-off setup for these
   * options (compiling a WebAssembly kernel), run on each worker before the first block.
   */
  warm?: string;
}

/** Largest strip, in pixels before margins: bounds the working set of huge images. */
export const MAX_STRIP_PIXELS = 1 << 21;
/**
 * Images at least this large are cut into two or more strips even when they would fit one, so
 * that both threads work. Measured on a quiet 2-core machine at 1 MP (bench/npr.mjs): two strips
 * on two threads cut wall time 1.3–1.6× (Kuwahara 605 → 413 ms before its wasm kernel, pencil
 * 349 → 215 ms) for ~20 % more CPU (worker start-up). On a machine already loaded by other work a second thread can cost
 * more than it saves; `--threads 1` keeps the work on one.
 */
const SPLIT_PIXELS = 1 << 19;
/**
 * Target row-block size, in pixels before margins: at the filters' ~1 µs per pixel on one thread
 * (bench/eta.mjs at 2048²), about 65 ms of work between two progress events and two chances to
 * stop. A 512² image is four blocks.
 */
export const BLOCK_PIXELS = 1 << 16;
/**
 * A block is at least this many margins tall, so recomputing the margins (each side's margin is
 * filtered by both neighbours) costs at most 2/10 of the work: where the margin grows with the
 * image, blocks grow with it rather than multiply.
 */
const BLOCK_MARGINS = 10;

interface StripPlan {
  y0: number;
  y1: number;
  top: number;
  bottom: number;
}

export function planStrips(width: number, height: number, margin: number, maxStripPixels = MAX_STRIP_PIXELS): StripPlan[] {
  // Row blocks of about BLOCK_PIXELS, tall enough for the margins, within a memory cap (where the
  // cap wins, strips at least four margins tall keep the overlap overhead under 50 %).
  let rows = Math.max(16, Math.floor(Math.min(BLOCK_PIXELS, maxStripPixels) / width), Math.ceil(BLOCK_MARGINS * margin));
  rows = Math.min(rows, Math.max(16, Math.floor(maxStripPixels / width), Math.ceil(4 * margin)), Math.max(16, Math.floor((4 * maxStripPixels) / width)));
  if (width * height >= SPLIT_PIXELS) rows = Math.min(rows, Math.ceil(height / 2));
  if (rows >= height) return [{ y0: 0, y1: height, top: 0, bottom: height }];
  const m = Math.ceil(margin);
  const plan: StripPlan[] = [];
  for (let y0 = 0; y0 < height; y0 += rows) {
    const y1 = Math.min(height, y0 + rows);
    plan.push({ y0, y1, top: Math.max(0, y0 - m), bottom: Math.min(height, y1 + m) });
  }
  return plan;
}

const workerFile = fileURLToPath(new URL('./strip-worker.js', import.meta.url));
const canUseWorkers = !import.meta.url.endsWith('.ts') && existsSync(workerFile);

interface Pending {
  resolve: (out: { data: Float32Array; channels: number }) => void;
  reject: (e: unknown) => void;
}

/**
 * A worker takes the parent's flags, but Node refuses some of them in a worker: `--input-type` (a
 * parent run with `node -e`) for a file, and per-process ones such as `--expose-gc`
 * (ERR_WORKER_INVALID_EXEC_ARGV: every filter and colour run in such a process failed). Then only
 * the flags that load code (a TypeScript loader, preloads) are kept, which is all the worker needs.
 */
function startStripWorker(): Worker {
  const flags = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  try {
    return new Worker(workerFile, { execArgv: flags });
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw e;
    return new Worker(workerFile, { execArgv: loaderFlags(flags) });
  }
}

/** `--import X`, `--loader=X`, `-r X`, `--experimental-…`: the flags that decide how code loads. */
function loaderFlags(flags: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    const a = flags[i]!;
    if (/^--experimental-/.test(a)) out.push(a);
    else if (/^(--import|--loader|--experimental-loader|--require|-r)=/.test(a)) out.push(a);
    else if (/^(--import|--loader|--experimental-loader|--require|-r)$/.test(a) && i + 1 < flags.length) out.push(a, flags[++i]!);
  }
  return out;
}

class StripWorker {
  readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Set when the worker was ended (a cancel); the pool replaces it. */
  ended = false;
  /** Taken by a run: a cancel ends only its own run's workers. */
  claimed = false;
  /** Tile functions this worker has run (`module#fn`). */
  private readonly warmed = new Set<string>();

  constructor() {
    this.worker = startStripWorker();
    this.worker.unref();
    this.worker.on('message', (m: { id: number; data?: Float32Array; channels?: number; error?: { message: string; code?: string } }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(new AtelierError((m.error.code as 'E_INTERNAL') ?? 'E_INTERNAL', m.error.message));
      else p.resolve({ data: m.data!, channels: m.channels! });
      if (this.pending.size === 0) this.worker.unref();
    });
    this.worker.on('error', (e) => this.fail(e));
  }

  get busy(): boolean {
    return this.pending.size > 0;
  }

  run(job: TileJob<unknown>, tile: Image, top: number): Promise<{ data: Float32Array; channels: number }> {
    return this.send(
      { module: job.module, fn: job.fn, options: job.options, width: tile.width, height: tile.height, channels: tile.channels, top, data: tile.data },
      [tile.data.buffer as ArrayBuffer],
    );
  }

  /**
   * The setup a first block would otherwise pay, once per worker and tile function: import the
   * job's module, run its `warm` function, and run the tile function once on `sample` (a small
   * corner of the image), so the block loops are compiled before the measured work starts.
   */
  async warm(job: TileJob<unknown>, sample: () => Image): Promise<void> {
    const key = `${job.module}#${job.fn}`;
    if (this.warmed.has(key)) return;
    const tile = sample();
    await this.send({ module: job.module, fn: job.fn, warm: job.warm ?? null, options: job.options, width: tile.width, height: tile.height, channels: tile.channels, top: 0, data: tile.data }, [tile.data.buffer as ArrayBuffer]);
    this.warmed.add(key);
  }

  private send(message: Record<string, unknown>, transfer: ArrayBuffer[]): Promise<{ data: Float32Array; channels: number }> {
    const id = this.nextId++;
    this.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...message }, transfer);
    });
  }

  /** Stop mid-block: a tile function is one synchronous call that cannot be interrupted otherwise. */
  end(reason: unknown): void {
    this.ended = true;
    void this.worker.terminate();
    this.fail(reason);
  }

  private fail(e: unknown): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

const pool: StripWorker[] = [];

/** `n` workers for one run (released with `release`); runs side by side get workers of their own. */
function claimWorkers(n: number): StripWorker[] {
  for (let i = pool.length - 1; i >= 0; i--) if (pool[i]!.ended) pool.splice(i, 1);
  const team = pool.filter((w) => !w.claimed).slice(0, n);
  while (team.length < n) {
    const w = new StripWorker();
    pool.push(w);
    team.push(w);
  }
  for (const w of team) w.claimed = true;
  return team;
}

/** Filter `img` strip by strip with `job`'s tile function, on up to `threads` workers. */
export async function mapStripsParallel<O>(
  img: Image,
  margin: number,
  outChannels: number,
  job: TileJob<O>,
  tileFn: TileFunction<O>,
  ctx: { threads: number; signal?: AbortSignal; progress?: Progress; maxStripPixels?: number },
): Promise<Image> {
  const { width, height } = img;
  const plan = planStrips(width, height, margin, ctx.maxStripPixels);
  const cut = (s: StripPlan) => {
    const tile = plan.length === 1 ? img : img.crop(0, s.top, width, s.bottom - s.top);
    if (tile !== img) tile.alpha = undefined;
    return tile;
  };
  const out = plan.length === 1 ? undefined : new Image(width, height, outChannels, undefined, img.alpha);
  let rowsDone = 0;
  const place = (s: StripPlan, data: Float32Array): Image | undefined => {
    rowsDone += s.y1 - s.y0;
    ctx.progress?.step(rowsDone, height);
    const rows = s.bottom - s.top;
    if (!out) return new Image(width, height, outChannels, data, img.alpha);
    for (let c = 0; c < outChannels; c++) {
      out.plane(c).set(data.subarray(c * rows * width + (s.y0 - s.top) * width, c * rows * width + (s.y1 - s.top) * width), s.y0 * width);
    }
    return undefined;
  };
  // Even one thread's strips go to a worker: the calling thread stays free to take a cancel (the
  // worker is ended mid-block) and to pass progress on, however long a block takes.
  const threads = Math.max(1, Math.min(ctx.threads, plan.length));
  if (!canUseWorkers) {
    const pacer = new CancelPacer(ctx.signal);
    // Inline the setup is paid by the first block (as in one piece); the measured work starts now.
    ctx.progress?.step(0, height);
    let whole: Image | undefined;
    for (const s of plan) {
      throwIfAborted(ctx.signal);
      whole = place(s, tileFn(cut(s), s.top, job.options).data);
      if (pacer.due()) await pacer.pause();
    }
    return out ?? whole!;
  }
  // Each worker takes the next strip when it finishes one; strips are cut just in time, so only
  // `threads` strips' copies exist at once.
  let next = 0;
  let whole: Image | undefined;
  let started = false;
  // A warm-up tile: the top-left corner, a block's margins and a few rows tall, 64 columns wide.
  const sample = () => {
    const tile = img.crop(0, 0, Math.min(width, 64), Math.min(height, 16 + 2 * Math.ceil(margin)));
    tile.alpha = undefined;
    return tile;
  };
  throwIfAborted(ctx.signal);
  const team = claimWorkers(threads);
  const onAbort = () => {
    const reason = new AtelierError('E_ABORTED', 'The run was cancelled', { hint: 'start it again to get a result', cause: ctx.signal?.reason });
    for (const w of team) if (w.busy) w.end(reason);
  };
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  const loop = async (w: StripWorker) => {
    await w.warm(job as TileJob<unknown>, sample);
    // The first worker ready starts the measured work (the others' setup runs beside its block).
    if (!started) ctx.progress?.step(0, height);
    started = true;
    while (next < plan.length) {
      throwIfAborted(ctx.signal);
      const s = plan[next++]!;
      // The worker takes the tile's buffer (transferred, not copied), so it must never be the
      // caller's own image: a one-strip plan's tile is `img` itself, and sending it detached the
      // caller's pixels.
      const tile = cut(s);
      const r = await w.run(job as TileJob<unknown>, tile === img ? img.clone() : tile, s.top);
      whole = place(s, r.data) ?? whole;
    }
  };
  try {
    await Promise.all(team.map(loop));
  } finally {
    ctx.signal?.removeEventListener('abort', onAbort);
    for (const w of team) w.claimed = false;
  }
  throwIfAborted(ctx.signal);
  return out ?? whole!;
}
