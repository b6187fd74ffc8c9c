import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AtelierError, wrapError } from '../core/errors.js';
import { checkImage } from '../core/io.js';
import { parseInteger } from '../core/number-text.js';
import { paramsJsonSchema, parseParams } from '../core/params.js';
import { checkTrainedName, knownModelNames, listModels } from '../engine/store.js';
import type { AnyTrainer, TrainerImages } from '../train/definition.js';
import { describeTrainer, JOB_OWNED_PARAMS, MAX_JOB_ITERATIONS } from '../train/describe.js';
import { getTrainer } from '../train/index.js';
import type { InputSlot, TrainingJobParams } from './job-record.js';
import type { JobStore, NewJob } from './job-store.js';
import { slotOfImage } from './jobs/training-task.js';
import { refuseServerPaths } from './refuse-paths.js';
import { studioDir } from './routes/studio.js';
import { ACCEPTED_FORMATS, type UploadLimits } from './uploads.js';

/**
 * Turn a `POST /api/trainings` form into a training job, refusing bad input before anything is
 * stored: an unknown recipe, a model name that is taken (installed, or being trained by another
 * job), steps or rates that are not numbers in range, image params given as text (they are
 * uploads), files that are not images, too few or too many images. A recipe's content photos not
 * uploaded come from the server's photo set and are stored with the job, so a resumed or
 * restarted job trains on the same photos.
 */

/** Every file a training form may carry: the largest image count any recipe allows, twice over. */
export const MAX_TRAINING_FILES = 48;
const LOOP_FIELDS = ['iterations', 'saveEvery', 'previewEvery', 'seed'] as const;
const RESERVED = new Set(['trainer', 'model', 'params', ...LOOP_FIELDS]);

/**
 * The server's photo set for recipes that train on photos: the image files of `--training-photos
 * DIR` (not recursive, sorted), or by default the content samples the studio ships.
 */
export function trainingPhotoFiles(dir: string | undefined): string[] {
  const from = dir ?? (studioDir() && path.join(studioDir()!, 'samples'));
  if (!from) return [];
  try {
    return readdirSync(from)
      .filter((n) => /\.(jpe?g|png|webp)$/i.test(n) && (dir !== undefined || n.startsWith('content-')))
      .sort()
      .map((n) => path.join(from, n));
  } catch {
    return [];
  }
}

/** The installed models a recipe can start from (its own list, else the models it trained), offered beside its fixed words. */
export function baseChoices(def: AnyTrainer): string[] {
  const base = def.studio?.base;
  if (!base) return [];
  const models =
    base.models?.() ??
    listModels()
      .filter((s) => s.installed && s.entry.trained?.trainer === def.id)
      .map((s) => s.name);
  return [...new Set([...base.choices, ...models])];
}

/** Refuse a model name that is taken now, or that another unfinished training will take. */
export function refuseTakenModel(store: JobStore, model: string, except?: string): void {
  checkTrainedName(model);
  if (knownModelNames().includes(model)) {
    throw new AtelierError('E_OUTPUT_EXISTS', `A model named "${model}" exists already`, {
      expected: 'a name no installed or published model has (GET /api/models lists them)',
      received: JSON.stringify(model),
      hint: 'choose another name',
      subject: 'model',
    });
  }
  const other = store.trainingsOfModel(model).find((id) => id !== except);
  if (other) {
    throw new AtelierError('E_OUTPUT_EXISTS', `Another training (job ${other}) is writing the model "${model}"`, {
      expected: 'one training per model name',
      hint: 'choose another name, or cancel that job first',
      subject: 'model',
    });
  }
}

function recipeParamsOf(def: AnyTrainer, fields: Record<string, string>, images: Record<string, TrainerImages>, model: string): Record<string, unknown> {
  let params: Record<string, unknown> = {};
  if (fields.params !== undefined && fields.params.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fields.params);
    } catch (e) {
      throw wrapError(e, 'E_PARAM', 'The params field is not valid JSON', { expected: 'a JSON object such as {"lr":0.0001}', subject: 'params' });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new AtelierError('E_PARAM', 'The params field must be a JSON object', { received: Array.isArray(parsed) ? 'an array' : typeof parsed, subject: 'params' });
    }
    params = parsed as Record<string, unknown>;
  }
  for (const key of Object.keys(params)) {
    if (JOB_OWNED_PARAMS.has(key)) {
      throw new AtelierError('E_PARAM', `train ${def.id}: ${key} is the job's own`, {
        expected: 'the model name in the `model` field (a training job never replaces a model)',
        received: `${key} in params`,
        subject: key,
      });
    }
    if (key in images || def.studio?.folders?.fills.includes(key)) {
      throw new AtelierError('E_PARAM', `train ${def.id}: ${key} takes uploaded images`, {
        expected: `the images as files in form fields named \`${key}\``,
        received: 'a value in params',
        hint: 'the server never opens a path a client sends',
        subject: key,
      });
    }
  }
  refuseServerPaths(params, `train ${def.id}`);
  const description = describeTrainer(def);
  // The studio's starting values apply unless the client chose (the page shows them as defaults).
  const base = def.studio?.base;
  // A chosen base model fixes some params (a network's width): their starting values do not apply.
  const setByBase = new Set<string>(base && params[base.param] !== undefined ? (base.sets ?? []) : []);
  const resolved = {
    ...Object.fromEntries(
      Object.entries(description.params.properties)
        .filter(([k, p]) => def.studio?.defaults && k in def.studio.defaults && p.default !== undefined && !setByBase.has(k))
        .map(([k, p]) => [k, p.default]),
    ),
    ...params,
  };
  if (base && resolved[base.param] !== undefined) {
    const choices = baseChoices(def);
    if (!choices.includes(String(resolved[base.param]))) {
      throw new AtelierError('E_PARAM', `train ${def.id}: unknown base model for ${base.param}`, {
        expected: `one of ${choices.join(', ')}`,
        received: JSON.stringify(resolved[base.param]),
        subject: base.param,
      });
    }
  }
  // The result's name is the job's model name (a recipe that names its result claims it).
  if ('name' in paramsJsonSchema(def.params).properties) resolved.name = model;
  // Validated now (image folders stand in as placeholders) so a bad value is a 400, not a failed job.
  const placeholders = Object.fromEntries(Object.keys(images).map((k) => [k, 'uploaded-images']));
  parseParams(def.params, { ...resolved, ...(def.studio?.folders ? def.studio.folders.params(placeholders) : placeholders) }, { methodId: `train ${def.id}` });
  return resolved;
}

export async function trainingJobFromForm(
  form: { fields: Record<string, string>; files: { field: string; bytes: Buffer }[] },
  ctx: { store: JobStore; limits: UploadLimits; photos?: string[] },
): Promise<NewJob> {
  const { fields, files } = form;
  if (!fields.trainer) throw new AtelierError('E_PARAM', 'No training recipe named', { expected: 'a `trainer` field (GET /api/trainers lists them)', subject: 'trainer' });
  const def = getTrainer(fields.trainer);
  const description = describeTrainer(def);
  const images = description.images;
  if (!fields.model) throw new AtelierError('E_PARAM', 'No name for the trained model', { expected: 'a `model` field such as my-watercolour', subject: 'model' });
  refuseTakenModel(ctx.store, fields.model);
  for (const key of Object.keys(fields)) {
    if (!RESERVED.has(key)) {
      throw new AtelierError('E_PARAM', `Unknown field ${JSON.stringify(key)}`, { expected: `${[...RESERVED].join(', ')} and image files (${Object.keys(images).join(', ')})`, subject: key });
    }
  }
  const number = (name: (typeof LOOP_FIELDS)[number], min: number, fallback: number) =>
    parseInteger(fields[name], name, { min, max: MAX_JOB_ITERATIONS, code: 'E_PARAM' }) ?? fallback;
  const iterations = number('iterations', 1, description.loop.iterations);
  const training: TrainingJobParams = {
    model: fields.model,
    iterations,
    saveEvery: number('saveEvery', 1, Math.max(1, Math.round(iterations / 10))),
    previewEvery: number('previewEvery', 1, Math.max(1, Math.round(iterations / 10))),
    seed: number('seed', 0, description.loop.seed),
    recipe: recipeParamsOf(def, fields, images, fields.model),
  };
  const slots: Partial<Record<InputSlot, Uint8Array>> = {};
  for (const { field } of files) {
    if (!(field in images)) {
      throw new AtelierError('E_PARAM', `Unknown file field ${JSON.stringify(field)}`, { expected: `image files in ${Object.keys(images).join(', ') || 'no field: this recipe takes no uploads'}`, subject: field });
    }
  }
  for (const [param, spec] of Object.entries(images)) {
    let list: Uint8Array[] = files.filter((f) => f.field === param).map((f) => f.bytes);
    for (const [i, bytes] of list.entries()) {
      await checkImage(bytes, { name: `${param} image ${i + 1}`, maxPixels: ctx.limits.maxPixels, formats: ACCEPTED_FORMATS, tooLargeHint: 'shrink the image first' });
    }
    if (list.length === 0 && spec.role === 'content') list = (ctx.photos ?? []).slice(0, spec.max).map((f) => readFileSync(f));
    if (list.length < spec.min || list.length > spec.max) {
      throw new AtelierError(list.length < spec.min ? 'E_INPUT_MISSING' : 'E_PARAM', `train ${def.id} needs ${spec.min === spec.max ? spec.min : `${spec.min} to ${spec.max}`} ${param} images`, {
        expected: `${spec.description}, as files in form fields named \`${param}\``,
        received: `${list.length}`,
        subject: param,
      });
    }
    list.forEach((bytes, i) => (slots[slotOfImage(param, spec, i)] = bytes));
  }
  return { kind: 'training', method: def.id, params: training as unknown as Record<string, unknown>, files: slots };
}
