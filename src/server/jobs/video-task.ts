import { promises as fs } from 'node:fs';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { encodeImage, writeFileAtomic } from '../../core/io.js';
import type { ProgressListener } from '../../core/progress.js';
import { getMethod } from '../../methods/index.js';
import { stylizeVideo } from '../../video/pipeline.js';
import type { JobTask, TaskResult } from './job-task.js';

/**
 * A video job: the clip stored in the job's folder restyled into an MP4. The finished frames are
 * kept in the job's folder as the run goes (video/frame-store.ts), so a job that a restart or a
 * crash interrupted continues from its last saved frames when it runs again; a preview of the
 * latest frame is refreshed there about once a second for the studio.
 */

export const PREVIEW_FILE = 'preview.jpg';
const RESULT_WORK_FILE = 'result-work.mp4';
const PREVIEW_EVERY_MS = 1000;

export async function runVideoTask(task: JobTask, signal: AbortSignal, onProgress: ProgressListener): Promise<TaskResult> {
  const dir = task.workDir;
  if (!dir) {
    throw new AtelierError('E_JOB', 'Video jobs run on the server that stored them', {
      hint: 'serve without --redis to run video jobs (the clip and its resumable frames live in the job folder)',
    });
  }
  const styles = Object.entries(task.inputs)
    .filter(([slot]) => slot.startsWith('style-'))
    .sort(([a], [b]) => Number(a.slice(6)) - Number(b.slice(6)))
    .map(([, bytes]) => bytes!);
  // Inputs live in the blob store, so nothing else makes the job's folder.
  await fs.mkdir(dir, { recursive: true });
  const output = path.join(dir, RESULT_WORK_FILE);
  let lastPreview = 0;
  const result = await stylizeVideo({
    input: task.clipPath ?? path.join(dir, 'video'),
    output,
    method: getMethod(task.method),
    ...(styles.length > 0 && { style: styles.length === 1 ? styles[0]! : styles }),
    ...(task.styleWeights && { styleWeights: task.styleWeights }),
    ...(task.inputs.mask && { mask: task.inputs.mask }),
    params: task.params,
    // Always resume: a first run finds nothing to resume; a run after a restart finds its frames.
    resume: true,
    force: true,
    storeDir: path.join(dir, 'video-frames'),
    signal,
    onProgress,
    ...(task.maxPixels !== undefined && { maxPixels: task.maxPixels }),
    ...(task.threads !== undefined && { threads: task.threads }),
    onFrame: async ({ image, index, total }) => {
      const now = Date.now();
      if (now - lastPreview < PREVIEW_EVERY_MS && index + 1 < total) return;
      lastPreview = now;
      await writeFileAtomic(path.join(dir, PREVIEW_FILE), await encodeImage(image, 'jpeg', { quality: 80 }), { force: true });
    },
  });
  const bytes = await fs.readFile(output);
  await fs.rm(output, { force: true });
  return {
    png: bytes,
    params: result.params,
    meta: { kind: 'video', frames: result.frames, resumedFrames: result.resumedFrames, width: result.width, height: result.height, temporal: result.temporal },
    timings: result.timings,
  };
}
