import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { ProgressEvent } from '../../core/progress.js';
import type { Executor } from './executor.js';
import { CANCEL_CHANNEL, QUEUE_NAME, checkRedis, connectionOf, decodeTask, type RedisTaskData, type RedisTaskResult } from './redis-protocol.js';
import { errorToJson } from './task.js';

/**
 * `atelier worker --redis URL`: takes jobs from the BullMQ queue, runs them on the executor
 * (threads, so lock renewal never starves behind a method's loops), reports progress through the
 * job and returns the PNG. Any number of workers on any machines share one queue.
 */
export interface RedisWorkerOptions {
  url: string;
  concurrency: number;
  executor: Executor;
  /** How long a job stays claimed by a worker that stopped answering (ms, default 30 s). */
  lockDurationMs?: number;
  threads?: number;
  onEvent?: (message: string) => void;
}

/** Progress updates are Redis writes: at most one per job in this interval (start and done always). */
const PROGRESS_INTERVAL_MS = 150;

export class RedisWorker {
  // Made in start(), once Redis is known to answer.
  private worker?: Worker<RedisTaskData, RedisTaskResult>;
  private subscriber?: Redis;
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
    this.worker = worker;
    this.subscriber = subscriber;
    await subscriber.subscribe(CANCEL_CHANNEL);
    await worker.waitUntilReady();
  }

  async close(): Promise<void> {
    await this.worker?.close();
    this.subscriber?.disconnect();
    await this.options.executor.close();
  }

  private async process(job: Job<RedisTaskData, RedisTaskResult>, signal: AbortSignal | undefined): Promise<RedisTaskResult> {
    const jobId = job.id!;
    this.options.onEvent?.(`running ${jobId} (${job.data.method})`);
    let last = 0;
    const onProgress = (event: ProgressEvent) => {
      const now = Date.now();
      if (event.type === 'step' || event.type === 'frame' || event.type === 'download') {
        if (now - last < PROGRESS_INTERVAL_MS) return;
      }
      last = now;
      void job.updateProgress(event as unknown as object).catch(() => {});
    };
    try {
      const task = { ...decodeTask(jobId, job.data), ...(this.options.threads !== undefined && { threads: this.options.threads }) };
      const result = await this.options.executor.run(task, signal ?? new AbortController().signal, onProgress);
      this.options.onEvent?.(`done ${jobId}`);
      return { png: Buffer.from(result.png).toString('base64'), params: result.params, meta: result.meta, timings: result.timings, worker: this.id };
    } catch (e) {
      this.options.onEvent?.(`failed ${jobId}: ${(e as Error).message}`);
      // Bad params, undecodable images, cancellation: running it again gives the same answer.
      throw new UnrecoverableError(JSON.stringify(errorToJson(e)));
    }
  }
}
