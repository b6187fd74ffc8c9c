/**
 * The builder's ops: every node of an engine graph has one of these names. The lists that must
 * cover every op are typed over `OpName`, so leaving one out is a compile error, not a run-time
 * "no lowering" in the middle of a training run:
 * - `Graph` (graph.ts) records nodes only through `addNode(op: OpName, …)`;
 * - the ONNX lowering (lower.ts, `LOWERINGS: Record<OpName, …>`);
 * - the backward rules (autodiff/rules.ts, `BACKWARD_RULES: Record<OpName, BackwardRule | null>`,
 *   null marking an op autodiff refuses on purpose, such as `onnx`);
 * - the reference interpreter of the tests (test/engine/reference.ts, `INTERPRETER`).
 * test/engine/ops.test.ts checks the same at run time.
 *
 * Adding an op: add its name here, then let the compiler walk you through the rest: a builder
 * method in graph.ts that calls `add1`/`addNode` with it, its lowering, its backward rule (or
 * null with a reason), its reference interpreter case, and a gradient check in
 * test/engine/autodiff.test.ts. docs/architecture.md says the same.
 */
export const OP_NAMES = [
  // convolution, padding, pooling, resampling
  'conv',
  'convTranspose',
  'pad',
  'maxPool',
  'avgPool',
  'depthToSpace',
  'resize',
  'instanceNorm',
  // elementwise
  'relu',
  'leakyRelu',
  'tanh',
  'sigmoid',
  // the Gauss error function: the exact GELU x·(1 + erf(x/√2))/2 of latent diffusion's feed-forwards
  'erf',
  'exp',
  'log',
  'sqrt',
  'neg',
  'abs',
  'add',
  'sub',
  'mul',
  'div',
  // 1 where x ≥ a threshold, else 0: a mask that carries no gradient (CLIPstyler's patch rejection)
  'atLeast',
  // shapes and layout
  'concat',
  'split',
  'slice',
  'reverseTaps',
  'reshape',
  'reshapeLike',
  'transpose',
  // pick positions along one axis by an index list (bilinear warps are four of these, weighted)
  'gather',
  // linear algebra and reductions
  'matmul',
  'reduceSum',
  'reduceMean',
  'elementCount',
  'softmax',
  // any ONNX operator, for plumbing without a gradient (Graph.onnx)
  'onnx',
] as const;

export type OpName = (typeof OP_NAMES)[number];
