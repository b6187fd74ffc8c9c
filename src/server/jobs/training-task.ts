import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { AtelierError } from '../../core/errors.js';
import { encodeImage, writeFileAtomic } from '../../core/io.js';
import type { ProgressListener } from '../../core/progress.js';
import { paramsJsonSchema } from '../../core/params.js';
import { methodParamsSchema } from '../../core/stylize.js';
import { getMethod, stylize } from '../../methods/index.js';
import type { AnyTrainer, TrainerImages } from '../../train/definition.js';
import { getTrainer, train } from '../../train/index.js';
import type { InputSlot, TrainingJobParams } from '../job-record.js';
import type { JobTask, TaskResult } from './job-task.js';

/**
 * A training job: a registered recipe run through `train()` in the job's folder. The uploaded
 * images are written into folders the recipe reads; checkpoints, losses.json and the loss curve
 * live in `<job>/training/`, so a run that a restart, a crash or a cancel interrupted continues
 * from its last checkpoint when it runs again. Every `previewEvery` iterations the weights as they
 * are run through the method that will use them on the job's first photo (`preview.jpg`, announced
 * as a `frame` event labelled `preview`). At the end the model is installed in the store under the
 * job's model name; the job's result is the last preview.
 */

export const TRAINING_DIR = 'training';
export const TRAINING_PREVIEW_FILE = 'preview.jpg';
/** Longest side of the preview: enough to judge the look, cheap next to a training step. */
const PREVIEW_SIDE = 256;

/** The input slots that hold the images of one image param: `style-N` for the style role, else `extra-<param>N`. */
export function slotsOfImageParam(param: string, spec: TrainerImages, inputs: readonly string[]): InputSlot[] {
  const prefix = spec.role === 'style' ? 'style-' : `extra-${param}`;
  return inputs
    .filter((s) => s.startsWith(prefix) && /^\d+$/.test(s.slice(prefix.length)))
    .sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length))) as InputSlot[];
}

export function slotOfImage(param: string, spec: TrainerImages, index: number): InputSlot {
  return spec.role === 'style' ? `style-${index}` : `extra-${param}${index}`;
}

async function extensionOf(bytes: Uint8Array): Promise<string> {
  const format = (await sharp(bytes).metadata()).format;
  return format === 'jpeg' ? 'jpg' : format === 'heif' ? 'avif' : (format ?? 'img');
}

export async function runTrainingTask(task: JobTask, signal: AbortSignal, onProgress: ProgressListener): Promise<TaskResult> {
  const dir = task.workDir;
  if (!dir) throw new AtelierError('E_JOB', 'Training jobs run on the server that stored them', { hint: 'their checkpoints live in the job folder' });
  const spec = task.params as unknown as TrainingJobParams;
  const def = getTrainer(task.method);
  const started = performance.now();
  const recipe: Record<string, unknown> = { ...spec.recipe };
  const images = Object.entries(def.studio?.images ?? {}) as [string, TrainerImages][];
  let photo: Uint8Array | undefined;
  let firstStyle: Uint8Array | undefined;
  const folders: Record<string, string> = {};
  // The uploads become the folders the recipe reads (written again on each run: they are small).
  for (const [param, imageSpec] of images) {
    const slots = slotsOfImageParam(param, imageSpec, Object.keys(task.inputs));
    if (slots.length === 0) continue;
    const folder = path.join(dir, 'inputs', param);
    await fs.rm(folder, { recursive: true, force: true });
    await fs.mkdir(folder, { recursive: true });
    for (const [i, slot] of slots.entries()) {
      const bytes = task.inputs[slot]!;
      await fs.writeFile(path.join(folder, `${String(i).padStart(2, '0')}.${await extensionOf(bytes)}`), bytes);
    }
    folders[param] = folder;
    if (imageSpec.role === 'content') photo ??= task.inputs[slots[0]!];
    else firstStyle ??= task.inputs[slots[0]!];
  }
  // Each folder is its param, or the recipe makes its params from them (StarGAN's NAME=DIR domains).
  Object.assign(recipe, def.studio?.folders ? def.studio.folders.params(folders) : folders);
  const out = path.join(dir, TRAINING_DIR);
  const previewFile = path.join(dir, TRAINING_PREVIEW_FILE);
  const resume = existsSync(path.join(out, 'last.safetensors'));
  const styleCount = Object.keys(task.inputs).filter((s) => s.startsWith('style-')).length;
  let lastPreview: Buffer | undefined;
  const result = await train(def.id, {
    out,
    iterations: spec.iterations,
    params: recipe,
    resume,
    saveEvery: spec.saveEvery,
    seed: spec.seed,
    ...(task.threads !== undefined && { threads: task.threads }),
    signal,
    onProgress,
    previewEvery: spec.previewEvery,
    // The result becomes the model spec.model of the one store, with the last preview beside its weights.
    install: {
      name: spec.model,
      description: `${def.title} trained here on ${styleCount} style image${styleCount === 1 ? '' : 's'} (${spec.iterations} iterations)`,
      job: task.jobId,
      params: recipeForRecord(recipe, def),
      extraFiles: [{ path: TRAINING_PREVIEW_FILE, from: previewFile, format: 'jpeg' }],
    },
    onPreview: async ({ iteration, weights, use }) => {
      if (!use || !photo) return;
      // A param that takes a list (LoRA stacks) gets a list of one.
      const many = paramsJsonSchema(methodParamsSchema(getMethod(use.method))).properties[use.param]?.type === 'array';
      const r = await stylize(
        use.method,
        { content: photo, ...(firstStyle && { style: firstStyle }) },
        { ...use.params, [use.param]: many ? [weights] : weights, maxSize: PREVIEW_SIDE },
        { signal, ...(task.threads !== undefined && { threads: task.threads }) },
      );
      lastPreview = await encodeImage(r.image, 'png');
      await writeFileAtomic(previewFile, await encodeImage(r.image, 'jpeg', { quality: 85 }), { force: true });
      onProgress({ type: 'frame', label: 'preview', frame: iteration, total: spec.iterations, fraction: iteration / spec.iterations });
    },
  });
  const png = lastPreview ?? (await fs.readFile(result.plot));
  return {
    png,
    params: { ...spec, recipe: recipeForRecord(recipe, def) },
    meta: {
      kind: 'training',
      model: result.model ?? spec.model,
      trainer: def.id,
      iterations: result.iterations,
      resumed: resume,
      ...(result.last && { last: result.last }),
      ...(result.validation && { validation: result.validation }),
      ...(result.use && { use: result.use }),
    },
    timings: { totalMs: performance.now() - started },
  };
}

/** The recipe's params as a client may see them: image folders are the job's uploads, not paths. */
function recipeForRecord(recipe: Record<string, unknown>, def: AnyTrainer): Record<string, unknown> {
  const out = { ...recipe };
  for (const param of [...Object.keys(def.studio?.images ?? {}), ...(def.studio?.folders?.fills ?? [])]) if (param in out) out[param] = 'uploaded images';
  return out;
}
