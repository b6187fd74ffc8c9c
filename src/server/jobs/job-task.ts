import type { InputSlot } from '../job-store.js';

/**
 * A job as it crosses to whatever runs it (a thread, a Redis worker) and what comes back: plain
 * data. Its own module so that the image and video task runners share it without importing each
 * other.
 */

export interface JobTask {
  jobId: string;
  method: string;
  params: Record<string, unknown>;
  styleWeights?: number[];
  inputs: Partial<Record<InputSlot, Uint8Array>>;
  maxPixels?: number;
  threads?: number;
  /** 'video': restyle the clip at `clipPath` into an MP4 (video-task.ts); 'training': train a model (training-task.ts); otherwise one image. */
  kind?: 'video' | 'training';
  /** The job's folder on this machine, for video and training jobs (their resumable frames or checkpoints and preview live there). */
  workDir?: string;
  /** Video jobs: the stored clip on this machine (its blob); `workDir/video` when absent. */
  clipPath?: string;
}

export interface TaskResult {
  /** The result file: a PNG, or an MP4 for a video job. */
  png: Uint8Array;
  params: Record<string, unknown>;
  meta: Record<string, unknown>;
  timings: Record<string, number>;
}
