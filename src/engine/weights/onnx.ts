import protobuf from 'protobufjs';
import { AtelierError } from '../../core/errors.js';
import { corruptFileErrors } from './corrupt-file.js';
import { readBoundedModelFile } from './weight-file.js';
import { decodeToFloat32, DTYPE_SIZE, type DType } from './dtype.js';
import { describeForeignFormat } from './sniff-format.js';
import type { TensorMap } from './tensor.js';

/**
 * ONNX models published elsewhere (e.g. the fst-small exports), read as data with protobufjs from
 * the subset of onnx/onnx.proto below (message and field numbers as in that file: ModelProto,
 * GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto, TypeProto). Nothing is run:
 * nodes come back as (op, inputs, outputs, attributes), initializers as float32 numbers.
 *
 * Our own graphs are written by ../graph/onnx-model.ts; this is the reading side for foreign files,
 * which checks what a writer could get wrong or a disk could damage: framing (truncation, a flipped
 * tag or length: the message gives the byte offset protobuf stopped at), tensor sizes against their
 * dims, names that nothing defines, nodes out of topological order, and size bounds.
 */

const ONNX_PROTO = `
syntax = "proto2";
package onnx;
message ModelProto {
  optional int64 ir_version = 1; optional string producer_name = 2; optional string producer_version = 3;
  optional string domain = 4; optional int64 model_version = 5; optional string doc_string = 6;
  optional GraphProto graph = 7; repeated OperatorSetIdProto opset_import = 8;
}
message OperatorSetIdProto { optional string domain = 1; optional int64 version = 2; }
message GraphProto {
  repeated NodeProto node = 1; optional string name = 2; repeated TensorProto initializer = 5;
  optional string doc_string = 10; repeated ValueInfoProto input = 11; repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}
message NodeProto {
  repeated string input = 1; repeated string output = 2; optional string name = 3; optional string op_type = 4;
  repeated AttributeProto attribute = 5; optional string doc_string = 6; optional string domain = 7;
}
message AttributeProto {
  optional string name = 1; optional float f = 2; optional int64 i = 3; optional bytes s = 4; optional TensorProto t = 5;
  optional GraphProto g = 6; repeated float floats = 7; repeated int64 ints = 8; repeated bytes strings = 9;
  repeated TensorProto tensors = 10; optional int32 type = 20;
}
message TensorProto {
  repeated int64 dims = 1; optional int32 data_type = 2; repeated float float_data = 4; repeated int32 int32_data = 5;
  repeated bytes string_data = 6; repeated int64 int64_data = 7; optional string name = 8; optional bytes raw_data = 9;
  repeated double double_data = 10; repeated uint64 uint64_data = 11; optional int32 data_location = 14;
}
message ValueInfoProto { optional string name = 1; optional TypeProto type = 2; }
message TypeProto {
  message Tensor { optional int32 elem_type = 1; optional TensorShapeProto shape = 2; }
  optional Tensor tensor_type = 1;
}
message TensorShapeProto {
  message Dimension { optional int64 dim_value = 1; optional string dim_param = 2; }
  repeated Dimension dim = 1;
}
`;

/** ONNX stores models as one protobuf, which protobuf itself caps at 2 GiB; we read at most this. */
export const MAX_ONNX_BYTES = 1024 * 1024 * 1024;
/** The most elements one tensor may declare (4 G floats would already be 16 GB). */
const MAX_TENSOR_ELEMENTS = 2 ** 31;

/** TensorProto.DataType values, with the dtype their bytes decode as. */
const DATA_TYPES: Record<number, { name: string; dtype?: DType }> = {
  1: { name: 'float', dtype: 'F32' },
  2: { name: 'uint8', dtype: 'U8' },
  3: { name: 'int8', dtype: 'I8' },
  4: { name: 'uint16' },
  5: { name: 'int16', dtype: 'I16' },
  6: { name: 'int32', dtype: 'I32' },
  7: { name: 'int64', dtype: 'I64' },
  8: { name: 'string' },
  9: { name: 'bool', dtype: 'BOOL' },
  10: { name: 'float16', dtype: 'F16' },
  11: { name: 'double', dtype: 'F64' },
  12: { name: 'uint32' },
  13: { name: 'uint64' },
  16: { name: 'bfloat16', dtype: 'BF16' },
};

export interface OnnxTensorData {
  name: string;
  /** ONNX's name of the element type (float, int64, float16, …). */
  dtype: string;
  dims: number[];
  /** The values as numbers (int64 beyond 2^53 lose precision; no model here has such weights). */
  values: Float32Array;
}

export type OnnxAttrValue =
  | { kind: 'float'; value: number }
  | { kind: 'int'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: OnnxTensorData }
  | { kind: 'floats'; value: number[] }
  | { kind: 'ints'; value: number[] }
  | { kind: 'strings'; value: string[] }
  /** Sub-graphs (If, Loop, Scan bodies) are not decoded: an importer must refuse the node. */
  | { kind: 'graph' };

export interface OnnxNodeData {
  /** Position in the graph's node list (for messages). */
  index: number;
  name: string;
  op: string;
  domain: string;
  /** Value names; an empty string marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attrs: Record<string, OnnxAttrValue>;
}

export interface OnnxValueInfo {
  name: string;
  elemType: string;
  /** Sizes, or the symbolic name of a free dimension; undefined when the file gives no shape. */
  shape?: (number | string)[];
}

export interface OnnxModelData {
  file: string;
  irVersion: number;
  producer: string;
  opsets: { domain: string; version: number }[];
  graph: {
    name: string;
    nodes: OnnxNodeData[];
    initializers: Map<string, OnnxTensorData>;
    /** Graph inputs that are not initializers: what a caller must feed. */
    inputs: OnnxValueInfo[];
    outputs: OnnxValueInfo[];
  };
}

let modelType: protobuf.Type | undefined;
function modelMessage(): protobuf.Type {
  modelType ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return modelType;
}

/** Read an .onnx file (bounded by MAX_ONNX_BYTES or `maxBytes`). */
export async function readOnnx(file: string, options: { maxBytes?: number } = {}): Promise<OnnxModelData> {
  const limit = options.maxBytes ?? MAX_ONNX_BYTES;
  return parseOnnx(await readBoundedModelFile(file, limit, 'an ONNX model'), file);
}

const corruptFile = corruptFileErrors('pull the model again (`atelier models pull NAME --force`); a file of another format cannot be read as ONNX');
const corrupt = (file: string, summary: string, expected: string, received?: string, cause?: unknown) => corruptFile(file, summary, { expected, received, cause });

/** protobufjs names the byte where it stopped; say it in our words. */
function describeProtobufError(e: unknown, length: number): string {
  const message = e instanceof Error ? e.message : String(e);
  const range = /index out of range: (\d+) \+ (\d+) > (\d+)/.exec(message);
  if (range) return `a field at byte ${range[1]} needs ${range[2]} more bytes, but the data ends at byte ${range[3]} (of ${length})`;
  const wire = /invalid wire type (\d+) at offset (\d+)/.exec(message);
  if (wire) return `an invalid field tag (wire type ${wire[1]}) at byte ${wire[2]}`;
  return message;
}

/**
 * Which length-delimited fields of each message of the subset are messages themselves (the rest
 * are strings, bytes or packed numbers): lets the framing check descend into them.
 */
const SUB_MESSAGES: Record<string, Record<number, string>> = {
  Model: { 7: 'Graph', 8: 'Leaf' },
  Graph: { 1: 'Node', 5: 'Leaf', 11: 'ValueInfo', 12: 'ValueInfo', 13: 'ValueInfo' },
  Node: { 5: 'Attribute' },
  Attribute: { 5: 'Leaf', 6: 'Graph', 10: 'Leaf', 11: 'Graph' },
  ValueInfo: { 2: 'Type' },
  Type: { 1: 'TypeTensor' },
  TypeTensor: { 2: 'Shape' },
  Shape: { 1: 'Leaf' },
  Leaf: {},
};
/** Sub-graphs nest (If/Loop bodies); a deeper nesting is taken for damage, not a model. */
const MAX_NESTING = 64;

/**
 * Walk the protobuf wire format of the file (tags, varints, lengths) without decoding values, and
 * say where it first breaks: protobuf decoders report truncation without a position, and a
 * flipped bit in a tag or length shows up here as a field running past its enclosing message.
 */
export function checkFraming(bytes: Uint8Array): string | undefined {
  const walk = (start: number, end: number, message: string, depth: number): string | undefined => {
    if (depth > MAX_NESTING) return `messages nested more than ${MAX_NESTING} deep at byte ${start}`;
    let pos = start;
    const varint = (): number | undefined => {
      let value = 0;
      for (let shift = 0; shift < 64; shift += 7) {
        if (pos >= end) return undefined;
        const b = bytes[pos++]!;
        if (shift < 49) value += (b & 0x7f) * 2 ** shift;
        if ((b & 0x80) === 0) return value;
      }
      return undefined;
    };
    while (pos < end) {
      const at = pos;
      const tag = varint();
      if (tag === undefined) return `a field tag at byte ${at} runs past the end of its ${message} message (byte ${end})`;
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      if (field === 0) return `a field numbered 0 at byte ${at}`;
      if (wire === 0) {
        if (varint() === undefined) return `the number of field ${field} at byte ${at} runs past the end of its ${message} message (byte ${end})`;
      } else if (wire === 1 || wire === 5) {
        pos += wire === 1 ? 8 : 4;
        if (pos > end) return `field ${field} at byte ${at} needs ${wire === 1 ? 8 : 4} bytes, but its ${message} message ends at byte ${end}`;
      } else if (wire === 2) {
        const length = varint();
        if (length === undefined) return `the length of field ${field} at byte ${at} runs past the end of its ${message} message (byte ${end})`;
        if (pos + length > end) return `field ${field} at byte ${at} declares ${length} bytes, but only ${end - pos} remain in its ${message} message (ending at byte ${end})`;
        const sub = SUB_MESSAGES[message]?.[field];
        if (sub) {
          const inner = walk(pos, pos + length, sub, depth + 1);
          if (inner) return inner;
        }
        pos += length;
      } else {
        return `an invalid field tag (wire type ${wire}) at byte ${at}`;
      }
    }
    return undefined;
  };
  return walk(0, bytes.length, 'Model', 0);
}

interface RawTensor {
  dims?: number[];
  data_type?: number;
  float_data?: number[];
  int32_data?: number[];
  int64_data?: number[];
  double_data?: number[];
  uint64_data?: number[];
  string_data?: Uint8Array[];
  name?: string;
  raw_data?: Uint8Array;
  data_location?: number;
}
interface RawValueInfo {
  name?: string;
  type?: { tensor_type?: { elem_type?: number; shape?: { dim?: { dim_value?: number; dim_param?: string }[] } } };
}
interface RawAttr {
  name?: string;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: RawTensor;
  g?: unknown;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: RawTensor[];
  type?: number;
}
interface RawNode {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  attribute?: RawAttr[];
  domain?: string;
}
interface RawModel {
  ir_version?: number;
  producer_name?: string;
  opset_import?: { domain?: string; version?: number }[];
  graph?: { node?: RawNode[]; name?: string; initializer?: RawTensor[]; input?: RawValueInfo[]; output?: RawValueInfo[] };
}

export function parseOnnx(bytes: Uint8Array, file: string): OnnxModelData {
  const foreign = describeForeignFormat(bytes);
  if (foreign) throw corrupt(file, `The file is ${foreign}, not an ONNX model`, 'an ONNX ModelProto (protobuf)', foreign);
  const broken = checkFraming(bytes);
  if (broken) throw corrupt(file, `The ONNX model is truncated or corrupt: ${broken}`, 'a complete ONNX ModelProto', `${bytes.length} bytes`);
  let raw: RawModel;
  try {
    const type = modelMessage();
    raw = type.toObject(type.decode(bytes), { longs: Number, defaults: false }) as RawModel;
  } catch (e) {
    throw corrupt(file, `The ONNX model is truncated or corrupt: ${describeProtobufError(e, bytes.length)}`, 'a complete ONNX ModelProto', `${bytes.length} bytes`, e);
  }
  const g = raw.graph;
  if (!g || !raw.ir_version) {
    throw corrupt(file, 'The file has no ONNX graph', 'an ONNX ModelProto with ir_version and a graph', g ? 'no ir_version' : 'no graph (an empty, truncated or foreign file)');
  }
  const opsets = (raw.opset_import ?? []).map((o) => ({ domain: o.domain ?? '', version: o.version ?? 0 }));
  if (!opsets.some((o) => o.domain === '' || o.domain === 'ai.onnx')) {
    throw corrupt(file, 'The ONNX model names no opset of the default domain', 'an opset_import for the ONNX operators', JSON.stringify(opsets));
  }

  const initializers = new Map<string, OnnxTensorData>();
  for (const [k, t] of (g.initializer ?? []).entries()) {
    const tensor = decodeTensor(t, file, `initializer ${k}${t.name ? ` "${t.name}"` : ''}`);
    if (!tensor.name) throw corrupt(file, `The ONNX initializer ${k} has no name`, 'named initializers');
    if (initializers.has(tensor.name)) throw corrupt(file, `The ONNX model has two initializers named "${tensor.name}"`, 'unique initializer names');
    initializers.set(tensor.name, tensor);
  }
  const inputs = (g.input ?? []).map((v, k) => valueInfo(v, file, `graph input ${k}`));
  const outputs = (g.output ?? []).map((v, k) => valueInfo(v, file, `graph output ${k}`));

  // Values known before the first node: inputs and initializers. ONNX requires nodes in
  // topological order, so each node may only read what is known when it comes.
  const known = new Set<string>([...inputs.map((v) => v.name), ...initializers.keys()]);
  const nodes: OnnxNodeData[] = [];
  for (const [index, n] of (g.node ?? []).entries()) {
    if (!n.op_type) throw corrupt(file, `ONNX node ${index} has no operator type`, 'every node with an op_type', JSON.stringify(n.name ?? ''));
    const where = `node ${index} (${n.op_type}${n.name ? ` "${n.name}"` : ''})`;
    const nodeInputs = n.input ?? [];
    for (const i of nodeInputs) {
      if (i !== '' && !known.has(i)) {
        throw corrupt(file, `ONNX ${where} reads "${i}", which no graph input, initializer or earlier node defines`, 'nodes in topological order reading defined values (no cycles)', i);
      }
    }
    const nodeOutputs = n.output ?? [];
    for (const o of nodeOutputs) {
      if (o === '') continue;
      if (known.has(o)) throw corrupt(file, `ONNX ${where} defines "${o}" a second time`, 'each value defined once', o);
      known.add(o);
    }
    const attrs: Record<string, OnnxAttrValue> = {};
    for (const a of n.attribute ?? []) {
      if (!a.name) throw corrupt(file, `ONNX ${where} has an attribute without a name`, 'named attributes');
      attrs[a.name] = decodeAttr(a, file, `${where} attribute ${a.name}`);
    }
    nodes.push({ index, name: n.name ?? '', op: n.op_type, domain: n.domain ?? '', inputs: nodeInputs, outputs: nodeOutputs, attrs });
  }
  if (outputs.length === 0) throw corrupt(file, 'The ONNX graph has no outputs', 'at least one graph output');
  for (const o of outputs) if (!known.has(o.name)) throw corrupt(file, `The ONNX graph output "${o.name}" is never computed`, 'graph outputs defined by a node, input or initializer', o.name);

  return {
    file,
    irVersion: raw.ir_version,
    producer: raw.producer_name ?? '',
    opsets,
    graph: { name: g.name ?? '', nodes, initializers, inputs: inputs.filter((v) => !initializers.has(v.name)), outputs },
  };
}

function valueInfo(v: RawValueInfo, file: string, where: string): OnnxValueInfo {
  if (!v.name) throw corrupt(file, `The ONNX ${where} has no name`, 'named graph inputs and outputs');
  const t = v.type?.tensor_type;
  const elemType = DATA_TYPES[t?.elem_type ?? 0]?.name ?? `type ${t?.elem_type ?? 'unknown'}`;
  const shape = t?.shape ? (t.shape.dim ?? []).map((d) => (d.dim_value !== undefined ? d.dim_value : (d.dim_param ?? '?'))) : undefined;
  return { name: v.name, elemType, ...(shape && { shape }) };
}

const utf8 = (b: Uint8Array) => new TextDecoder().decode(b);

function decodeAttr(a: RawAttr, file: string, where: string): OnnxAttrValue {
  // `type` (AttributeType) says which field holds the value; files from old exporters may omit it
  switch (a.type) {
    case 1:
      return { kind: 'float', value: a.f ?? 0 };
    case 2:
      return { kind: 'int', value: a.i ?? 0 };
    case 3:
      return { kind: 'string', value: utf8(a.s ?? new Uint8Array()) };
    case 4:
      if (!a.t) throw corrupt(file, `ONNX ${where} is a tensor attribute without a tensor`, 'a tensor value');
      return { kind: 'tensor', value: decodeTensor(a.t, file, where) };
    case 5:
    case 10:
      return { kind: 'graph' };
    case 6:
      return { kind: 'floats', value: a.floats ?? [] };
    case 7:
      return { kind: 'ints', value: a.ints ?? [] };
    case 8:
      return { kind: 'strings', value: (a.strings ?? []).map(utf8) };
    case undefined:
    case 0:
      if (a.t) return { kind: 'tensor', value: decodeTensor(a.t, file, where) };
      if (a.ints?.length) return { kind: 'ints', value: a.ints };
      if (a.floats?.length) return { kind: 'floats', value: a.floats };
      if (a.strings?.length) return { kind: 'strings', value: a.strings.map(utf8) };
      if (a.s) return { kind: 'string', value: utf8(a.s) };
      if (a.g) return { kind: 'graph' };
      if (a.f !== undefined) return { kind: 'float', value: a.f };
      return { kind: 'int', value: a.i ?? 0 };
    default:
      throw corrupt(file, `ONNX ${where} has an attribute type Atelier does not read`, 'float, int, string, tensor, graph or lists of them', `AttributeType ${a.type}`);
  }
}

function decodeTensor(t: RawTensor, file: string, where: string): OnnxTensorData {
  const type = DATA_TYPES[t.data_type ?? 0];
  if (!type?.dtype) {
    throw corrupt(file, `The ONNX ${where} has an element type Atelier does not read as numbers`, 'float, float16, bfloat16, double or an integer/bool type', type?.name ?? `DataType ${t.data_type}`);
  }
  if (t.data_location === 1) {
    throw corrupt(file, `The ONNX ${where} keeps its data in an external file`, 'tensors stored inside the .onnx file', 'data_location EXTERNAL');
  }
  const dims = t.dims ?? [];
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw corrupt(file, `The ONNX ${where} has a malformed shape`, 'dimensions ≥ 0', `[${dims.join(', ')}]`);
  const count = dims.reduce((p, q) => p * q, 1);
  if (count > MAX_TENSOR_ELEMENTS) throw corrupt(file, `The ONNX ${where} declares too many elements`, `at most ${MAX_TENSOR_ELEMENTS}`, `${count} for [${dims.join(', ')}]`);
  const described = `${type.name} [${dims.join(', ')}]`;
  let values: Float32Array;
  if (t.raw_data && t.raw_data.length > 0) {
    const need = count * DTYPE_SIZE[type.dtype];
    if (t.raw_data.length !== need) {
      throw corrupt(file, `The ONNX ${where} has the wrong number of bytes`, `${need} bytes for ${described}`, `${t.raw_data.length} bytes`);
    }
    values = decodeToFloat32(t.raw_data.slice(), type.dtype, true, `${file} ${where}`);
  } else {
    // typed fields: float_data (float), int32_data (int8…int32, bool, float16/bfloat16 bits), int64_data, double_data
    let list: ArrayLike<number> = [];
    if (type.dtype === 'F32') list = t.float_data ?? [];
    else if (type.dtype === 'F64') list = t.double_data ?? [];
    else if (type.dtype === 'I64') list = t.int64_data ?? [];
    else if (type.dtype === 'F16' || type.dtype === 'BF16') list = decodeToFloat32(new Uint8Array(Uint16Array.from(t.int32_data ?? []).buffer), type.dtype);
    else list = t.int32_data ?? [];
    if (list.length !== count) {
      throw corrupt(file, `The ONNX ${where} lists the wrong number of values`, `${count} values for ${described}`, `${list.length}`);
    }
    values = Float32Array.from(list);
  }
  return { name: t.name ?? '', dtype: type.name, dims, values };
}

/** The initializers as weight tensors keyed by their ONNX names, for mapping onto a network. */
export function onnxInitializers(model: OnnxModelData): TensorMap {
  const map: TensorMap = new Map();
  for (const [name, t] of model.graph.initializers) map.set(name, { name, shape: t.dims, data: t.values });
  return map;
}
