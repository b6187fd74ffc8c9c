/**
 * Atelier's library API. `stylize(id, inputs, params, options)` is the single entry point; the rest
 * are the pieces it is made of, for callers who build their own pipelines.
 */
import type { z } from 'zod';
import { AtelierError } from './core/errors.js';
import { nearest } from './core/params.js';
import type { AnyMethod } from './core/registry.js';
import { runMethod, type StylizeInputs, type StylizeOptions, type StylizeResult } from './core/stylize.js';
import { methods, type MethodId } from './methods/index.js';

export { methods, DEFAULT_METHOD, type MethodId } from './methods/index.js';
export { AtelierError, ERROR_CODES, type ErrorCode, isAtelierError } from './core/errors.js';
export { Image } from './core/image.js';
export { readImage, writeImage, encodeImage, imageInfo, type ImageInfo } from './core/io.js';
export { rgbToLab, labToRgb, srgbToLinear, linearToSrgb, luminance, luma } from './core/color.js';
export { resizeImage } from './core/resample.js';
export { describeMethod, type MethodDescription } from './core/describe.js';
export { progressStream, type ProgressEvent, type ProgressListener } from './core/progress.js';
export { defineMethod, FAMILIES, type MethodDefinition, type RunContext, type Family } from './core/registry.js';
export type { StylizeInputs, StylizeOptions, StylizeResult } from './core/stylize.js';
export {
  listModels,
  pullModel,
  importModel,
  removeModel,
  verifyModel,
  requireModel,
  modelFiles,
  readModelWeights,
  licenceError,
  type ModelStatus,
  type PullResult,
  type PullOptions,
  type InstallRecord,
  type InstalledModel,
  type InstalledFile,
} from './engine/store.js';
export { readWeights } from './engine/weights/read.js';
export { readPth, readPthIndex } from './engine/weights/pth.js';
export { readSafetensors, writeSafetensors, encodeSafetensors, decodeSafetensors } from './engine/weights/safetensors.js';
export type { WeightTensor, TensorMap } from './engine/weights/tensor.js';
export { readTflite, tfliteTensorValues, type TfliteModel } from './engine/weights/tflite.js';
export { readGraphDef, type TfGraph } from './engine/weights/graphdef.js';
export { importTflite } from './engine/import/tflite-import.js';
export { importGraphDef } from './engine/import/graphdef-import.js';
export type { ImportedGraph, ImportOptions } from './engine/import/imported-graph.js';
/** The 26 styles of neural.multistyle with their thumbnails (for galleries: the studio, `atelier methods`). */
export { multistyleThumbnails, type StyleThumbnail } from './engine/nets/magenta-multistyle.js';
export { metrics, getMetric, listMetrics, type MetricId } from './metrics/index.js';
export { defineMetric, computeMetric, type MetricDefinition, type MetricInputs, type MetricResult, type MetricContext } from './metrics/metric.js';
export { opticalFlow, warpByFlow, type Flow } from './video/flow.js';
export { runEvaluation, type EvaluationOptions } from './eval/run-evaluation.js';
export { renderReport } from './eval/report-html.js';
export type { EvaluationResults } from './eval/results.js';

/** The params a method accepts (its own plus the shared controls), as the caller writes them. */
export type ParamsOf<Id extends MethodId> = z.input<(typeof methods)[Id]['params']> & {
  strength?: number;
  preserveColor?: boolean;
  maxSize?: number;
  seed?: number;
};

/** Look a method up by id; an unknown id fails with the nearest known one suggested. */
export function getMethod(id: string): AnyMethod {
  const def = (methods as Record<string, AnyMethod>)[id];
  if (def) return def;
  const ids = Object.keys(methods);
  const near = nearest(id, ids) ?? ids.find((k) => k.endsWith('.' + id) || k.startsWith(id));
  throw new AtelierError('E_METHOD_UNKNOWN', `Unknown method ${JSON.stringify(id)}`, {
    expected: 'a method id such as ' + ids.slice(0, 3).join(', '),
    received: JSON.stringify(id),
    hint: near ? `did you mean ${near}? (\`atelier methods\` lists them all)` : 'run `atelier methods` to list them',
  });
}

/** All methods, in registry order. */
export function listMethods(): AnyMethod[] {
  return Object.values(methods);
}

/** Run a method: validate, read, preprocess, run, postprocess. */
export function stylize<Id extends MethodId>(
  id: Id,
  inputs: StylizeInputs,
  params?: ParamsOf<Id>,
  options?: StylizeOptions,
): Promise<StylizeResult>;
export function stylize(id: string, inputs: StylizeInputs, params?: Record<string, unknown>, options?: StylizeOptions): Promise<StylizeResult>;
export function stylize(id: string, inputs: StylizeInputs, params: Record<string, unknown> = {}, options: StylizeOptions = {}) {
  return runMethod(getMethod(id), inputs, params, options);
}
