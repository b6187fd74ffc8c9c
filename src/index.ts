/**
 * Atelier's library API, re-exported from where each piece lives (this file defines nothing).
 * `stylize(id, inputs, params, options)` runs a method by id; the rest are the pieces it is made
 * of, for callers who build their own pipelines.
 */
export { methods, DEFAULT_METHOD, getMethod, listMethods, stylize, type MethodId, type MethodRegistry, type ParamsOf } from './methods/index.js';
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
export { stylizeVideo, type VideoJob, type VideoResult } from './video/pipeline.js';
export { runEvaluation, type EvaluationOptions } from './eval/run-evaluation.js';
export { train, getTrainer, listTrainers, trainers, type TrainerId, type TrainOptions, type TrainResult, type LossRecord } from './train/index.js';
export { defineTrainer, type TrainerDefinition, type TrainingSession } from './train/definition.js';
export { computeStyleGrams, PerceptualTrainer, type PerceptualTrainerOptions, type StyleGrams } from './train/recipes/fast-trainer.js';
export { fastNetworkBuilder, fastTrainable } from './train/recipes/fast.js';
export { perceptualLoss, loadPerceptualVgg, type PerceptualTap } from './engine/losses/perceptual.js';
export { renderReport } from './eval/report-html.js';
export type { EvaluationResults } from './eval/results.js';
