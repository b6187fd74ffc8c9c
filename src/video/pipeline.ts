import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { AtelierError, throwIfAborted, wrapError } from '../core/errors.js';
import { Image } from '../core/image.js';
import { encodeImage, readImage } from '../core/io.js';
import { parseParams } from '../core/params.js';
import { ProgressReporter, type ProgressListener } from '../core/progress.js';
import type { AnyMethod, Logger } from '../core/registry.js';
import { fitWithin, resizeImage } from '../core/resample.js';
import { methodParamsSchema, runMethod } from '../core/stylize.js';
import { decodeFrames } from './decoder.js';
import { VideoEncoder } from './encoder.js';
import { FrameStore, storeKey } from './frame-store.js';
import { checkCrf, videoFormatForPath } from './output-format.js';
import { DEFAULT_VIDEO_LIMITS, probeVideo, type VideoLimits, type VideoProbe } from './probe.js';
import { looksLikeVideo } from './sniff.js';
import { DEFAULT_VIDEO_BEHAVIOUR, TemporalStabilizer, type StabilizerState, type TemporalMode } from './temporal/stabilizer.js';

/**
 * `atelier video`: a clip restyled frame by frame with any method, as a pipeline — ffmpeg decodes
 * ahead into a short queue, the method and the temporal stabiliser work on the current frame, and
 * ffmpeg encodes the previous ones meanwhile; memory holds a few frames whatever the clip's length.
 * Each finished frame also goes to a resumable store (frame-store.ts); the output appears under
 * its name only when complete (encoder.ts). On a cancel the finished frames are saved and the run
 * can be resumed; on success the store is removed.
 */

export interface VideoJob {
  input: string;
  output: string;
  method: AnyMethod;
  /** Style image path(s) or bytes, read once. */
  style?: string | Uint8Array | (string | Uint8Array)[];
  styleWeights?: number[];
  /** A still mask applied to every frame (the shared `mask` control). */
  mask?: string | Uint8Array;
  params?: Record<string, unknown>;
  /** Default: the method's declared `video.temporal`. */
  temporal?: TemporalMode;
  /** Share of the carried-over previous result (default 0.6). */
  temporalWeight?: number;
  /** Long side the optical flow is computed at (default 320). */
  flowSize?: number;
  crf?: number;
  force?: boolean;
  resume?: boolean;
  /** Also write every stylised frame as a PNG here. */
  framesDir?: string;
  /** Where finished frames are kept for --resume (default: a hidden folder beside the output). */
  storeDir?: string;
  limits?: Partial<VideoLimits>;
  /** Pixel limit for the style image and mask (default as images). */
  maxPixels?: number;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** Called with each finished frame (e.g. the server's preview). */
  onFrame?: (frame: { index: number; total: number; image: Image }) => void | Promise<void>;
  log?: Logger;
  threads?: number;
  flagStyle?: boolean;
}

export interface VideoResult {
  output: string;
  frames: number;
  /** Frames taken from the resume store instead of computed. */
  resumedFrames: number;
  width: number;
  height: number;
  temporal: TemporalMode;
  params: Record<string, unknown>;
  /** Time the pipeline's thread spent waiting for or doing each part (ffmpeg runs beside it). */
  timings: { decodeMs: number; flowMs: number; stylizeMs: number; encodeMs: number; totalMs: number };
}

const silentLogger: Logger = { debug() {}, info() {}, warn() {} };
/** Frames decoded ahead of the one being stylised. */
const DECODE_AHEAD = 3;

/** Where the resume store of an output lives by default. */
export function defaultStoreDir(output: string): string {
  const dir = path.dirname(path.resolve(output));
  return path.join(dir, `.${path.basename(output).replace(/%/g, '_')}.atelier-video`);
}

export async function stylizeVideo(job: VideoJob): Promise<VideoResult> {
  const t0 = performance.now();
  const def = job.method;
  const log = job.log ?? silentLogger;
  const signal = job.signal ?? new AbortController().signal;
  const format = videoFormatForPath(job.output);
  const crf = checkCrf(format, job.crf);
  const behaviour = def.video ?? DEFAULT_VIDEO_BEHAVIOUR;
  const temporal = job.temporal ?? behaviour.temporal;
  const userParams = job.params ?? {};
  // A video run takes the method's video params (e.g. a video checkpoint) unless the user set them.
  const rawParams = { ...Object.fromEntries(Object.entries(behaviour.params ?? {}).filter(([k]) => !(k in userParams))), ...userParams };
  const params = parseParams(methodParamsSchema(def), rawParams, { methodId: def.id, flagStyle: job.flagStyle ?? false }) as Record<string, unknown> & { maxSize?: number };

  const limits = { ...DEFAULT_VIDEO_LIMITS, ...job.limits };
  const probe = await probeVideo(job.input, limits);
  const styles = await readStyles(def, job.style, job.maxPixels);
  const maskBytes = job.mask === undefined ? undefined : typeof job.mask === 'string' ? await readInput(job.mask, 'mask') : job.mask;
  const maxSize = params.maxSize ?? def.defaultMaxSize;
  const { width, height } = fitWithin(probe.width, probe.height, maxSize);
  const total = probe.timestamps.length;

  const stabilizer = new TemporalStabilizer({
    mode: temporal,
    behaviour,
    ...(job.temporalWeight !== undefined && { weight: job.temporalWeight }),
    ...(job.flowSize !== undefined && { flowSize: job.flowSize }),
  });
  const stat = await fs.stat(job.input);
  const key = storeKey({
    input: path.resolve(job.input),
    size: stat.size,
    mtime: stat.mtimeMs,
    method: def.id,
    params,
    styles: styles.map((s) => s.hash),
    temporal,
    weight: job.temporalWeight ?? null,
    flowSize: job.flowSize ?? null,
    mask: maskBytes ? maskBytes.length : null,
  });
  const store = await FrameStore.open(job.storeDir ?? defaultStoreDir(job.output), key, width, height, { resume: job.resume ?? false, discard: job.force ?? false });
  if (job.framesDir) await fs.mkdir(job.framesDir, { recursive: true });

  const reporter = new ProgressReporter(job.onProgress ?? (() => {}), `${def.id} video`);
  reporter.start();
  const timings = { decodeMs: 0, flowMs: 0, stylizeMs: 0, encodeMs: 0, totalMs: 0 };
  let encoder: VideoEncoder | undefined;
  let lastOutput: Image | undefined;
  let writing: Promise<void> = Promise.resolve();
  const snapshot = () => ({ last: lastOutput!.data, state: stabilizer.snapshot() });
  const resumedFrames = store.frames;
  let index = 0;
  // Stops the decoder's ffmpeg however the loop ends.
  const stopDecoding = new AbortController();
  try {
    encoder = await VideoEncoder.start({ output: job.output, format, source: probe, width, height, force: job.force ?? false, ...(crf !== undefined && { crf }) });
    const enc = encoder;
    // Finished frames from an interrupted run go to the encoder first.
    for await (const rgb of store.replay()) {
      const t = performance.now();
      await enc.write(rgb);
      timings.encodeMs += performance.now() - t;
      index++;
    }
    if (resumedFrames > 0) log.info(`resuming after ${resumedFrames} finished frames`);
    const last = resumedFrames > 0 ? await store.lastResult() : undefined;
    const decoder = readAhead(decodeFrames(probe, { width, height, signal: AbortSignal.any([signal, stopDecoding.signal]) }), DECODE_AHEAD);
    let decoded = 0;
    while (true) {
      const td = performance.now();
      const next = await decoder.next();
      timings.decodeMs += performance.now() - td;
      if (next.done) break;
      const frameIndex = decoded++;
      throwIfAborted(signal);
      const input = Image.fromInterleaved(width, height, 3, next.value, 255);
      if (frameIndex < resumedFrames) {
        // Already done: only the last of these matters, to restart the flow and the carried result.
        if (frameIndex === resumedFrames - 1) {
          const lastImage = last && last.length === width * height * 3 ? new Image(width, height, 3, last) : undefined;
          stabilizer.restore((store.state ?? {}) as StabilizerState, input, lastImage);
          lastOutput = lastImage ?? input;
        }
        continue;
      }
      const { previous } = stabilizer.begin(input);
      const ts = performance.now();
      const result = await runMethod(
        def,
        {
          content: input,
          ...(styles.length > 0 && { style: styles.length === 1 ? styles[0]!.image : styles.map((s) => s.image) }),
          ...(job.styleWeights && { styleWeights: job.styleWeights }),
          ...(maskBytes && { mask: maskBytes }),
          ...(previous && { previous }),
        },
        params,
        { signal, log, ...(job.threads !== undefined && { threads: job.threads }), ...(job.maxPixels !== undefined && { maxPixels: job.maxPixels }) },
      );
      timings.stylizeMs += performance.now() - ts;
      const stylised = result.image.sameSize(input) && result.image.channels === 3 ? result.image : fitFrame(result.image, width, height);
      const out = stabilizer.end(stylised);
      lastOutput = out;
      const rgb = out.toInterleaved(255);
      // The encoder takes this frame while the next one is stylised; only its backpressure waits.
      const tw = performance.now();
      await writing;
      timings.encodeMs += performance.now() - tw;
      writing = enc.write(rgb);
      writing.catch(() => undefined);
      await store.add(rgb, snapshot);
      if (job.framesDir) await writeFramePng(out, job.framesDir, frameIndex);
      index++;
      reporter.frame(index, total);
      await job.onFrame?.({ index: frameIndex, total, image: out });
      // Methods run synchronous loops: let a queued Ctrl-C in before the next frame.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await writing;
    throwIfAborted(signal);
    if (index === 0) {
      throw new AtelierError('E_IMAGE_DECODE', `${JSON.stringify(job.input)} gave no frames`, { subject: job.input });
    }
    const te = performance.now();
    await enc.finish();
    timings.encodeMs += performance.now() - te;
    await store.remove();
    timings.flowMs = stabilizer.flowMs;
    timings.totalMs = performance.now() - t0;
    reporter.done();
    return { output: job.output, frames: index, resumedFrames, width, height, temporal, params, timings };
  } catch (e) {
    stopDecoding.abort();
    await writing.catch(() => undefined);
    await encoder?.abort();
    const aborted = signal.aborted || (e instanceof AtelierError && e.code === 'E_ABORTED');
    let kept = false;
    if (lastOutput && store.frames > 0) {
      // Keep what was finished so --resume continues from it; a store that cannot be written is dropped.
      kept = await store.flush(snapshot()).then(() => true, () => false);
    }
    if (!kept) await store.remove();
    const err = aborted
      ? new AtelierError('E_ABORTED', 'The video run was cancelled', {
          hint: kept ? `${store.frames} finished frames are kept: run the same command with --resume to continue` : 'start it again to get a result',
          cause: e,
        })
      : wrapError(e, 'E_INTERNAL', `The video run of ${def.id} failed`);
    reporter.error(err.code, err.message);
    if (kept && !aborted) log.warn(`${store.frames} finished frames are kept in ${store.dir}: fix the cause and run again with --resume`);
    throw err;
  }
}

interface LoadedStyle {
  image: Image;
  hash: string;
}

async function readInput(file: string, name: string): Promise<Uint8Array> {
  try {
    return await fs.readFile(file);
  } catch (e) {
    throw new AtelierError('E_FILE_NOT_FOUND', `Cannot read the ${name} ${JSON.stringify(file)}`, { cause: e, hint: 'check the path' });
  }
}

async function readStyles(def: AnyMethod, style: VideoJob['style'], maxPixels: number | undefined): Promise<LoadedStyle[]> {
  const list = style === undefined ? [] : Array.isArray(style) ? style : [style];
  if (def.inputs.style === 'none') return [];
  const out: LoadedStyle[] = [];
  for (const [i, s] of list.entries()) {
    const name = list.length > 1 ? `style image ${i + 1}` : 'style image';
    const bytes = typeof s === 'string' ? await readInput(s, name) : s;
    if (looksLikeVideo(bytes.subarray(0, 400))) {
      throw new AtelierError('E_IMAGE_DECODE', `The ${name} is a video`, {
        expected: 'a still image (.png, .jpg, .webp, …) to take the style from',
        received: typeof s === 'string' ? `the video ${JSON.stringify(s)}` : 'video bytes',
        hint: 'export one frame as the style: ffmpeg -i clip.mp4 -frames:v 1 style.png',
      });
    }
    const image = await readImage(bytes, { name, ...(maxPixels !== undefined && { maxPixels }) });
    out.push({ image, hash: createHash('sha256').update(bytes).digest('hex').slice(0, 16) });
  }
  return out;
}

/** A method's result brought to the frame's size and to RGB (some methods return other sizes or grey). */
function fitFrame(img: Image, width: number, height: number): Image {
  const sized = img.width === width && img.height === height ? img : resizeImage(img, width, height);
  if (sized.channels === 3) return sized;
  const rgb = new Image(width, height, 3);
  for (let c = 0; c < 3; c++) rgb.plane(c).set(sized.plane(0));
  return rgb;
}

async function writeFramePng(img: Image, dir: string, index: number): Promise<void> {
  const file = path.join(dir, `frame_${String(index + 1).padStart(6, '0')}.png`);
  await fs.writeFile(file, await encodeImage(img, 'png'));
}

/** An async iterator that keeps up to `ahead` items pulled in advance (the decoder runs ahead). */
function readAhead<T>(source: AsyncGenerator<T>, ahead: number): { next(): Promise<IteratorResult<T>> } {
  const queue: Promise<IteratorResult<T>>[] = [];
  let ended = false;
  const fill = () => {
    while (!ended && queue.length < ahead) {
      const p = source.next();
      queue.push(p);
      p.then((r) => { if (r.done) ended = true; }, () => { ended = true; });
    }
  };
  return {
    next() {
      fill();
      const p = queue.shift()!;
      void p.then(fill, () => undefined);
      return p;
    },
  };
}

