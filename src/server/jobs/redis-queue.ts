import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { writeFileAtomic } from '../../core/io.js';
import type { ProgressEvent } from '../../core/progress.js';
import { isTrainingJob, type JobRecord, type JobStore } from '../job-store.js';
import type { JobEvents } from './job-events.js';
import { recordFailure, recordRunning, recordSuccess, refuseFinished, type JobQueue } from './job-queue.js';
import { taskOf } from './task.js';
import { PREVIEW_FILE } from './video-task.js';
import {
  CANCEL_CHANNEL,
  QUEUE_NAME,
  checkRedis,
  connectionOf,
  decodeResult,
  encodeTask,
  errorFromFailedReason,
  previewKey,
  type RedisTaskData,
  type RedisTaskResult,
} from './redis-protocol.js';

type BullJob = Job<RedisTaskData, RedisTaskResult>;

/**
 * `atelier serve --redis URL`: jobs go on a BullMQ queue and `atelier worker` processes run them.
 * The server stays the owner of the record: it stores uploads and results in its data directory
 * and SQLite, follows the queue's events (active, progress, completed, failed) and removes each
 * job from Redis once its outcome is recorded. A worker that dies mid-job loses its lock and
 * BullMQ hands the job to another (stalled-job recovery). A video job's clip travels in the task
 * like an image; the worker leaves the latest frame in Redis (redis-protocol.ts `previewKey`) and
 * the server copies it into the job's folder as frames are reported, where the preview route finds
 * it as for an embedded job.
 */
export class RedisQueue implements JobQueue {
  readonly kind = 'redis';
  // Made in start(), once Redis is known to answer: BullMQ would otherwise retry in silence forever.
  private queue!: Queue<RedisTaskData, RedisTaskResult>;
  private queueEvents!: QueueEvents;
  private publisher!: Redis;

  constructor(
    private readonly store: JobStore,
    private readonly events: JobEvents,
    private readonly url: string,
    private readonly limits: { maxPixels?: number } = {},
    private readonly log: (message: string) => void = () => {},
  ) {}

  async start(): Promise<void> {
    await checkRedis(this.url);
    this.queue = new Queue(QUEUE_NAME, { connection: connectionOf(this.url) });
    this.queueEvents = new QueueEvents(QUEUE_NAME, { connection: connectionOf(this.url), autorun: false });
    this.publisher = new Redis(this.url, { maxRetriesPerRequest: 3 });
    // Connection trouble is reported and retried, never an unhandled 'error' that ends the process.
    const report = (e: Error) => this.log(`redis: ${e.message}`);
    this.queue.on('error', report);
    this.queueEvents.on('error', report);
    this.publisher.on('error', report);
    this.queueEvents.on('active', ({ jobId }) => recordRunning(this.store, this.events, jobId));
    this.queueEvents.on('progress', ({ jobId, data }) => {
      if (typeof data !== 'object' || data === null || !('type' in data)) return;
      const event = data as unknown as ProgressEvent;
      this.events.progress(jobId, event);
      if (event.type === 'frame') void this.copyPreview(jobId);
    });
    this.queueEvents.on('completed', ({ jobId }) => void this.collect(jobId));
    this.queueEvents.on('failed', ({ jobId, failedReason }) => void this.fail(jobId, failedReason));
    this.queueEvents.run().catch((e: Error) => this.log(`redis events: ${e.message}`));
    await this.queueEvents.waitUntilReady();
    await this.queue.waitUntilReady();
    // Reconcile with what happened while no server listened.
    for (const id of [...this.store.idsWithStatus('running'), ...this.store.idsWithStatus('queued')]) {
      // Training jobs never go through Redis (SplitQueue runs them on this server).
      if (isTrainingJob(this.store.get(id))) continue;
      const job = (await this.queue.getJob(id)) as BullJob | undefined;
      if (!job) {
        await this.submit(this.store.get(id));
        continue;
      }
      const state = await job.getState();
      if (state === 'completed') await this.collect(id);
      else if (state === 'failed') await this.fail(id, job.failedReason);
    }
  }

  async submit(job: JobRecord): Promise<void> {
    const data = encodeTask(taskOf(job, await this.store.readInputs(job), this.limits));
    await this.queue.add('stylize', data, { jobId: job.id, attempts: 1, removeOnComplete: false, removeOnFail: false });
  }

  async cancel(id: string): Promise<'cancelled' | 'cancelling'> {
    refuseFinished(this.store.get(id));
    const job = (await this.queue.getJob(id)) as BullJob | undefined;
    const state = job ? await job.getState() : 'unknown';
    if (job && (state === 'waiting' || state === 'delayed' || state === 'prioritized')) {
      try {
        await job.remove();
        recordFailure(this.store, this.events, id, { code: 'E_ABORTED', message: 'The job was cancelled before it started.' });
        return 'cancelled';
      } catch {
        // A worker took it meanwhile: cancel it there.
      }
    }
    await this.publisher.publish(CANCEL_CHANNEL, id);
    return 'cancelling';
  }

  async stats(): Promise<{ waiting: number; running: number }> {
    const counts = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return { waiting: (counts.waiting ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0), running: counts.active ?? 0 };
  }

  async close(): Promise<void> {
    if (!this.queue) return;
    await Promise.allSettled([this.queueEvents.close(), this.queue.close()]);
    this.publisher.disconnect();
  }

  private async collect(id: string): Promise<void> {
    const job = (await this.queue.getJob(id)) as BullJob | undefined;
    if (!job?.returnvalue || !this.store.find(id)) return;
    try {
      await this.copyPreview(id);
      await recordSuccess(this.store, this.events, id, decodeResult(job.returnvalue));
      await job.remove();
      await this.publisher.del(previewKey(id)).catch(() => 0);
    } catch (e) {
      recordFailure(this.store, this.events, id, { code: 'E_JOB', message: `The result could not be recorded (${(e as Error).message}).` });
    }
  }

  private async fail(id: string, reason: string | undefined): Promise<void> {
    if (!this.store.find(id)) return;
    recordFailure(this.store, this.events, id, errorFromFailedReason(reason));
    const job = await this.queue.getJob(id);
    await job?.remove().catch(() => {});
    await this.publisher.del(previewKey(id)).catch(() => 0);
  }

  /** The worker's latest frame of a video job, into the job's folder for the preview route. */
  private async copyPreview(id: string): Promise<void> {
    try {
      const bytes = await this.publisher.getBuffer(previewKey(id));
      if (!bytes || !this.store.find(id)) return;
      const dir = this.store.jobDir(id);
      await fs.mkdir(dir, { recursive: true });
      await writeFileAtomic(path.join(dir, PREVIEW_FILE), bytes, { force: true });
    } catch (e) {
      this.log(`preview of ${id}: ${(e as Error).message}`);
    }
  }
}
