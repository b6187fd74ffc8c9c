import { Builder } from 'flatbuffers';

/**
 * Writes small TFLite flatbuffers for tests (bad input, synthetic graphs), field by field from
 * schema.fbs's ids with the `flatbuffers` runtime's Builder — the writing counterpart of
 * src/engine/weights/tflite.ts, kept independent of it.
 */

export interface TensorSpec {
  name: string;
  shape: number[];
  /** TensorType code: 0 float32, 1 float16, 2 int32, 9 int8. */
  type?: number;
  /** Index into `buffers` (0 = no data). */
  buffer?: number;
  scale?: number[];
  zeroPoint?: number[];
  axis?: number;
}

export interface OperatorSpec {
  /** Index into `opcodes`. */
  opcode: number;
  inputs: number[];
  outputs: number[];
  /** Builtin options: field id → int32 / float32 value (written as a table). */
  options?: { id: number; kind: 'int32' | 'int8' | 'float32'; value: number }[];
}

export interface ModelSpec {
  /** Builtin operator codes (schema.fbs BuiltinOperator). */
  opcodes: number[];
  buffers: Uint8Array[];
  tensors: TensorSpec[];
  inputs: number[];
  outputs: number[];
  operators: OperatorSpec[];
}

export function writeTflite(spec: ModelSpec): Uint8Array {
  const b = new Builder(1024);
  const intVector = (xs: number[]) => {
    b.startVector(4, xs.length, 4);
    for (let i = xs.length - 1; i >= 0; i--) b.addInt32(xs[i]!);
    return b.endVector();
  };
  const tableVector = (offsets: number[]) => {
    b.startVector(4, offsets.length, 4);
    for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]!);
    return b.endVector();
  };
  const buffers = spec.buffers.map((data) => {
    const d = data.length > 0 ? b.createByteVector(data) : 0;
    b.startObject(1);
    if (d) b.addFieldOffset(0, d, 0);
    return b.endObject();
  });
  const tensors = spec.tensors.map((t) => {
    const name = b.createString(t.name);
    const shape = intVector(t.shape);
    let quant = 0;
    if (t.scale) {
      b.startVector(4, t.scale.length, 4);
      for (let i = t.scale.length - 1; i >= 0; i--) b.addFloat32(t.scale[i]!);
      const scale = b.endVector();
      const zps = t.zeroPoint ?? t.scale.map(() => 0);
      b.startVector(8, zps.length, 8);
      for (let i = zps.length - 1; i >= 0; i--) b.addInt64(BigInt(zps[i]!));
      const zp = b.endVector();
      b.startObject(7);
      b.addFieldOffset(2, scale, 0);
      b.addFieldOffset(3, zp, 0);
      b.addFieldInt32(6, t.axis ?? 0, -1);
      quant = b.endObject();
    }
    b.startObject(5);
    b.addFieldOffset(0, shape, 0);
    b.addFieldInt8(1, t.type ?? 0, -1);
    b.addFieldInt32(2, t.buffer ?? 0, -1);
    b.addFieldOffset(3, name, 0);
    if (quant) b.addFieldOffset(4, quant, 0);
    return b.endObject();
  });
  const operators = spec.operators.map((o) => {
    const ins = intVector(o.inputs);
    const outs = intVector(o.outputs);
    let opts = 0;
    if (o.options) {
      b.startObject(8);
      for (const f of o.options) {
        if (f.kind === 'int32') b.addFieldInt32(f.id, f.value, -1);
        else if (f.kind === 'int8') b.addFieldInt8(f.id, f.value, -1);
        else b.addFieldFloat32(f.id, f.value, -1);
      }
      opts = b.endObject();
    }
    b.startObject(6);
    b.addFieldInt32(0, o.opcode, -1);
    b.addFieldOffset(1, ins, 0);
    b.addFieldOffset(2, outs, 0);
    if (opts) b.addFieldOffset(4, opts, 0);
    return b.endObject();
  });
  const sgTensors = tableVector(tensors);
  const sgIn = intVector(spec.inputs);
  const sgOut = intVector(spec.outputs);
  const sgOps = tableVector(operators);
  b.startObject(5);
  b.addFieldOffset(0, sgTensors, 0);
  b.addFieldOffset(1, sgIn, 0);
  b.addFieldOffset(2, sgOut, 0);
  b.addFieldOffset(3, sgOps, 0);
  const subgraph = b.endObject();
  const codes = spec.opcodes.map((c) => {
    b.startObject(4);
    b.addFieldInt8(0, Math.min(c, 127), -1);
    b.addFieldInt32(3, c, -1);
    return b.endObject();
  });
  const codesVec = tableVector(codes);
  const subgraphs = tableVector([subgraph]);
  const buffersVec = tableVector(buffers);
  b.startObject(5);
  b.addFieldInt32(0, 3, -1);
  b.addFieldOffset(1, codesVec, 0);
  b.addFieldOffset(2, subgraphs, 0);
  b.addFieldOffset(4, buffersVec, 0);
  const model = b.endObject();
  b.finish(model, 'TFL3');
  return b.asUint8Array().slice();
}

export const f32bytes = (xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);
export const i8bytes = (xs: number[]) => new Uint8Array(Int8Array.from(xs).buffer);
export const i32bytes = (xs: number[]) => new Uint8Array(Int32Array.from(xs).buffer);
