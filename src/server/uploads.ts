import type { FastifyRequest } from 'fastify';
import { AtelierError, wrapError } from '../core/errors.js';
import { checkImage } from '../core/io.js';
import { coerceParam, paramsJsonSchema, parseParams } from '../core/params.js';
import type { AnyMethod } from '../core/registry.js';
import { methodParamsSchema } from '../core/stylize.js';
import { getMethod } from '../methods/index.js';
import type { InputSlot, NewJob } from './job-store.js';
import { refuseServerPaths } from './refuse-paths.js';
import { checkVideo } from './video-upload.js';

/**
 * Turn a `POST /api/jobs` multipart form into a validated job, refusing bad input before anything
 * is stored: unknown method, missing images, bad params, files that are not images whatever their
 * declared type, images over the pixel limit. File names and content types the client sends are
 * never used.
 */

export interface UploadLimits {
  /** Bytes per uploaded file. */
  maxFileBytes: number;
  /** Pixels (width × height) per image. */
  maxPixels: number;
}

/** Formats accepted, as sharp detects them from the bytes. SVG and PDF are refused: they can reference other files. */
export const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'tiff', 'heif', 'gif']);
export const MAX_STYLES = 8;
const RESERVED_FIELDS = new Set(['method', 'params', 'styleWeights']);

/** Read the whole form: fields as text, files as bytes, by field name. */
export async function readForm(
  request: FastifyRequest,
  limits: UploadLimits,
  maxFiles = MAX_STYLES + 6,
): Promise<{ fields: Record<string, string>; files: { field: string; bytes: Buffer }[] }> {
  if (!request.isMultipart()) {
    throw new AtelierError('E_INPUT_MISSING', 'A job is submitted as a multipart form', {
      expected: 'Content-Type: multipart/form-data with a `content` image file',
      received: JSON.stringify(request.headers['content-type'] ?? 'no content type'),
    });
  }
  const fields: Record<string, string> = {};
  const files: { field: string; bytes: Buffer }[] = [];
  for await (const part of request.parts({ limits: { fileSize: limits.maxFileBytes, files: maxFiles, fields: 64, fieldSize: 65_536 } })) {
    if (part.type === 'file') files.push({ field: part.fieldname, bytes: await part.toBuffer() });
    else fields[part.fieldname] = String(part.value);
  }
  return { fields, files };
}

/** The slot each uploaded file fills; an unknown field name is an error, not silently dropped. */
function slotsOf(def: AnyMethod, files: { field: string; bytes: Buffer }[]): Partial<Record<InputSlot, Buffer>> {
  const out: Partial<Record<InputSlot, Buffer>> = {};
  const extras = Object.keys(def.inputs.extra ?? {});
  let styles = 0;
  for (const { field, bytes } of files) {
    let slot: InputSlot;
    if (field === 'style') {
      if (styles >= MAX_STYLES) throw new AtelierError('E_PARAM', 'Too many style images', { expected: `at most ${MAX_STYLES}` });
      slot = `style-${styles++}`;
    } else if (field === 'content' || field === 'video' || field === 'mask' || field === 'styleMask') {
      slot = field;
    } else if (extras.includes(field)) {
      slot = `extra-${field}`;
    } else {
      throw new AtelierError('E_PARAM', `Unknown file field ${JSON.stringify(field)}`, {
        expected: ['content', 'video', 'style', 'mask', 'styleMask', ...extras].join(', '),
        received: JSON.stringify(field),
        subject: field,
      });
    }
    if (out[slot]) throw new AtelierError('E_PARAM', `The file field ${field} was given twice`, { subject: field });
    out[slot] = bytes;
  }
  return out;
}

/** Params from the form: a `params` JSON object and/or one field per parameter (coerced like CLI flags). */
function paramsOf(def: AnyMethod, fields: Record<string, string>): Record<string, unknown> {
  let params: Record<string, unknown> = {};
  if (fields.params !== undefined && fields.params.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fields.params);
    } catch (e) {
      throw wrapError(e, 'E_PARAM', 'The params field is not valid JSON', { expected: 'a JSON object such as {"strength":0.5}', subject: 'params' });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new AtelierError('E_PARAM', 'The params field must be a JSON object', { received: Array.isArray(parsed) ? 'an array' : typeof parsed, subject: 'params' });
    }
    params = parsed as Record<string, unknown>;
  }
  const schema = paramsJsonSchema(methodParamsSchema(def));
  for (const [key, value] of Object.entries(fields)) {
    if (RESERVED_FIELDS.has(key)) continue;
    params[key] = coerceParam(schema.properties[key], value);
  }
  // Validated now so a bad value is a 400 at once, not a failed job later.
  parseParams(methodParamsSchema(def), params, { methodId: def.id });
  refuseServerPaths(params, def.id);
  return params;
}

function styleWeightsOf(fields: Record<string, string>): number[] | undefined {
  if (fields.styleWeights === undefined || fields.styleWeights.trim() === '') return undefined;
  return coerceParam({ type: 'array', items: { type: 'number' } }, fields.styleWeights) as number[];
}

export function labelOf(slot: InputSlot): string {
  if (slot === 'content') return 'content image';
  if (slot === 'video') return 'video';
  if (slot === 'styleMask') return 'style mask';
  if (slot === 'mask') return 'mask';
  if (slot.startsWith('style-')) return `style image ${Number(slot.slice(6)) + 1}`;
  return `input ${slot.slice('extra-'.length)}`;
}

/** Validate a submitted form into a job ready to store. */
export async function jobFromForm(form: Awaited<ReturnType<typeof readForm>>, limits: UploadLimits): Promise<NewJob> {
  const { fields, files } = form;
  if (!fields.method) {
    throw new AtelierError('E_PARAM', 'No method named', { expected: 'a `method` field such as color.reinhard', subject: 'method' });
  }
  const def = getMethod(fields.method);
  const slots = slotsOf(def, files);
  if (!slots.content && !slots.video) {
    throw new AtelierError('E_INPUT_MISSING', 'No content image', { expected: 'a file field named `content` (an image) or `video` (a clip)', subject: 'content' });
  }
  if (slots.content && slots.video) {
    throw new AtelierError('E_PARAM', 'A job restyles an image or a video, not both', { expected: 'either a `content` or a `video` file field', subject: 'video' });
  }
  const styleCount = Object.keys(slots).filter((s) => s.startsWith('style-')).length;
  if (def.inputs.style === 'required' && styleCount === 0) {
    throw new AtelierError('E_INPUT_MISSING', `${def.id} needs a style image`, { expected: 'a file field named `style`', subject: 'style' });
  }
  for (const [name, spec] of Object.entries(def.inputs.extra ?? {})) {
    if (spec.required && !slots[`extra-${name}`]) {
      throw new AtelierError('E_INPUT_MISSING', `${def.id} needs the input ${name}`, { expected: `a file field named \`${name}\`: ${spec.description}`, subject: name });
    }
  }
  const params = paramsOf(def, fields);
  const styleWeights = styleWeightsOf(fields);
  if (styleWeights && (styleWeights.length !== styleCount || styleWeights.some((w) => typeof w !== 'number' || !Number.isFinite(w) || w < 0))) {
    throw new AtelierError('E_PARAM', 'Invalid style weights', {
      expected: `${styleCount} non-negative numbers, one per style image`,
      received: JSON.stringify(fields.styleWeights),
      subject: 'styleWeights',
    });
  }
  for (const [slot, bytes] of Object.entries(slots) as [InputSlot, Buffer][]) {
    if (slot === 'video') await checkVideo(bytes);
    else await checkImage(bytes, { name: labelOf(slot), maxPixels: limits.maxPixels, formats: ACCEPTED_FORMATS, tooLargeHint: 'shrink the image first' });
  }
  return { method: def.id, params, ...(styleWeights && { styleWeights }), files: slots };
}
