import protobuf from 'protobufjs';

/**
 * Reflect pads kept in ONNX Runtime's blocked layout. ORT's NCHWc pass (optimisation level 'all')
 * runs convolutions on activations laid out [N, C/B, H, W, B] (B channels innermost, B = 8 with
 * AVX2, 16 with AVX-512), but it has no blocked Pad: before every reflect-padded convolution it
 * reorders the activation back to NCHW, pads it, and reorders it into blocks again, three passes
 * over the activation for a conv that itself may cost little more (the cd16x WCT networks, 16 to
 * 128 channels: reorders and pads were a quarter of the run, over half at level 1).
 *
 * A blocked tensor is, in memory, the row-major tensor [N, C/B, H, W, B], and reflecting it along
 * H and W is reflecting that 5-D tensor along its axes 2 and 3. So in the model ORT optimised
 * (saved with `optimizedModelFilePath`), each ReorderOutput → Pad → ReorderInput chain becomes
 * Reshape to 5-D (no copy) → the same Pad on axes 2, 3 → Reshape back: one pass instead of three,
 * the same values. The chains taken are those where ORT's own reorders add nothing: the
 * ReorderOutput feeds only the Pad, the Pad only the ReorderInput, both NCHW (not channels-last),
 * and every reader of the result is an NCHWc Conv. That last condition covers the channels past C
 * up to a multiple of B: ReorderInput fills them with zeros, whereas the blocked Pad carries the
 * producer's; an NCHWc Conv's filter is zero there (ORT pads its reordered filters with zeros), so
 * they contribute nothing either way.
 *
 * The model is read and written with protobufjs from the schema below (field numbers as in
 * onnx/onnx.proto). Every message or field this rewrite does not look into is declared `bytes`,
 * so it is written back exactly as ORT wrote it.
 */

const SCHEMA = `
syntax = "proto2";
package onnx;
message ModelProto {
  optional int64 ir_version = 1; optional string producer_name = 2; optional string producer_version = 3;
  optional string domain = 4; optional int64 model_version = 5; optional string doc_string = 6;
  optional GraphProto graph = 7; repeated bytes opset_import = 8; repeated bytes metadata_props = 14;
  repeated bytes training_info = 20; repeated bytes functions = 25;
}
message GraphProto {
  repeated NodeProto node = 1; optional string name = 2; repeated TensorProto initializer = 5;
  optional string doc_string = 10; repeated ValueInfoProto input = 11; repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13; repeated bytes quantization_annotation = 14;
  repeated bytes sparse_initializer = 15; repeated bytes metadata_props = 16;
}
message NodeProto {
  repeated string input = 1; repeated string output = 2; optional string name = 3; optional string op_type = 4;
  repeated AttributeProto attribute = 5; optional string doc_string = 6; optional string domain = 7;
  optional string overload = 8; repeated bytes metadata_props = 9; repeated bytes device_configurations = 10;
}
message AttributeProto {
  optional string name = 1; optional float f = 2; optional int64 i = 3; optional bytes s = 4; optional bytes t = 5;
  optional GraphProto g = 6; repeated float floats = 7; repeated int64 ints = 8; repeated bytes strings = 9;
  repeated bytes tensors = 10; repeated GraphProto graphs = 11; optional string doc_string = 13; optional bytes tp = 14;
  repeated bytes type_protos = 15; optional int32 type = 20; optional string ref_attr_name = 21;
  optional bytes sparse_tensor = 22; repeated bytes sparse_tensors = 23;
}
message TensorProto {
  repeated int64 dims = 1; optional int32 data_type = 2; optional bytes segment = 3; repeated float float_data = 4;
  repeated int32 int32_data = 5; repeated bytes string_data = 6; repeated int64 int64_data = 7; optional string name = 8;
  optional bytes raw_data = 9; repeated double double_data = 10; repeated uint64 uint64_data = 11;
  optional string doc_string = 12; repeated bytes external_data = 13; optional int32 data_location = 14;
  repeated bytes metadata_props = 16;
}
message ValueInfoProto { optional string name = 1; optional bytes type = 2; optional string doc_string = 3; repeated bytes metadata_props = 4; }
`;

/** The NCHWc ops' domain in ORT's saved models. */
const NCHWC = 'com.microsoft.nchwc';
const INT64 = 7;
/** AttributeProto.AttributeType STRING. */
const STRING_ATTR = 3;

type Int = number | { toNumber(): number };
interface Attribute {
  name: string;
  type?: number;
  i?: Int;
  s?: Uint8Array;
  g?: GraphMessage;
  graphs?: GraphMessage[];
}
interface NodeMessage {
  input: string[];
  output: string[];
  op_type: string;
  domain?: string;
  attribute: Attribute[];
}
interface TensorMessage {
  name: string;
  dims: Int[];
  data_type: number;
  raw_data?: Uint8Array;
  int64_data?: Int[];
}
interface GraphMessage {
  node: NodeMessage[];
  initializer: TensorMessage[];
  output: { name: string }[];
  value_info: { name: string }[];
}
interface ModelMessage {
  graph?: GraphMessage;
}

let modelType: protobuf.Type | undefined;
function modelMessage(): protobuf.Type {
  modelType ??= protobuf.parse(SCHEMA, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return modelType;
}

const int = (v: Int): number => (typeof v === 'number' ? v : v.toNumber());
const attribute = (n: NodeMessage, name: string) => n.attribute.find((a) => a.name === name);
const isNchwc = (n: NodeMessage, op: string) => n.domain === NCHWC && n.op_type === op;

function int64Values(t: TensorMessage): number[] | undefined {
  if (t.data_type !== INT64) return undefined;
  if (t.raw_data && t.raw_data.length > 0) {
    const raw = t.raw_data;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return Array.from({ length: raw.byteLength / 8 }, (_, k) => Number(view.getBigInt64(8 * k, true)));
  }
  return (t.int64_data ?? []).map(int);
}

function int64Tensor(name: string, values: number[]): TensorMessage {
  const raw = new Uint8Array(8 * values.length);
  const view = new DataView(raw.buffer);
  values.forEach((v, k) => view.setBigInt64(8 * k, BigInt(v), true));
  return { name, dims: [values.length], data_type: INT64, raw_data: raw };
}

/** Rewrite one graph (and, first, the graphs inside its nodes); returns how many pads it moved. */
function rewriteGraph(g: GraphMessage, blockSize: number, outer: ReadonlyMap<string, TensorMessage>): number {
  const initializers = new Map(outer);
  for (const t of g.initializer) initializers.set(t.name, t);
  let count = 0;
  for (const n of g.node) {
    for (const a of n.attribute) {
      if (a.g) count += rewriteGraph(a.g, blockSize, initializers);
      for (const sub of a.graphs ?? []) count += rewriteGraph(sub, blockSize, initializers);
    }
  }
  // Readers of each value: this graph's nodes, the subgraphs that read it from here, and (a
  // stand-in node) the graph's outputs.
  const readers = new Map<string, NodeMessage[]>();
  const addReader = (name: string, n: NodeMessage) => {
    if (name !== '') readers.set(name, [...(readers.get(name) ?? []), n]);
  };
  const graphOutput: NodeMessage = { op_type: 'graph output', input: [], output: [], attribute: [] };
  for (const o of g.output) addReader(o.name, graphOutput);
  for (const n of g.node) {
    for (const i of n.input) addReader(i, n);
    for (const a of n.attribute) for (const sub of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) for (const i of subgraphReads(sub)) addReader(i, n);
  }
  const producer = new Map<string, NodeMessage>();
  for (const n of g.node) for (const o of n.output) producer.set(o, n);

  const replaced = new Map<NodeMessage, NodeMessage[]>();
  const dropped = new Set<NodeMessage>();
  const removedValues = new Set<string>();
  for (const pad of g.node) {
    if (pad.op_type !== 'Pad' || (pad.domain ?? '') !== '' || pad.input.length !== 2) continue;
    const mode = Buffer.from(attribute(pad, 'mode')?.s ?? []).toString();
    if (mode !== 'reflect' && mode !== 'edge') continue;
    const out = producer.get(pad.input[0]!);
    const back = readers.get(pad.output[0]!);
    if (!out || !isNchwc(out, 'ReorderOutput') || readers.get(out.output[0]!)?.length !== 1) continue;
    if (back?.length !== 1 || !isNchwc(back[0]!, 'ReorderInput')) continue;
    const into = back[0]!;
    if (int(attribute(out, 'channels_last')?.i ?? 0) !== 0 || int(attribute(into, 'channels_last')?.i ?? 0) !== 0) continue;
    if (!(readers.get(into.output[0]!) ?? []).every((r) => isNchwc(r, 'Conv'))) continue;
    const channels = int(attribute(out, 'channels')?.i ?? 0);
    const pads = initializers.has(pad.input[1]!) ? int64Values(initializers.get(pad.input[1]!)!) : undefined;
    if (!(channels > 0) || pads?.length !== 8 || pads[0] !== 0 || pads[1] !== 0 || pads[4] !== 0 || pads[5] !== 0 || pads.some((p) => p < 0)) continue;
    const blocks = Math.ceil(channels / blockSize);
    const name = `${pad.output[0]}/blocked`;
    // Reshape's 0 keeps the input's size on that axis: N, and H and W (padded or not).
    g.initializer = [
      ...g.initializer,
      int64Tensor(`${name}/5d`, [0, blocks, 0, 0, blockSize]),
      int64Tensor(`${name}/pads`, [0, 0, pads[2]!, pads[3]!, 0, 0, 0, pads[6]!, pads[7]!, 0]),
      int64Tensor(`${name}/4d`, [0, blocks * blockSize, 0, 0]),
    ];
    const node = (op: string, input: string[], output: string, attrs: Attribute[] = []): NodeMessage => ({ op_type: op, domain: '', input, output: [output], attribute: attrs });
    replaced.set(out, [
      node('Reshape', [out.input[0]!, `${name}/5d`], `${name}/x`),
      node('Pad', [`${name}/x`, `${name}/pads`], `${name}/y`, [{ name: 'mode', s: Buffer.from(mode), type: STRING_ATTR }]),
      node('Reshape', [`${name}/y`, `${name}/4d`], into.output[0]!),
    ]);
    dropped.add(pad).add(into);
    removedValues.add(out.output[0]!).add(pad.output[0]!);
    count++;
  }
  if (replaced.size > 0) {
    g.node = g.node.flatMap((n) => replaced.get(n) ?? (dropped.has(n) ? [] : [n]));
    g.value_info = g.value_info.filter((v) => !removedValues.has(v.name));
  }
  return count;
}

/** Names a subgraph reads from enclosing graphs (inputs of its nodes it neither makes nor holds). */
function subgraphReads(g: GraphMessage): string[] {
  const made = new Set<string>([...g.initializer.map((t) => t.name), ...g.node.flatMap((n) => n.output)]);
  const reads: string[] = [];
  for (const n of g.node) {
    for (const i of n.input) if (!made.has(i)) reads.push(i);
    for (const a of n.attribute) for (const sub of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) for (const i of subgraphReads(sub)) if (!made.has(i)) reads.push(i);
  }
  return reads;
}

/**
 * ORT's optimised model (`optimizedModelFilePath`, level 'all') with its reflect pads moved into
 * the blocked layout (see above); `rewritten` counts them (0: `bytes` is the input unchanged).
 */
export function keepPadsBlocked(optimized: Uint8Array, blockSize: number): { bytes: Uint8Array; rewritten: number } {
  const type = modelMessage();
  const model = type.decode(optimized) as unknown as ModelMessage;
  if (!model.graph) return { bytes: optimized, rewritten: 0 };
  const rewritten = rewriteGraph(model.graph, blockSize, new Map());
  if (rewritten === 0) return { bytes: optimized, rewritten };
  return { bytes: type.encode(model as unknown as protobuf.Message).finish(), rewritten };
}
