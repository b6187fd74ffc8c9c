import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { AtelierError, isAtelierError, throwIfAborted } from '../core/errors.js';
import { writeFileAtomic, writeImage } from '../core/io.js';
import { parseParams } from '../core/params.js';
import { ProgressReporter, type ProgressListener } from '../core/progress.js';
import type { Logger } from '../core/registry.js';
import { Rng } from '../core/rng.js';
import { installTrainedModel } from '../engine/store/trained.js';
import { writeSafetensors } from '../engine/weights/safetensors.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';
import type { AnyTrainer, TrainedModelUse } from './definition.js';
import { lossCurveSvg } from './loss-curve.js';

export interface TrainOptions {
  /** Folder for the checkpoint, losses.json, the loss curve and the trained weights. */
  out: string;
  /** Total iterations; a resumed run continues up to this number. */
  iterations: number;
  /** The trainer's own params (validated by its schema). */
  params?: Record<string, unknown>;
  /** Continue from `<out>/last.safetensors` (weights, optimiser state, iteration). */
  resume?: boolean;
  /** Save the checkpoint every n iterations (default 50), and always at the end. */
  saveEvery?: number;
  /** Seed for initial weights and samples (default 1). */
  seed?: number;
  /** ONNX Runtime threads (default 2). */
  threads?: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
  log?: Logger;
  /** Report parameter names as CLI flags (`--rec-weight`) in errors. */
  flagStyle?: boolean;
  /**
   * Every n iterations (and at the end), write the weights as they are now and call `onPreview`
   * with the file (the studio's preview on a fixed photo). The file is removed afterwards.
   */
  previewEvery?: number;
  onPreview?: (preview: { iteration: number; weights: string; use?: TrainedModelUse }) => Promise<void>;
  /**
   * Store the result as this model (a server training job's model name), whether or not the recipe
   * was given a name of its own, with how it was made. A recipe given `name` is stored under it.
   */
  install?: { name: string; description?: string; job?: string; params?: Record<string, unknown>; extraFiles?: { path: string; from: string; format?: 'jpeg' }[] };
}

/** One line of losses.json: the iteration and what the trainer reported for it. */
export type LossRecord = { iteration: number; seconds: number } & Record<string, number>;

export interface TrainResult {
  trainer: string;
  iterations: number;
  /** The trained weights, ready for the method that uses them. */
  weights: string;
  checkpoint: string;
  losses: string;
  plot: string;
  last?: LossRecord;
  /** Where the weights were stored as a trained model (when the trainer was given a name). */
  installed?: string;
  /** The name of that model. */
  model?: string;
  /** The kind of network the weights are (the store entry's `network`). */
  kind: string;
  /** How to use the weights, e.g. `--method neural.capvst --weights <file>`. */
  usage?: string;
  /** The method that runs the weights, as the recipe declares it. */
  use?: TrainedModelUse;
  validation?: { before: Record<string, number>; after: Record<string, number> };
}

const silentLogger: Logger = { debug() {}, info() {}, warn() {} };

function allFinite(data: Float32Array): boolean {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return false;
  return true;
}

/**
 * The training loop every trainer runs in: validate the options, open the recipe's session,
 * resume from its checkpoint when asked, step with a generator per iteration (so a resumed run
 * draws the same samples as an uninterrupted one), save a checkpoint every `saveEvery`
 * iterations, report progress as the same union `stylize` emits, then export the weights and
 * plot the losses. `train(id, …)` in train/index.ts looks the trainer up and calls this.
 */
export async function runTraining(def: AnyTrainer, options: TrainOptions): Promise<TrainResult> {
  const emit = options.onProgress ?? (() => {});
  const reporter = new ProgressReporter(emit, `train ${def.id}`);
  const signal = options.signal ?? new AbortController().signal;
  const log = options.log ?? silentLogger;
  const positive = (v: number | undefined, name: string, dflt: number, min = 1) => {
    const n = v ?? dflt;
    if (!Number.isInteger(n) || n < min) throw new AtelierError('E_PARAM', `Invalid value for ${name}`, { expected: min === 0 ? 'a non-negative integer' : 'a positive integer', received: String(v) });
    return n;
  };
  const iterations = positive(options.iterations, 'iterations', 1);
  const saveEvery = positive(options.saveEvery, 'saveEvery', 50);
  const seed = positive(options.seed, 'seed', 1, 0);
  const threads = positive(options.threads, 'threads', 2);
  const previewEvery = options.onPreview ? positive(options.previewEvery, 'previewEvery', saveEvery) : 0;
  const params = parseParams(def.params, options.params ?? {}, { methodId: `train ${def.id}`, flagStyle: options.flagStyle ?? false });
  reporter.start();
  let opened: Awaited<ReturnType<AnyTrainer['open']>> | undefined;
  try {
    const session = (opened = await def.open({ seed, iterations, threads, log, signal }, params));
    mkdirSync(options.out, { recursive: true });
    const lastFile = path.join(options.out, 'last.safetensors');
    const lossFile = path.join(options.out, 'losses.json');
    let records: LossRecord[] = [];
    if (options.resume) {
      const saved = await readCheckpoint(lastFile, session.checkpointFormat);
      session.restore(saved.tensors, saved.metadata, saved.iteration);
      if (existsSync(lossFile)) records = (JSON.parse(readFileSync(lossFile, 'utf8')) as { records: LossRecord[] }).records.filter((r) => r.iteration < session.iteration);
      log.info(`${def.id}: resumed at iteration ${session.iteration}`);
    }
    const before = await session.validate();
    let after: Record<string, number> | undefined;
    let savedAt = options.resume ? session.iteration : -1;
    // The checkpoint before the last one is kept as previous.safetensors: when the step right after a
    // save diverges, the weights just saved are the ones that diverged, and the run falls back on it.
    const previousFile = path.join(options.out, 'previous.safetensors');
    let previousAt = -1;
    const fallBack = (iteration: number) => {
      if (savedAt !== iteration || previousAt < 0 || !existsSync(previousFile)) return;
      renameSync(previousFile, lastFile);
      savedAt = previousAt;
      previousAt = -1;
    };
    // Divergence stops the run before anything of it is saved: the checkpoint on disk is the last good state.
    const diverged = (what: string, iteration: number) =>
      new AtelierError('E_NUMERIC', `Training ${def.id} diverged: ${what} at iteration ${iteration}; ${savedAt >= 0 ? `the last good checkpoint (iteration ${savedAt}) is kept` : 'no checkpoint had been saved yet'}`, {
        hint: 'lower the learning rate (or the loss weights) and resume or start again',
      });
    const save = async () => {
      const { tensors, metadata } = session.checkpoint();
      // A step can leave non-finite weights behind a finite loss (the loss is measured before the update).
      const broken = tensors.find((t) => !allFinite(t.data));
      if (broken) throw diverged(`the weights ${broken.name} became non-finite`, session.iteration);
      // A process killed at any point of a save leaves a checkpoint to resume from, and losses.json
      // holding at least its records: the log goes first (a resume drops records past the
      // checkpoint), the previous checkpoint is copied aside, never moved, and each write is atomic.
      const validation = before && { iteration: session.iteration, before, ...(after && { after }) };
      await writeFileAtomic(lossFile, JSON.stringify({ ...session.summary, validation, records }, null, 1), { force: true });
      if (savedAt >= 0 && savedAt !== session.iteration && existsSync(lastFile)) {
        const aside = `${previousFile}.${process.pid}.tmp`;
        copyFileSync(lastFile, aside);
        renameSync(aside, previousFile);
        previousAt = savedAt;
      }
      await writeCheckpoint(lastFile, { format: session.checkpointFormat, iteration: session.iteration, tensors, metadata });
      if (session.sampleGrid) {
        mkdirSync(path.join(options.out, 'samples'), { recursive: true });
        await writeImage(await session.sampleGrid(), path.join(options.out, 'samples', `iter-${String(session.iteration).padStart(6, '0')}.png`), { force: true });
      }
      savedAt = session.iteration;
    };
    const preview = async () => {
      if (!options.onPreview) return;
      const exported = session.exportWeights();
      // A fresh name each time: methods cache networks by the weights' path.
      const file = path.join(options.out, `preview-${session.iteration}.safetensors`);
      await writeSafetensors(file, exported.tensors, { metadata: exported.metadata });
      try {
        await options.onPreview({ iteration: session.iteration, weights: file, ...(exported.use && { use: exported.use }) });
      } finally {
        rmSync(file, { force: true });
      }
    };
    while (session.iteration < iterations) {
      // A cancel keeps the work done so far: the state between two steps is whole, so save it.
      if (signal.aborted && savedAt !== session.iteration && session.iteration > 0) await save();
      throwIfAborted(signal);
      const rng = new Rng((seed * 1_000_003 + session.iteration) >>> 0);
      const iteration = session.iteration;
      const started = performance.now();
      let values: Record<string, number>;
      try {
        ({ values } = await session.step(rng));
      } catch (e) {
        // A recipe that finds its own step non-finite (before updating anything) throws E_NUMERIC.
        if (!isAtelierError(e) || e.code !== 'E_NUMERIC') throw e;
        fallBack(iteration);
        throw diverged(causeSummary(e), iteration);
      }
      const seconds = (performance.now() - started) / 1000;
      const broken = Object.entries(values).find(([, v]) => !Number.isFinite(v));
      if (broken) {
        fallBack(iteration);
        throw diverged(`the ${broken[0]} became ${broken[1]}`, iteration + 1);
      }
      records.push({ iteration, ...values, seconds } as LossRecord);
      reporter.report(session.iteration / iterations, (fraction) => ({
        type: 'step',
        label: reporter.label,
        step: session.iteration,
        total: iterations,
        fraction,
        values: { ...values, seconds },
      }));
      if (session.iteration % saveEvery === 0) await save();
      if (previewEvery > 0 && session.iteration % previewEvery === 0 && session.iteration < iterations) await preview();
    }
    after = await session.validate();
    await save();
    await preview();
    const exported = session.exportWeights();
    const weights = path.join(options.out, exported.fileName);
    await writeSafetensors(weights, exported.tensors, { metadata: exported.metadata });
    const kind = exported.install?.kind ?? exported.kind ?? def.id;
    const installName = options.install?.name ?? exported.install?.name;
    let installed: string | undefined;
    if (installName) {
      const status = await installTrainedModel(kind, installName, weights, {
        description: options.install?.description ?? `${def.title}, ${session.iteration} iterations`,
        trainer: def.id,
        iterations: session.iteration,
        ...(exported.use && { use: exported.use }),
        params: options.install?.params ?? recordedParams(options.params ?? {}),
        ...(options.install?.job && { job: options.install.job }),
        ...(options.install?.extraFiles && { extraFiles: options.install.extraFiles.filter((f) => existsSync(f.from)) }),
        ...(exported.install?.force && { force: true }),
      });
      installed = status.files.find((f) => f.path === path.basename(weights))!.absolute;
    }
    const svg = lossCurveSvg(
      session.curves.map((c) => ({ name: c.label, values: records.map((r) => r[c.key]!) })),
      session.curveTitle,
    );
    const plot = path.join(options.out, 'loss-curve.png');
    await writeFileAtomic(path.join(options.out, 'loss-curve.svg'), svg, { force: true });
    await writeFileAtomic(plot, await sharp(Buffer.from(svg)).png().toBuffer(), { force: true });
    reporter.done();
    return {
      trainer: def.id,
      iterations: session.iteration,
      weights,
      checkpoint: lastFile,
      losses: lossFile,
      plot,
      last: records.at(-1),
      ...(exported.usage && { usage: exported.usage.replace('FILE', installName ?? weights) }),
      kind,
      ...(installName && installed && { installed, model: installName }),
      ...(exported.use && { use: exported.use }),
      ...(before && after && { validation: { before, after } }),
    };
  } catch (e) {
    const err = isAtelierError(e) ? e : new AtelierError('E_INTERNAL', `Training ${def.id} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    reporter.error(err.code, err.message);
    throw err;
  } finally {
    await opened?.close?.();
  }
}

/** An error's own summary, without the details its message appends (expected, received, hint). */
function causeSummary(e: AtelierError): string {
  const cut = ['. ', ': expected', ': received'].map((m) => e.message.indexOf(m)).filter((i) => i >= 0);
  return e.message.slice(0, cut.length ? Math.min(...cut) : undefined).replace(/\.$/, '');
}

/** The params worth keeping in a model's record: plain values (paths are the user's own on the CLI). */
function recordedParams(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v === null || ['string', 'number', 'boolean'].includes(typeof v) || Array.isArray(v)));
}
