/**
 * The neural engine: graph builder (see `graph/index.ts` for how to write a network), autodiff,
 * the ORT runtime, optimisers and networks.
 */
export * from './graph/index.js';
export { grad } from './autodiff/grad.js';
export { compile, releaseSessions, Runner, type SessionOptions, type TensorData, type TensorValue } from './runtime.js';
