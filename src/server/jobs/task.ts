import { AtelierError, ERROR_CODES, isAtelierError, throwIfAborted, type ErrorCode } from '../../core/errors.js';
import { encodeImage } from '../../core/io.js';
import type { ProgressListener } from '../../core/progress.js';
import type { StylizeInputs } from '../../core/stylize.js';
import { stylize } from '../../methods/index.js';
import { isTrainingJob, isVideoJob, type InputSlot, type JobError, type JobRecord } from '../job-store.js';
import type { JobTask, TaskResult } from './job-task.js';
import { runTrainingTask } from './training-task.js';
import { runVideoTask } from './video-task.js';

/**
 * One run of a method on uploaded bytes, self-contained so that it can cross a thread or a Redis
 * queue: no paths, only bytes in and PNG bytes out.
 */
/** The task for a stored job, given its input bytes. */
export function taskOf(job: JobRecord, inputs: JobTask['inputs'], limits: { maxPixels?: number; threads?: number; workDir?: string; clipPath?: string } = {}): JobTask {
  return {
    jobId: job.id,
    method: job.method,
    params: job.params,
    ...(job.styleWeights && { styleWeights: job.styleWeights }),
    inputs,
    ...(limits.maxPixels !== undefined && { maxPixels: limits.maxPixels }),
    ...(limits.threads !== undefined && { threads: limits.threads }),
    ...(isVideoJob(job) && { kind: 'video' as const }),
    ...(isTrainingJob(job) && { kind: 'training' as const }),
    ...(limits.workDir !== undefined && { workDir: limits.workDir }),
    ...(limits.clipPath !== undefined && { clipPath: limits.clipPath }),
  };
}

/** Map the stored slots back onto the pipeline's inputs. */
export function stylizeInputsOf(inputs: JobTask['inputs']): StylizeInputs {
  const content = inputs.content;
  if (!content) throw new AtelierError('E_INPUT_MISSING', 'The job has no content image');
  const styles: Uint8Array[] = [];
  const extra: Record<string, Uint8Array> = {};
  for (const [slot, bytes] of Object.entries(inputs) as [InputSlot, Uint8Array][]) {
    if (slot.startsWith('style-')) styles[Number(slot.slice('style-'.length))] = bytes;
    else if (slot.startsWith('extra-')) extra[slot.slice('extra-'.length)] = bytes;
  }
  const styleList = styles.filter((s) => s !== undefined);
  return {
    content,
    ...(styleList.length > 0 && { style: styleList.length === 1 ? styleList[0]! : styleList }),
    ...(inputs.mask && { mask: inputs.mask }),
    ...(inputs.styleMask && { styleMask: inputs.styleMask }),
    extra,
  };
}

/** Run the task in this thread. */
export async function runTask(task: JobTask, signal: AbortSignal, onProgress: ProgressListener): Promise<TaskResult> {
  // A signal that fired before the task began (a cancel racing the thread's start) never fires again.
  throwIfAborted(signal);
  if (task.kind === 'video') return runVideoTask(task, signal, onProgress);
  if (task.kind === 'training') return runTrainingTask(task, signal, onProgress);
  const result = await stylize(task.method, { ...stylizeInputsOf(task.inputs), ...(task.styleWeights && { styleWeights: task.styleWeights }) }, task.params, {
    signal,
    onProgress,
    ...(task.maxPixels !== undefined && { maxPixels: task.maxPixels }),
    ...(task.threads !== undefined && { threads: task.threads }),
  });
  const png = await encodeImage(result.image, 'png');
  return { png, params: result.params, meta: result.meta, timings: result.timings };
}

/** An error as it crosses a thread or Redis: plain data. */
export function errorToJson(e: unknown): JobError {
  if (isAtelierError(e)) return { code: e.code, message: e.message, ...(e.hint !== undefined && { hint: e.hint }) };
  return { code: 'E_INTERNAL', message: e instanceof Error ? e.message : String(e) };
}

export function errorFromJson(j: JobError): AtelierError {
  // The message already carries expected/received/hint.
  return new AtelierError(j.code in ERROR_CODES ? (j.code as ErrorCode) : 'E_INTERNAL', j.message);
}
