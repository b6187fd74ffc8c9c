/**
 * A job as recorded and as clients see it: types only, with no Node import, so the studio
 * (web/src/api.ts) takes them from here instead of re-declaring them (type imports, erased by Vite).
 */

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** What a job makes: one image (PNG), a video (MP4), or a trained model (training jobs; their result is the last preview). */
export type JobKind = 'image' | 'video' | 'training';

/** A training job's params (`method` is the trainer's id): the model to install, the loop's options and the recipe's own params. */
export interface TrainingJobParams {
  /** The name the trained model is installed under. */
  model: string;
  iterations: number;
  saveEvery: number;
  /** A preview on the fixed photo every n iterations. */
  previewEvery: number;
  seed: number;
  /** The recipe's params (its image folders are filled from the uploads). */
  recipe: Record<string, unknown>;
}

/** The image slots a job may have, in the order they are stored. */
export type InputSlot = 'content' | 'video' | 'mask' | 'styleMask' | `style-${number}` | `extra-${string}`;

export interface JobError {
  code: string;
  message: string;
  hint?: string;
}

export interface JobRecord {
  id: string;
  kind: JobKind;
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
  /** The label of the latest progress event, while running. */
  progressLabel?: string;
  links: { self: string; events: string; result?: string; preview?: string; losses?: string; resume?: string; inputs: Record<string, string> };
}
