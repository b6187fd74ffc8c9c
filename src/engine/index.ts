/**
 * The neural engine: graph builder (see `graph/index.ts` for how to write a network), autodiff,
 * the ORT runtime, optimisers and networks.
 */
export * from './graph/index.js';
export { grad } from './autodiff/grad.js';
export { activeDevice, compile, DEVICES, releaseSessions, Runner, setDevice, type Device, type SessionOptions, type TensorData, type TensorValue } from './runtime.js';
export { readTflite, tfliteTensorValues, type TfliteModel } from './weights/tflite.js';
export { readGraphDef, type TfGraph } from './weights/graphdef.js';
export { importTflite } from './import/tflite-import.js';
export { importGraphDef } from './import/graphdef-import.js';
export type { ImportedGraph, ImportOptions } from './import/imported-graph.js';
