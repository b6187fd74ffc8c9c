import { promises as fs } from 'node:fs';
import path from 'node:path';
import { AtelierError, throwIfAborted, wrapError } from '../core/errors.js';
import type { Image } from '../core/image.js';
import { readImage, writeImage } from '../core/io.js';
import { ProgressReporter, type ProgressListener } from '../core/progress.js';
import type { AnyMethod, Logger } from '../core/registry.js';
import { limitSize, resizeImage } from '../core/resample.js';
import { methodParamsSchema, runMethod, type StylizeResult } from '../core/stylize.js';
import { parseParams } from '../core/params.js';
import { VERSION } from '../core/version.js';
import { getMetric, listMetrics } from '../metrics/index.js';
import { computeMetric, type MetricContext, type MetricDefinition, type MetricInputs } from '../metrics/metric.js';
import { readVideoFrames } from '../video/frames.js';
import { readPairsFile, type EvalPair } from './pairs.js';
import { loadResults, RESULTS_FORMAT, saveResults, type EvaluationResults, type MethodRun, type PairRecord, type ResultRecord } from './results.js';

/**
 * Run methods over every pair of a pairs file, score each output with the metrics, and keep
 * `results.json` current after every pair. One bad pair (unreadable image, a method failure) is
 * recorded as failed and the run goes on; `resume` reuses the successful results already there.
 * The HTML report and contact sheets are made from the returned results (report-html.ts).
 */

export interface EvaluationOptions {
  pairsFile: string;
  outDir: string;
  /** Methods with the params given for each (validated, defaults filled in here). */
  methods: { def: AnyMethod; params: Record<string, unknown> }[];
  command: 'eval' | 'compare';
  /** Metric ids; default: every image metric that can run (neural ones when weights are there or `weights: 'random'`). */
  metrics?: string[];
  /** Only these groups of the pairs file. */
  groups?: string[];
  /** At most this many pairs (after group filtering), for quick looks. */
  limit?: number;
  /** Frames decoded from the start of each video pair (default 12). */
  videoFrames?: number;
  resume?: boolean;
  force?: boolean;
  threads?: number;
  weights?: 'installed' | 'random';
  /** Is a neural metric's model installed? (the model store answers; default: no). */
  weightsInstalled?: (model: string) => boolean;
  maxPixels?: number;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** Told about each finished pair × method (for CLI lines). */
  onResult?: (r: ResultRecord, done: number, total: number) => void;
  log?: Logger;
}

export const THUMB_SIDE = 256;
export const DEFAULT_VIDEO_FRAMES = 12;
/** Video frames are decoded at most this large on the long side unless the run sets --max-size. */
export const VIDEO_MAX_SIDE = 480;
const silent: Logger = { debug() {}, info() {}, warn() {} };

/**
 * The metrics an evaluation uses by default, given which weights exist: every image metric that
 * can run, and the frame metrics (temporal) when there are video pairs.
 */
export function defaultMetrics(weightsMode: 'installed' | 'random', installed: (model: string) => boolean, withVideo = false): MetricDefinition[] {
  return listMetrics().filter(
    (m) => (withVideo || !m.needs.includes('frames')) && (m.weights === undefined || weightsMode === 'random' || m.weights.every((w) => installed(w.model))),
  );
}

function errorOf(e: unknown): { code: string; message: string } {
  const err = wrapError(e, 'E_INTERNAL', 'Unexpected failure');
  return { code: err.code, message: err.message };
}

async function writeThumb(img: Image, file: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeImage(limitSize(img, THUMB_SIDE), file, { force: true, quality: 85 });
}

function rel(outDir: string, file: string): string {
  return path.relative(outDir, file).split(path.sep).join('/');
}

export async function runEvaluation(options: EvaluationOptions): Promise<EvaluationResults> {
  const outDir = path.resolve(options.outDir);
  const resultsFile = path.join(outDir, 'results.json');
  const log = options.log ?? silent;
  const signal = options.signal ?? new AbortController().signal;
  const weightsMode = options.weights ?? 'installed';
  const installed = options.weightsInstalled ?? (() => false);

  const { file: pairsFile, pairs: allPairs } = await readPairsFile(options.pairsFile);
  let pairs = options.groups ? allPairs.filter((p) => options.groups!.includes(p.group)) : allPairs;
  if (pairs.length === 0) {
    throw new AtelierError('E_PARAM', 'No pairs to evaluate', {
      expected: `groups among ${[...new Set(allPairs.map((p) => p.group))].join(', ')}`,
      received: options.groups?.join(', ') ?? 'none',
    });
  }
  if (options.limit !== undefined) pairs = pairs.slice(0, options.limit);

  const withVideo = pairs.some((p) => p.kind === 'video');
  const metricDefs = options.metrics ? options.metrics.map(getMetric) : defaultMetrics(weightsMode, installed, withVideo);
  const runs: MethodRun[] = options.methods.map(({ def, params }) => {
    const resolved = parseParams(methodParamsSchema(def), params, { methodId: def.id, flagStyle: true }) as Record<string, unknown> & { seed: number };
    return { method: def.id, params: resolved, seed: resolved.seed };
  });

  await fs.mkdir(outDir, { recursive: true });
  const previous = await loadResults(resultsFile);
  if (previous && !options.resume && !options.force) {
    throw new AtelierError('E_OUTPUT_EXISTS', `${JSON.stringify(resultsFile)} exists`, {
      hint: 'pass --resume to continue it, --force to start over, or choose another --out',
    });
  }
  const reusable = previous && options.resume ? resumableResults(previous, runs, pairs, metricDefs, resultsFile) : new Map<string, ResultRecord>();

  const now = new Date().toISOString();
  const results: EvaluationResults = {
    format: RESULTS_FORMAT,
    tool: { name: 'atelier', version: VERSION },
    createdAt: previous && options.resume ? previous.createdAt : now,
    updatedAt: now,
    pairsFile,
    command: options.command,
    metrics: metricDefs.map((m) => ({ id: m.id, title: m.title, higherIsBetter: m.higherIsBetter, aspect: m.aspect })),
    runs,
    pairs: [],
    results: [],
    aggregate: {},
  };

  const total = pairs.length * runs.length;
  const reporter = new ProgressReporter(options.onProgress ?? (() => {}), options.command);
  reporter.start();
  let done = 0;
  const finish = async (r: ResultRecord) => {
    results.results.push(r);
    done++;
    await saveResults(resultsFile, results);
    options.onResult?.(r, done, total);
  };

  for (const pair of pairs) {
    throwIfAborted(signal);
    const record: PairRecord = { ...pair };
    results.pairs.push(record);
    const pending = runs.filter((run) => !reusable.has(`${pair.id}\n${run.method}`));
    for (const run of runs) {
      const old = reusable.get(`${pair.id}\n${run.method}`);
      if (old) await finish(old);
    }
    if (pending.length === 0) {
      record.thumbs = previous?.pairs.find((p) => p.id === pair.id)?.thumbs;
      continue;
    }
    let content: Image;
    let style: Image | undefined;
    /** Video pairs: the decoded input frames (content is the middle one, scored like an image pair). */
    let frames: Image[] | undefined;
    try {
      const readOpts = options.maxPixels !== undefined ? { maxPixels: options.maxPixels } : {};
      if (pair.kind === 'video') {
        const maxSize = runs.map((r) => r.params.maxSize as number | undefined).find((v) => v !== undefined);
        frames = await readVideoFrames(pair.content, { maxFrames: options.videoFrames ?? DEFAULT_VIDEO_FRAMES, maxSide: maxSize ?? VIDEO_MAX_SIDE, signal });
        if (frames.length < 2) throw new AtelierError('E_IMAGE_DECODE', 'The video has fewer than 2 frames', { subject: pair.content });
      }
      [content, style] = await Promise.all([
        frames ? frames[frames.length >> 1]! : readImage(pair.content, { name: 'content image', ...readOpts }),
        pair.style ? readImage(pair.style, { name: 'style image', ...readOpts }) : Promise.resolve(undefined),
      ]);
      const thumbDir = path.join(outDir, 'thumbs', pair.id);
      await writeThumb(content, path.join(thumbDir, 'content.jpg'));
      if (style) await writeThumb(style, path.join(thumbDir, 'style.jpg'));
      record.thumbs = { content: rel(outDir, path.join(thumbDir, 'content.jpg')), ...(style && { style: rel(outDir, path.join(thumbDir, 'style.jpg')) }) };
    } catch (e) {
      if (e instanceof AtelierError && e.code === 'E_ABORTED') throw e;
      const error = errorOf(e);
      const status = error.code === 'E_DEPENDENCY' ? 'skipped' : 'failed';
      log.warn(`pair ${pair.id} ${status}: ${error.message}`);
      for (const run of pending) await finish({ pair: pair.id, method: run.method, status, error, metrics: {} });
      continue;
    }

    for (const run of pending) {
      throwIfAborted(signal);
      const def = options.methods.find((m) => m.def.id === run.method)!.def;
      const unit = done;
      const label = `${options.command} ${pair.id} · ${run.method}`;
      // The bar counts pairs; within one, the method's own fraction (and the frame) moves it along.
      const progressFor = (k: number, n: number): ProgressListener => (e) => {
        reporter.report((unit + (k + e.fraction) / n) / total, (fraction) => ({ type: 'step', label, step: unit + 1, total, fraction }));
      };
      const stylise = (image: Image, onProgress: ProgressListener) =>
        runMethod(
          def,
          {
            content: image,
            ...(style && { style }),
            ...(pair.contentMask && { mask: pair.contentMask }),
            ...(pair.styleMask && { styleMask: pair.styleMask }),
          },
          run.params,
          { signal, onProgress, log, ...(options.threads !== undefined && { threads: options.threads }), ...(options.maxPixels !== undefined && { maxPixels: options.maxPixels }) },
        );
      try {
        const outBase = path.join(outDir, 'outputs', safeMethod(run.method), pair.id);
        await fs.mkdir(path.dirname(outBase), { recursive: true });
        let output: Image;
        let timings: StylizeResult['timings'];
        let meta: Record<string, unknown>;
        let outFrames: Image[] | undefined;
        if (frames) {
          ({ output, timings, meta, outFrames } = await styliseFrames(frames, stylise, progressFor, outBase));
        } else {
          const r = await stylise(content, progressFor(0, 1));
          output = r.image;
          timings = r.timings;
          meta = r.meta;
          await writeImage(output, `${outBase}.png`, { force: true });
        }
        const thumbFile = path.join(outDir, 'thumbs', pair.id, `${safeMethod(run.method)}.jpg`);
        await writeThumb(output, thumbFile);

        const t0 = performance.now();
        const contentAtOutput = output.sameSize(content) ? content : resizeImage(content, output.width, output.height);
        const { metrics, metricErrors } = await scoreOutput(
          metricDefs,
          { output, content: contentAtOutput, ...(style && { style }), ...(outFrames && { frames: { input: frames!, output: outFrames } }) },
          // One metric seed for every method, so sampled metrics compare like with like.
          { signal, log, weights: weightsMode, threads: options.threads ?? 1 },
        );
        const metricsMs = performance.now() - t0;
        await finish({
          pair: pair.id,
          method: run.method,
          status: 'ok',
          output: rel(outDir, frames ? outBase : `${outBase}.png`),
          thumb: rel(outDir, thumbFile),
          width: output.width,
          height: output.height,
          timings: { ...timings, metricsMs },
          metrics,
          ...(Object.keys(metricErrors).length > 0 && { metricErrors }),
          meta,
        });
      } catch (e) {
        if (e instanceof AtelierError && e.code === 'E_ABORTED') throw e;
        const error = errorOf(e);
        log.warn(`pair ${pair.id} failed with ${run.method}: ${error.message}`);
        await finish({ pair: pair.id, method: run.method, status: 'failed', error, metrics: {} });
      }
    }
  }
  reporter.done();
  await saveResults(resultsFile, results);
  return results;
}

/**
 * The results of an earlier run that `--resume` keeps, keyed by pair and method: those that
 * succeeded and hold every metric that applies to their kind of pair. Refuses other parameters.
 */
function resumableResults(previous: EvaluationResults, runs: MethodRun[], pairs: EvalPair[], metricDefs: MetricDefinition[], resultsFile: string): Map<string, ResultRecord> {
  for (const run of runs) {
    const before = previous.runs.find((r) => r.method === run.method);
    if (before && JSON.stringify(before.params) !== JSON.stringify(run.params)) {
      throw new AtelierError('E_USAGE', `Cannot resume: ${run.method} ran with other parameters in ${JSON.stringify(resultsFile)}`, {
        expected: JSON.stringify(before.params),
        received: JSON.stringify(run.params),
        hint: 'give the same parameters, or choose another --out',
      });
    }
  }
  const kindOf = new Map(pairs.map((p) => [p.id, p.kind]));
  const reusable = new Map<string, ResultRecord>();
  for (const r of previous.results) {
    const wanted = metricDefs.filter((m) => kindOf.get(r.pair) === 'video' || !m.needs.includes('frames'));
    if (r.status === 'ok' && wanted.every((m) => m.id in r.metrics || r.metricErrors?.[m.id])) reusable.set(`${r.pair}\n${r.method}`, r);
  }
  return reusable;
}

/**
 * A video pair: every frame stylised on its own (so the temporal metric shows how stable the
 * method is), written as numbered PNGs; timings are per-frame means, so "time per image" holds.
 */
async function styliseFrames(
  frames: Image[],
  stylise: (image: Image, onProgress: ProgressListener) => Promise<StylizeResult>,
  progressFor: (k: number, n: number) => ProgressListener,
  outDir: string,
): Promise<{ output: Image; timings: StylizeResult['timings']; meta: Record<string, unknown>; outFrames: Image[] }> {
  const outFrames: Image[] = [];
  const sum = { readMs: 0, preprocessMs: 0, runMs: 0, postprocessMs: 0, totalMs: 0 };
  let last: StylizeResult | undefined;
  await fs.mkdir(outDir, { recursive: true });
  for (let k = 0; k < frames.length; k++) {
    last = await stylise(frames[k]!, progressFor(k, frames.length));
    const img = last.image.sameSize(frames[k]!) ? last.image : resizeImage(last.image, frames[k]!.width, frames[k]!.height);
    outFrames.push(img);
    await writeImage(img, path.join(outDir, `frame-${String(k + 1).padStart(4, '0')}.png`), { force: true });
    for (const key of Object.keys(sum) as (keyof typeof sum)[]) sum[key] += last.timings[key];
  }
  const timings = Object.fromEntries(Object.entries(sum).map(([k, v]) => [k, v / frames.length])) as typeof sum;
  return {
    output: outFrames[frames.length >> 1]!,
    timings,
    meta: { ...last!.meta, frames: frames.length, frameSize: `${frames[0]!.width}×${frames[0]!.height}` },
    outFrames,
  };
}

/** Every metric that applies; a metric that fails is recorded, not fatal (cancellation is). */
async function scoreOutput(
  metricDefs: MetricDefinition[],
  inputs: MetricInputs,
  ctx: Partial<MetricContext>,
): Promise<{ metrics: ResultRecord['metrics']; metricErrors: NonNullable<ResultRecord['metricErrors']> }> {
  const metrics: ResultRecord['metrics'] = {};
  const metricErrors: NonNullable<ResultRecord['metricErrors']> = {};
  for (const m of metricDefs) {
    if (m.needs.includes('frames') && !inputs.frames) continue;
    try {
      metrics[m.id] = await computeMetric(m, inputs, ctx);
    } catch (e) {
      if (e instanceof AtelierError && e.code === 'E_ABORTED') throw e;
      metricErrors[m.id] = errorOf(e);
    }
  }
  return { metrics, metricErrors };
}

/** Method ids are dotted; as folder names they stay readable as they are. */
export function safeMethod(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_');
}

