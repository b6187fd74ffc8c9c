import type { ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { AtelierError } from '../../core/errors.js';
import type { InputSlot, JobError } from '../job-store.js';
import type { JobTask, TaskResult } from './job-task.js';

/**
 * What travels through Redis between `atelier serve --redis` and `atelier worker --redis`: the
 * task with its images as base64 (workers may run on other machines, without the server's data
 * directory), and the result the same way. One queue name, one cancel channel.
 */
export const QUEUE_NAME = 'atelier-jobs';
export const CANCEL_CHANNEL = 'atelier-jobs:cancel';

/**
 * Where a worker leaves the latest frame of a running video job (a JPEG, expiring on its own), for
 * the server to copy into the job's folder: the studio's preview route reads it from there.
 */
export function previewKey(jobId: string): string {
  return `atelier-jobs:preview:${jobId}`;
}
/** A preview nobody collected (the server was down) does not outlive this. */
export const PREVIEW_TTL_S = 3600;

export interface RedisTaskData {
  method: string;
  params: Record<string, unknown>;
  styleWeights?: number[];
  inputs: Partial<Record<InputSlot, string>>;
  maxPixels?: number;
  /** What the task is (JobTask.kind); for 'video' the clip travels in `inputs.video` and the worker restyles it into an MP4. */
  kind?: JobTask['kind'];
}

export interface RedisTaskResult {
  png: string;
  params: Record<string, unknown>;
  meta: Record<string, unknown>;
  timings: Record<string, number>;
  /** host:pid of the worker that ran it. */
  worker: string;
}

export function connectionOf(url: string): ConnectionOptions {
  // BullMQ's workers block on Redis; ioredis must retry forever rather than give up mid-job.
  return { url, maxRetriesPerRequest: null };
}

/** Fail fast, with a sentence, when Redis is not there: BullMQ itself would retry forever in silence. */
export async function checkRedis(url: string, timeoutMs = 5_000): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let lastError: Error | undefined;
  client.on('error', (e: Error) => (lastError = e));
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    throw new AtelierError('E_DEPENDENCY', `Cannot reach Redis at ${url}`, {
      received: (lastError ?? (e as Error)).message.replace(/\.$/, ''),
      hint: 'start redis-server, or check the --redis URL (redis://host:port)',
      cause: e,
    });
  } finally {
    client.disconnect();
  }
}

export function encodeTask(task: JobTask): RedisTaskData {
  return {
    method: task.method,
    params: task.params,
    ...(task.styleWeights && { styleWeights: task.styleWeights }),
    inputs: Object.fromEntries(Object.entries(task.inputs).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
    ...(task.maxPixels !== undefined && { maxPixels: task.maxPixels }),
    ...(task.kind && { kind: task.kind }),
  };
}

export function decodeTask(jobId: string, data: RedisTaskData): JobTask {
  return {
    jobId,
    method: data.method,
    params: data.params,
    ...(data.styleWeights && { styleWeights: data.styleWeights }),
    inputs: Object.fromEntries(Object.entries(data.inputs).map(([k, v]) => [k, Buffer.from(v!, 'base64')])),
    ...(data.maxPixels !== undefined && { maxPixels: data.maxPixels }),
    ...(data.kind && { kind: data.kind }),
  };
}

export function decodeResult(r: RedisTaskResult): TaskResult & { worker: string } {
  return { png: Buffer.from(r.png, 'base64'), params: r.params, meta: { ...r.meta, worker: r.worker }, timings: r.timings, worker: r.worker };
}

/** Workers fail a job with its JobError as JSON in the message; anything else is an internal error. */
export function errorFromFailedReason(reason: string | undefined): JobError {
  try {
    const parsed = JSON.parse(reason ?? '') as JobError;
    if (typeof parsed.code === 'string' && typeof parsed.message === 'string') return parsed;
  } catch {
    // not ours: a stalled job, a Redis failure
  }
  return { code: 'E_INTERNAL', message: `The worker failed: ${reason ?? 'no reason given'}` };
}
