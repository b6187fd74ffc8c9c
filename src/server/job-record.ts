/**
 * A job as recorded and as clients see it: types only, with no Node import, so the studio
 * (web/src/api.ts) takes them from here instead of re-declaring them (type imports, erased by Vite).
 */

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** The image slots a job may have, in the order they are stored. */
export type InputSlot = 'content' | 'video' | 'mask' | 'styleMask' | `style-${number}` | `extra-${string}`;

export interface JobError {
  code: string;
  message: string;
  hint?: string;
}

export interface JobRecord {
  id: string;
  method: string;
  /** The params as the client gave them (validated); `resolvedParams` has every default filled in. */
  params: Record<string, unknown>;
  styleWeights?: number[];
  inputs: InputSlot[];
  status: JobStatus;
  /** How many times a run was started (a job interrupted by a crash is run again). */
  attempts: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Fraction done, as last recorded. Live progress goes through server-sent events. */
  progress: number;
  error?: JobError;
  resolvedParams?: Record<string, unknown>;
  meta?: Record<string, unknown>;
  timings?: Record<string, number>;
  /** Set when the job was re-run from another one (same inputs). */
  rerunOf?: string;
}

/** A job as the HTTP API sends it (routes/jobs.ts jobView): the record, live progress while running, and where to get more. */
export interface JobJson extends JobRecord {
  kind: 'image' | 'video';
  /** The label of the latest progress event, while running. */
  progressLabel?: string;
  links: { self: string; events: string; result?: string; preview?: string; inputs: Record<string, string> };
}
