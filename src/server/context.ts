import type { JobStore } from './job-store.js';
import type { ModelInstalls } from './model-installs.js';
import type { JobEvents } from './jobs/job-events.js';
import type { JobQueue } from './jobs/job-queue.js';
import type { UploadLimits } from './uploads.js';

/**
 * What every route plugin is given: the job store, the event bus, the queue and the upload
 * limits. Its own module so that routes depend on this and never on `app.ts`, which imports them.
 */
export interface ServerContext {
  store: JobStore;
  events: JobEvents;
  queue: JobQueue;
  limits: UploadLimits;
  /** Model downloads started over the API (the studio's model manager). */
  installs: ModelInstalls;
  /** Waiting jobs beyond which submissions are refused (503). */
  maxQueue: number;
  /** The photos training recipes train on when a job uploads none (files on the server, chosen by its administrator). */
  trainingPhotos: string[];
}
