import { promises as fs } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { AtelierError } from '../../core/errors.js';
import type { ProgressEvent } from '../../core/progress.js';
import type { Executor } from './executor.js';
import type { JobTask } from './job-task.js';
import { CANCEL_CHANNEL, PREVIEW_TTL_S, QUEUE_NAME, checkRedis, connectionOf, decodeTask, previewKey, type RedisTaskData, type RedisTaskResult } from './redis-protocol.js';
import { errorToJson } from './task.js';
import { PREVIEW_FILE } from './video-task.js';

/**
 * `atelier worker --redis URL`: takes jobs from the BullMQ queue, runs them on the executor
 * (threads, so lock renewal never starves behind a method's loops), reports progress through the
 * job and returns the PNG. Any number of workers on any machines share one queue.
 *
 * A video job's clip arrives in the job's data; the worker writes it into a folder of its own
 * (`workDir/<job id>`), where the run keeps its finished frames and its latest-frame preview, and
 * returns the MP4. If this worker dies and the job is handed back to a worker on the same machine,
 * the run continues from the frames kept there; the folder goes once the job has an outcome. The
 * preview is put in Redis under the job's key for the server to show.
 */
export interface RedisWorkerOptions {
  url: string;
  concurrency: number;
  executor: Executor;
  /** How long a job stays claimed by a worker that stopped answering (ms, default 30 s). */
  lockDurationMs?: number;
  threads?: number;
  onEvent?: (message: string) => void;
  /** Where video jobs keep their clip, finished frames and preview (default: atelier-worker in the temp folder). */
  workDir?: string;
}

/** Progress updates are Redis writes: at most one per job in this interval (start and done always). */
const PROGRESS_INTERVAL_MS = 150;
/** A video job's preview is sent to Redis at most this often. */
const PREVIEW_INTERVAL_MS = 1000;

export class RedisWorker {
  // Made in start(), once Redis is known to answer.
  private worker?: Worker<RedisTaskData, RedisTaskResult>;
  private subscriber?: Redis;
  // Commands (previews); the subscriber cannot send any while subscribed.
  private client?: Redis;
  readonly id = `${hostname()}:${process.pid}`;

  constructor(private readonly options: RedisWorkerOptions) {}

  async start(): Promise<void> {
    const { url, onEvent } = this.options;
    await checkRedis(url);
    const lockDuration = this.options.lockDurationMs ?? 30_000;
    const worker = new Worker<RedisTaskData, RedisTaskResult>(QUEUE_NAME, (job, _token, signal) => this.process(job, signal), {
      connection: connectionOf(url),
      concurrency: this.options.concurrency,
      lockDuration,
      stalledInterval: lockDuration,
      // A job whose worker died is handed on twice, then failed: a job that kills every worker must not loop.
      maxStalledCount: 2,
    });
    worker.on('error', (e) => onEvent?.(`worker error: ${e.message}`));
    const subscriber = new Redis(url, { maxRetriesPerRequest: null });
    subscriber.on('error', (e: Error) => onEvent?.(`redis: ${e.message}`));
    subscriber.on('message', (_channel: string, jobId: string) => {
      if (worker.cancelJob(jobId, 'cancelled by the client')) onEvent?.(`cancelling ${jobId}`);
    });
    const client = new Redis(url, { maxRetriesPerRequest: 3 });
    client.on('error', (e: Error) => onEvent?.(`redis: ${e.message}`));
    this.worker = worker;
    this.subscriber = subscriber;
    this.client = client;
    await subscriber.subscribe(CANCEL_CHANNEL);
    await worker.waitUntilReady();
  }

  async close(): Promise<void> {
    await this.worker?.close();
    this.subscriber?.disconnect();
    this.client?.disconnect();
    await this.options.executor.close();
  }

  private async process(job: Job<RedisTaskData, RedisTaskResult>, signal: AbortSignal | undefined): Promise<RedisTaskResult> {
    const jobId = job.id!;
    this.options.onEvent?.(`running ${jobId} (${job.data.method})`);
    let last = 0;
    let lastPreview = 0;
    let videoDir: string | undefined;
    const onProgress = (event: ProgressEvent) => {
      const now = Date.now();
      if (event.type === 'frame' && videoDir && now - lastPreview >= PREVIEW_INTERVAL_MS) {
        lastPreview = now;
        void this.sendPreview(jobId, videoDir);
      }
      if (event.type === 'step' || event.type === 'frame' || event.type === 'download') {
        if (now - last < PROGRESS_INTERVAL_MS) return;
      }
      last = now;
      void job.updateProgress(event as unknown as object).catch(() => {});
    };
    try {
      let task: JobTask = { ...decodeTask(jobId, job.data), ...(this.options.threads !== undefined && { threads: this.options.threads }) };
      if (task.kind === 'video') {
        videoDir = this.videoDirOf(jobId);
        task = await prepareVideoTask(task, videoDir);
      }
      const result = await this.options.executor.run(task, signal ?? new AbortController().signal, onProgress);
      if (videoDir) await this.sendPreview(jobId, videoDir);
      this.options.onEvent?.(`done ${jobId}`);
      return { png: Buffer.from(result.png).toString('base64'), params: result.params, meta: result.meta, timings: result.timings, worker: this.id };
    } catch (e) {
      this.options.onEvent?.(`failed ${jobId}: ${(e as Error).message}`);
      // Bad params, undecodable images, cancellation: running it again gives the same answer.
      throw new UnrecoverableError(JSON.stringify(errorToJson(e)));
    } finally {
      // Reached only when the job has an outcome (a dying worker never gets here): its frames are no longer needed.
      if (videoDir) await fs.rm(videoDir, { recursive: true, force: true }).catch(() => {});
    }
  }

  private videoDirOf(jobId: string): string {
    // Job ids are the server's (letters, digits, '-'); anything else is kept out of the path.
    return path.join(this.options.workDir ?? path.join(tmpdir(), 'atelier-worker'), jobId.replace(/[^A-Za-z0-9_-]/g, '_'));
  }

  private async sendPreview(jobId: string, dir: string): Promise<void> {
    const bytes = await fs.readFile(path.join(dir, PREVIEW_FILE)).catch(() => undefined);
    if (bytes) await this.client?.set(previewKey(jobId), bytes, 'EX', PREVIEW_TTL_S).catch(() => {});
  }
}

/**
 * The clip written into the job's folder on this machine, unless a run handed back here after a
 * crash already wrote it (rewriting would change its time, and the kept frames would no longer
 * count as this clip's). The task then carries the folder instead of the clip's bytes.
 */
async function prepareVideoTask(task: JobTask, dir: string): Promise<JobTask> {
  const clip = task.inputs.video;
  if (!clip) throw new AtelierError('E_INPUT_MISSING', 'The video job has no clip', { hint: 'submit the job again with its video' });
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, 'video');
  const existing = await fs.stat(file).catch(() => undefined);
  if (existing?.size !== clip.length) {
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, clip);
    await fs.rename(tmp, file);
  }
  const { video: _clip, ...inputs } = task.inputs;
  return { ...task, inputs, workDir: dir, clipPath: file };
}
