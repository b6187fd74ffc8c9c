import { AtelierError } from '../../core/errors.js';
import { FINISHED, type JobError, type JobRecord, type JobStore } from '../job-store.js';
import type { JobEvents } from './job-events.js';
import type { TaskResult } from './job-task.js';

/**
 * Where submitted jobs wait and run: `EmbeddedQueue` in this process, or `RedisQueue` on BullMQ
 * with `atelier worker` processes doing the work. Both record every outcome in the JobStore and
 * announce it on JobEvents through the functions below, so the two cannot disagree.
 */
export interface JobQueue {
  readonly kind: 'embedded' | 'redis';
  /** Pick up what a previous process left: queued jobs run, interrupted ones run again. */
  start(): Promise<void>;
  submit(job: JobRecord): Promise<void>;
  /** 'cancelled' at once for a queued job; 'cancelling' while a running one stops. */
  cancel(id: string): Promise<'cancelled' | 'cancelling'>;
  stats(): Promise<{ waiting: number; running: number }>;
  close(): Promise<void>;
}

export function refuseFinished(job: JobRecord): void {
  if (FINISHED.includes(job.status)) {
    throw new AtelierError('E_JOB', `Job ${job.id} has already finished`, {
      expected: 'a queued or running job',
      received: `a job that is ${job.status}`,
      hint: 'nothing to cancel; DELETE works only while a job waits or runs',
    });
  }
}

export async function recordSuccess(store: JobStore, events: JobEvents, id: string, result: TaskResult): Promise<void> {
  if (await store.markDone(id, result.png, result)) events.status(store.get(id));
}

/** A run that ended in E_ABORTED was cancelled; any other error failed it. */
export function recordFailure(store: JobStore, events: JobEvents, id: string, error: JobError): void {
  if (store.markFinished(id, error.code === 'E_ABORTED' ? 'cancelled' : 'failed', error)) events.status(store.get(id));
}

export function recordRunning(store: JobStore, events: JobEvents, id: string): boolean {
  if (!store.markRunning(id)) return false;
  events.status(store.get(id));
  return true;
}
