import { EventEmitter } from 'node:events';
import type { ProgressEvent } from '../../core/progress.js';
import type { JobRecord } from '../job-store.js';

/**
 * Live news of jobs, for server-sent events: each method's ProgressEvents as they happen and
 * every change of a job's status. Keeps only the latest progress of each running job.
 */
export type JobEvent = { type: 'progress'; event: ProgressEvent } | { type: 'status'; job: JobRecord };

export class JobEvents {
  private readonly emitter = new EventEmitter();
  private readonly latest = new Map<string, ProgressEvent>();

  constructor() {
    // One listener per open event stream; many clients may watch one job.
    this.emitter.setMaxListeners(0);
  }

  progress(id: string, event: ProgressEvent): void {
    this.latest.set(id, event);
    this.emitter.emit(id, { type: 'progress', event } satisfies JobEvent);
  }

  status(job: JobRecord): void {
    if (job.status !== 'running') this.latest.delete(job.id);
    this.emitter.emit(job.id, { type: 'status', job } satisfies JobEvent);
  }

  /** The last progress event of a running job. */
  latestProgress(id: string): ProgressEvent | undefined {
    return this.latest.get(id);
  }

  subscribe(id: string, listener: (e: JobEvent) => void): () => void {
    this.emitter.on(id, listener);
    return () => this.emitter.off(id, listener);
  }
}
