import { isTrainingJob, type JobRecord, type JobStore } from '../job-store.js';
import type { JobQueue } from './job-queue.js';

/**
 * Training jobs apart from image and video jobs: a training runs for minutes to hours, keeps its
 * checkpoints in its job folder on this server and resumes from them after a restart, so it runs
 * in its own queue here (one at a time), whether the other jobs run here too or on Redis workers.
 * Image jobs keep flowing while a model trains.
 */
export class SplitQueue implements JobQueue {
  readonly kind: JobQueue['kind'];

  constructor(
    private readonly store: JobStore,
    private readonly main: JobQueue,
    private readonly training: JobQueue,
  ) {
    this.kind = main.kind;
  }

  private queueOf(job: JobRecord): JobQueue {
    return isTrainingJob(job) ? this.training : this.main;
  }

  async start(): Promise<void> {
    await this.main.start();
    await this.training.start();
  }

  submit(job: JobRecord): Promise<void> {
    return this.queueOf(job).submit(job);
  }

  cancel(id: string): Promise<'cancelled' | 'cancelling'> {
    return this.queueOf(this.store.get(id)).cancel(id);
  }

  async stats(): Promise<{ waiting: number; running: number }> {
    const [a, b] = await Promise.all([this.main.stats(), this.training.stats()]);
    return { waiting: a.waiting + b.waiting, running: a.running + b.running };
  }

  async close(): Promise<void> {
    await Promise.all([this.main.close(), this.training.close()]);
  }
}
