import { ProtoWriter } from './protobuf-writer.js';

/**
 * The ONNX ModelProto subset the graph builder emits, and its encoding. Field numbers follow
 * onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto).
 */

export const OPSET = 18;
const IR_VERSION = 9;

export type DType = 'float32' | 'float64' | 'int64' | 'bool';
const DTYPE_CODE: Record<DType, number> = { float32: 1, int64: 7, bool: 9, float64: 11 };

export type OnnxAttr =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] }
  | { kind: 'tensor'; value: OnnxTensor }
  | { kind: 'graph'; value: OnnxGraph };

export const attr = {
  i: (value: number): OnnxAttr => ({ kind: 'int', value }),
  f: (value: number): OnnxAttr => ({ kind: 'float', value }),
  s: (value: string): OnnxAttr => ({ kind: 'string', value }),
  ints: (value: number[]): OnnxAttr => ({ kind: 'ints', value }),
  floats: (value: number[]): OnnxAttr => ({ kind: 'floats', value }),
  t: (value: OnnxTensor): OnnxAttr => ({ kind: 'tensor', value }),
  /** A subgraph (an If node's branches). */
  g: (value: OnnxGraph): OnnxAttr => ({ kind: 'graph', value }),
};

export interface OnnxNode {
  op: string;
  /** The operator set the op belongs to (default ONNX's own); see `NCHWC_DOMAIN`. */
  domain?: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, OnnxAttr>;
}

export interface OnnxTensor {
  name: string;
  dtype: DType;
  dims: number[];
  /** Little-endian raw bytes of the values. */
  raw: Uint8Array;
}

export interface OnnxValueInfo {
  name: string;
  dtype: DType;
  /** Numbers are fixed sizes, strings symbolic ones; undefined leaves the shape unstated. */
  dims?: (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

/**
 * ONNX Runtime's blocked-layout ops (ReorderInput, ReorderOutput and its blocked Conv: channels in
 * groups of the CPU's vector width), which its optimiser otherwise inserts only for convs with
 * constant kernels (`graph/nchwc.ts`).
 */
export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

export function encodeModel(graph: OnnxGraph): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, IR_VERSION);
  w.string(2, 'atelier');
  w.message(8, (o) => {
    o.string(1, '');
    o.int(2, OPSET);
  });
  if (usesDomain(graph, NCHWC_DOMAIN)) {
    w.message(8, (o) => {
      o.string(1, NCHWC_DOMAIN);
      o.int(2, 1);
    });
  }
  w.message(7, (g) => writeGraph(g, graph));
  return w.finish();
}

function usesDomain(graph: OnnxGraph, domain: string): boolean {
  return graph.nodes.some((n) => n.domain === domain || Object.values(n.attrs ?? {}).some((a) => a.kind === 'graph' && usesDomain(a.value, domain)));
}

function writeGraph(w: ProtoWriter, graph: OnnxGraph): void {
  for (const n of graph.nodes) w.message(1, (m) => writeNode(m, n));
  w.string(2, graph.name);
  for (const t of graph.initializers) w.message(5, (m) => writeTensor(m, t));
  for (const v of graph.inputs) w.message(11, (m) => writeValueInfo(m, v));
  for (const v of graph.outputs) w.message(12, (m) => writeValueInfo(m, v));
}

function writeNode(w: ProtoWriter, n: OnnxNode): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(4, n.op);
  if (n.domain) w.string(7, n.domain);
  for (const [name, a] of Object.entries(n.attrs ?? {})) w.message(5, (m) => writeAttr(m, name, a));
}

function writeAttr(w: ProtoWriter, name: string, a: OnnxAttr): void {
  w.string(1, name);
  switch (a.kind) {
    case 'float':
      w.float(2, a.value);
      w.int(20, 1);
      break;
    case 'int':
      w.int(3, a.value);
      w.int(20, 2);
      break;
    case 'string':
      w.string(4, a.value);
      w.int(20, 3);
      break;
    case 'tensor':
      w.message(5, (m) => writeTensor(m, a.value));
      w.int(20, 4);
      break;
    case 'graph':
      w.message(6, (m) => writeGraph(m, a.value));
      w.int(20, 5);
      break;
    case 'floats':
      w.packedFloats(7, a.value);
      w.int(20, 6);
      break;
    case 'ints':
      w.packedInts(8, a.value);
      w.int(20, 7);
      break;
  }
}

function writeTensor(w: ProtoWriter, t: OnnxTensor): void {
  if (t.dims.length > 0) w.packedInts(1, t.dims);
  w.int(2, DTYPE_CODE[t.dtype]);
  w.string(8, t.name);
  w.bytes(9, t.raw);
}

function writeValueInfo(w: ProtoWriter, v: OnnxValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, DTYPE_CODE[v.dtype]);
      if (v.dims) {
        const dims = v.dims;
        tensor.message(2, (shape) => {
          for (const d of dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        });
      }
    }),
  );
}

/** Raw little-endian bytes of typed values (x86 and ARM are little-endian, as ONNX requires). */
export function rawBytes(values: Float32Array | Float64Array | BigInt64Array | Uint8Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
