import protobuf from 'protobufjs';
import { AtelierError } from '../../core/errors.js';
import { corruptFileErrors } from './corrupt-file.js';
import { readBoundedModelFile } from './weight-file.js';
import { decodeToFloat32, type DType } from './dtype.js';

/**
 * TensorFlow 1 frozen graphs (`GraphDef` protobuf, `.pb`), decoded with protobufjs from the subset
 * of TensorFlow's .proto files below (field numbers from tensorflow/core/framework/{graph,node_def,
 * attr_value,tensor,tensor_shape,types}.proto). Nothing in the file is executed: nodes come back as
 * data (name, op, inputs, attributes) and constants (`Const` nodes' `value` tensors) are decoded to
 * numbers on request.
 */

const GRAPHDEF_PROTO = `
syntax = "proto3";
package tensorflow;
message GraphDef { repeated NodeDef node = 1; }
message NodeDef {
  string name = 1; string op = 2; repeated string input = 3; string device = 4;
  map<string, AttrValue> attr = 5;
}
message AttrValue {
  message ListValue {
    repeated bytes s = 2; repeated int64 i = 3 [packed = true]; repeated float f = 4 [packed = true];
    repeated bool b = 5 [packed = true]; repeated int32 type = 6 [packed = true];
    repeated TensorShapeProto shape = 7; repeated TensorProto tensor = 8;
  }
  oneof value {
    ListValue list = 1; bytes s = 2; int64 i = 3; float f = 4; bool b = 5; int32 type = 6;
    TensorShapeProto shape = 7; TensorProto tensor = 8; string placeholder = 9;
  }
}
message TensorShapeProto {
  message Dim { int64 size = 1; string name = 2; }
  repeated Dim dim = 2; bool unknown_rank = 3;
}
message TensorProto {
  int32 dtype = 1; TensorShapeProto tensor_shape = 2; int32 version_number = 3; bytes tensor_content = 4;
  repeated int32 half_val = 13 [packed = true]; repeated float float_val = 5 [packed = true];
  repeated double double_val = 6 [packed = true]; repeated int32 int_val = 7 [packed = true];
  repeated bytes string_val = 8; repeated int64 int64_val = 10 [packed = true]; repeated bool bool_val = 11 [packed = true];
}
`;

/** The largest .pb read whole into memory (the published multi-style graph is 0.6 MB). */
export const MAX_GRAPHDEF_BYTES = 256 * 1024 * 1024;

/** DataType enum of types.proto (the values met in frozen graphs), with our decoding dtype. */
const DATA_TYPES: Record<number, { name: string; dtype?: DType }> = {
  1: { name: 'float', dtype: 'F32' },
  2: { name: 'double', dtype: 'F64' },
  3: { name: 'int32', dtype: 'I32' },
  4: { name: 'uint8', dtype: 'U8' },
  5: { name: 'int16', dtype: 'I16' },
  6: { name: 'int8', dtype: 'I8' },
  7: { name: 'string' },
  9: { name: 'int64', dtype: 'I64' },
  10: { name: 'bool', dtype: 'BOOL' },
  11: { name: 'qint8', dtype: 'I8' },
  12: { name: 'quint8', dtype: 'U8' },
  13: { name: 'qint32', dtype: 'I32' },
  19: { name: 'half', dtype: 'F16' },
};

export interface TfTensor {
  dtype: string;
  shape: number[];
  /** Values as float32 (quantised types as their raw integers: the graph's min/max give the scale). */
  values: Float32Array;
}

export type TfAttr =
  | { kind: 'i'; value: number }
  | { kind: 'f'; value: number }
  | { kind: 'b'; value: boolean }
  | { kind: 's'; value: string }
  | { kind: 'type'; value: string }
  | { kind: 'shape'; value: number[] }
  | { kind: 'tensor'; value: TfTensor }
  | { kind: 'list'; ints: number[]; floats: number[]; strings: string[]; types: string[] };

export interface TfNode {
  name: string;
  op: string;
  /** Data inputs as `node` or `node:k` (output k); control inputs (`^node`) are kept apart. */
  inputs: string[];
  controlInputs: string[];
  attrs: Record<string, TfAttr>;
}

export interface TfGraph {
  file: string;
  nodes: TfNode[];
}

let graphDefType: protobuf.Type | undefined;
function graphDefMessage(): protobuf.Type {
  graphDefType ??= protobuf.parse(GRAPHDEF_PROTO, { keepCase: true }).root.lookupType('tensorflow.GraphDef');
  return graphDefType;
}

export async function readGraphDef(file: string): Promise<TfGraph> {
  return parseGraphDef(await readBoundedModelFile(file, MAX_GRAPHDEF_BYTES, 'a frozen graph'), file);
}

const corruptFile = corruptFileErrors('download or pull the model again; a file of another format cannot be read as a frozen TensorFlow graph');
const corruptGraph = (file: string, summary: string, expected: string, received?: string, cause?: unknown) => corruptFile(file, summary, { expected, received, cause });

interface RawTensor {
  dtype?: number;
  tensor_shape?: { dim?: { size?: number }[] };
  tensor_content?: Uint8Array;
  half_val?: number[];
  float_val?: number[];
  double_val?: number[];
  int_val?: number[];
  int64_val?: (number)[];
  bool_val?: boolean[];
}

export function parseGraphDef(bytes: Uint8Array, file: string): TfGraph {
  // A protobuf has no magic number; a TFLite, ONNX or zip file decodes as garbage or fails. Refuse
  // the common look-alikes by their signatures first, so the message says what the file is.
  const ident = String.fromCharCode(...bytes.subarray(4, 8));
  if (ident === 'TFL3') throw corruptGraph(file, 'The file is a TensorFlow Lite model, not a frozen graph (.pb)', 'a GraphDef protobuf', 'FlatBuffers identifier TFL3');
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) throw corruptGraph(file, 'The file is a zip archive, not a frozen graph (.pb)', 'a GraphDef protobuf', 'a zip signature');
  let raw: { node?: { name?: string; op?: string; input?: string[]; attr?: Record<string, Record<string, unknown>> }[] };
  try {
    const type = graphDefMessage();
    raw = type.toObject(type.decode(bytes), { longs: Number, defaults: false }) as never;
  } catch (e) {
    throw corruptGraph(file, `The frozen graph is truncated or corrupt (${(e as Error).message})`, 'a complete GraphDef protobuf', `${bytes.length} bytes`, e);
  }
  const nodes: TfNode[] = [];
  const names = new Set<string>();
  for (const [k, n] of (raw.node ?? []).entries()) {
    const where = `node ${k}`;
    if (!n.name || !n.op) throw corruptGraph(file, `The frozen graph's ${where} has no name or op`, 'every node named, with an op', JSON.stringify({ name: n.name, op: n.op }));
    if (names.has(n.name)) throw corruptGraph(file, `The frozen graph names two nodes "${n.name}"`, 'unique node names');
    names.add(n.name);
    const inputs = (n.input ?? []).filter((i) => !i.startsWith('^'));
    const controlInputs = (n.input ?? []).filter((i) => i.startsWith('^')).map((i) => i.slice(1));
    const attrs: Record<string, TfAttr> = {};
    for (const [key, a] of Object.entries(n.attr ?? {})) attrs[key] = decodeAttr(a, file, `${n.name}.${key}`);
    nodes.push({ name: n.name, op: n.op, inputs, controlInputs, attrs });
  }
  if (nodes.length === 0) throw corruptGraph(file, 'The frozen graph has no nodes', 'a GraphDef with nodes', 'none (an empty or foreign file)');
  for (const n of nodes) {
    for (const i of [...n.inputs, ...n.controlInputs]) {
      const src = i.split(':')[0]!;
      if (!names.has(src)) throw corruptGraph(file, `Node "${n.name}" reads "${i}", which the graph does not define`, 'inputs naming nodes of the graph', i);
    }
  }
  return { file, nodes };
}

/** int64 fields arrive as numbers (`longs: Number`): exact below 2^53, which bounds every size here. */
const num = (v: number | undefined): number => v ?? 0;
const utf8 = (b: Uint8Array) => new TextDecoder().decode(b);

function decodeAttr(a: Record<string, unknown>, file: string, where: string): TfAttr {
  if (a.list != null) {
    const l = a.list as { i?: (number)[]; f?: number[]; s?: Uint8Array[]; type?: number[] };
    return {
      kind: 'list',
      ints: (l.i ?? []).map(num),
      floats: l.f ?? [],
      strings: (l.s ?? []).map(utf8),
      types: (l.type ?? []).map((t) => DATA_TYPES[t]?.name ?? `type${t}`),
    };
  }
  if (a.tensor != null) return { kind: 'tensor', value: decodeTensor(a.tensor as RawTensor, file, where) };
  if (a.shape != null) return { kind: 'shape', value: ((a.shape as RawTensor['tensor_shape'])?.dim ?? []).map((d) => num(d.size)) };
  if (a.type != null) return { kind: 'type', value: DATA_TYPES[a.type as number]?.name ?? `type${a.type}` };
  if (a.s != null) return { kind: 's', value: utf8(a.s as Uint8Array) };
  if (a.f != null) return { kind: 'f', value: a.f as number };
  if (a.b != null) return { kind: 'b', value: a.b as boolean };
  if (a.i != null) return { kind: 'i', value: num(a.i as number) };
  return { kind: 'list', ints: [], floats: [], strings: [], types: [] };
}

function decodeTensor(t: RawTensor, file: string, where: string): TfTensor {
  const type = DATA_TYPES[t.dtype ?? 0];
  if (!type?.dtype) {
    throw corruptGraph(file, `The constant ${where} has a type Atelier does not read`, 'float, half, double or an integer type', type?.name ?? `DataType ${t.dtype}`);
  }
  const shape = (t.tensor_shape?.dim ?? []).map((d) => num(d.size));
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw corruptGraph(file, `The constant ${where} has a malformed shape`, 'sizes ≥ 0', `[${shape}]`);
  const count = shape.reduce((p, q) => p * q, 1);
  const content = t.tensor_content;
  let values: Float32Array;
  if (content && content.length > 0) {
    const elem = { F32: 4, F64: 8, I32: 4, U8: 1, I16: 2, I8: 1, I64: 8, BOOL: 1, F16: 2, BF16: 2 }[type.dtype];
    if (content.length !== count * elem) {
      throw corruptGraph(file, `The constant ${where} has the wrong number of bytes`, `${count * elem} bytes for ${type.name} [${shape.join(', ')}]`, `${content.length} bytes`);
    }
    values = decodeToFloat32(content.slice(), type.dtype, true, `${file} ${where}`);
  } else {
    // Values listed one by one; a single value fills the whole tensor (TensorProto's convention).
    const list: number[] =
      t.float_val?.length ? t.float_val
      : t.double_val?.length ? t.double_val
      : t.int_val?.length ? t.int_val
      : t.int64_val?.length ? t.int64_val.map(num)
      : t.bool_val?.length ? t.bool_val.map((b) => (b ? 1 : 0))
      : t.half_val?.length ? Array.from(decodeToFloat32(new Uint8Array(Uint16Array.from(t.half_val).buffer), 'F16'))
      : [];
    if (list.length !== count && !(list.length === 1 && count > 0) && !(list.length === 0 && count === 0)) {
      throw corruptGraph(file, `The constant ${where} lists the wrong number of values`, `${count} values (or one to repeat)`, `${list.length}`);
    }
    values = new Float32Array(count);
    if (list.length === 1) values.fill(list[0]!);
    else values.set(list);
  }
  return { dtype: type.name, shape, values };
}
