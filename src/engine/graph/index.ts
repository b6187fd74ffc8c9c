/**
 * # Writing a network with the graph builder
 *
 * A network is a TypeScript function that records ops on a `Graph`; the graph is emitted as an
 * ONNX model and run by `engine/runtime.ts`. One definition serves inference, image optimisation
 * and training (autodiff in `engine/autodiff`).
 *
 * ```ts
 * import { Graph, compile, grad } from '../engine/index.js';
 * const g = new Graph();
 * const x = g.input('image', [1, 3, 'H', 'W']);            // strings = sizes fixed at run time
 * const w = g.param('conv1.weight', [16, 3, 3, 3], data);   // Float32Array, row-major
 * const b = g.param('conv1.bias', [16], biasData);
 * let h = g.relu(g.conv(x, w, b, { pad: 1, padMode: 'reflect' }));
 * h = g.instanceNorm(h, g.param('in1.weight', [16], s), g.param('in1.bias', [16], t));
 * g.output('features', h);
 * const runner = await compile(g, { threads: ctx.threads });
 * const { features } = await runner.run({ image: { data: img.data, shape: [1, 3, H, W] } });
 * ```
 *
 * - Ops: conv (zeros/reflect padding, stride, dilation, groups), pad, relu/leakyRelu/tanh/
 *   sigmoid/silu, max/avg pool, resize (nearest, linear), instance/batch/group norm,
 *   add/sub/mul/div (broadcasting), concat/split/slice/reverse/reshape/transpose, matmul,
 *   reduceSum/reduceMean, softmax, exp/log/sqrt/abs/neg. `g.onnx(...)` is the escape hatch for
 *   any other ONNX operator (no gradient).
 * - Shapes are tracked when the graph is built; numbers are fixed sizes, strings symbolic ones.
 *   Give dynamic inputs string H/W: one compiled session then serves every image size.
 * - Params are initializers by default (fast, fixed weights). For training, emit with
 *   `{ paramsAsInputs: true }` and feed the weights by name each step.
 * - Gradients: `grad(g, loss, [x, ...params])` adds the backward graph to `g` and returns one
 *   gradient tensor per `wrt`; mark them with `g.output(...)`. `loss` must be a scalar.
 * - Weight files arrive as a `TensorMap` (engine/weights/tensor.ts); map names onto `g.param`.
 * - `compile(g, { threads, memory, optimization })` caches sessions by model hash. 'fast' memory
 *   (ORT arena + memory pattern) with the default 'all' optimisation suits inference. Graphs that
 *   keep many activations for a backward pass do better with `optimization: 'extended'` (no
 *   NCHWc reorder copies of each kept activation; Gatys uses it) or `memory: 'lean'` (lowest
 *   peak, slowest); `bench/engine.mjs --configs` compares them.
 */
export { Graph, Tensor, SLICE_END, type ConvOptions, type PoolOptions, type FloatArray } from './graph.js';
export type { Dim } from './dims.js';
export { emitModel, type EmitOptions, type EmittedModel } from './lower.js';
export { attr, type DType } from './onnx-model.js';
