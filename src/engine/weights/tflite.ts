import { ByteBuffer } from 'flatbuffers';
import { AtelierError } from '../../core/errors.js';
import { readBoundedModelFile } from './weight-file.js';
import { decodeToFloat32, type DType } from './dtype.js';
import { corrupt, FbTable } from './flatbuffer-table.js';

/**
 * TensorFlow Lite models (FlatBuffers, file identifier `TFL3`), read without running anything in
 * them: the model's tensors (shape, type, quantisation), their constant buffers, operators and
 * subgraphs, and the dequantisation of constant tensors to float32.
 *
 * Accessors are written by hand from the schema's field ids (tensorflow/lite/schema/schema.fbs),
 * not generated with `flatc`: we read a dozen tables and a few option tables, and each access goes
 * through FbTable's bounds checks, which generated code (trusting its input) would bypass.
 *
 * Field ids used (schema.fbs): Model {1 operator_codes, 2 subgraphs, 3 description, 4 buffers};
 * OperatorCode {0 deprecated_builtin_code (int8), 1 custom_code, 3 builtin_code (int32)};
 * SubGraph {0 tensors, 1 inputs, 2 outputs, 3 operators, 4 name};
 * Tensor {0 shape, 1 type, 2 buffer, 3 name, 4 quantization};
 * QuantizationParameters {2 scale, 3 zero_point, 6 quantized_dimension};
 * Buffer {0 data, 1 offset (uint64), 2 size (uint64)};
 * Operator {0 opcode_index, 1 inputs, 2 outputs, 4 builtin_options, 5 custom_options}.
 */

/** The largest model file read whole into memory (the published style models are under 4 MB). */
export const MAX_TFLITE_BYTES = 512 * 1024 * 1024;

/** TensorType enum of schema.fbs, by value. */
const TENSOR_TYPES = ['float32', 'float16', 'int32', 'uint8', 'int64', 'string', 'bool', 'int16', 'complex64', 'int8', 'float64'] as const;
export type TfliteType = (typeof TENSOR_TYPES)[number];

/** BuiltinOperator enum values this project meets or refuses by name (schema.fbs). */
const BUILTIN_NAMES: Record<number, string> = {
  0: 'ADD', 1: 'AVERAGE_POOL_2D', 2: 'CONCATENATION', 3: 'CONV_2D', 4: 'DEPTHWISE_CONV_2D', 5: 'DEPTH_TO_SPACE',
  6: 'DEQUANTIZE', 8: 'FLOOR', 9: 'FULLY_CONNECTED', 14: 'LOGISTIC', 17: 'MAX_POOL_2D', 18: 'MUL', 19: 'RELU',
  20: 'RELU_N1_TO_1', 21: 'RELU6', 22: 'RESHAPE', 23: 'RESIZE_BILINEAR', 25: 'SOFTMAX', 26: 'SPACE_TO_DEPTH', 28: 'TANH',
  32: 'CUSTOM', 34: 'PAD', 36: 'GATHER', 39: 'TRANSPOSE', 40: 'MEAN', 41: 'SUB', 42: 'DIV', 43: 'SQUEEZE',
  45: 'STRIDED_SLICE', 47: 'EXP', 49: 'SPLIT', 53: 'CAST', 54: 'PRELU', 55: 'MAXIMUM', 57: 'MINIMUM', 59: 'NEG',
  60: 'PADV2', 65: 'SLICE', 66: 'SIN', 67: 'TRANSPOSE_CONV', 69: 'TILE', 70: 'EXPAND_DIMS', 73: 'LOG', 74: 'SUM', 75: 'SQRT',
  76: 'RSQRT', 77: 'SHAPE', 78: 'POW', 81: 'REDUCE_PROD', 82: 'REDUCE_MAX', 83: 'PACK', 88: 'UNPACK', 89: 'REDUCE_MIN',
  92: 'SQUARE', 97: 'RESIZE_NEAREST_NEIGHBOR', 98: 'LEAKY_RELU', 99: 'SQUARED_DIFFERENCE', 100: 'MIRROR_PAD',
  101: 'ABS', 102: 'SPLIT_V', 114: 'QUANTIZE', 117: 'HARD_SWISH', 126: 'BATCH_MATMUL',
};

export interface TfliteQuantization {
  scale: number[];
  zeroPoint: number[];
  /** The axis of per-channel scales (one scale per index along it); 0 for per-tensor. */
  axis: number;
}

export interface TfliteTensor {
  index: number;
  name: string;
  shape: number[];
  type: TfliteType;
  quantization?: TfliteQuantization;
  /** The constant's raw little-endian bytes (a view into the file), absent for activations. */
  data?: Uint8Array;
}

export interface TfliteOperator {
  index: number;
  /** Builtin operator name (`CONV_2D`), `CUSTOM:<code>`, or `BUILTIN_<n>` for codes not listed. */
  op: string;
  inputs: number[];
  outputs: number[];
  /** The operator's builtin options table (read per op with its schema field ids), if any. */
  options?: FbTable;
}

export interface TfliteSubgraph {
  name: string;
  tensors: TfliteTensor[];
  inputs: number[];
  outputs: number[];
  operators: TfliteOperator[];
}

export interface TfliteModel {
  file: string;
  version: number;
  description: string;
  subgraphs: TfliteSubgraph[];
}

/** Read a `.tflite` file: validated structure, constant buffers as views into the file's bytes. */
export async function readTflite(file: string): Promise<TfliteModel> {
  return parseTflite(await readBoundedModelFile(file, MAX_TFLITE_BYTES, 'a TFLite model'), file);
}

export function parseTflite(bytes: Uint8Array, file: string): TfliteModel {
  if (bytes.length < 8) throw corrupt(file, 'the header', 'at least 8 bytes (root offset and `TFL3`)', `${bytes.length} bytes`);
  const ident = String.fromCharCode(...bytes.subarray(4, 8));
  if (ident !== 'TFL3') {
    throw new AtelierError('E_WEIGHTS_CORRUPT', 'The file is not a TensorFlow Lite model', {
      subject: file,
      expected: 'the FlatBuffers identifier `TFL3` at bytes 4–7',
      received: JSON.stringify(ident),
      hint: 'check that the file is the .tflite the model needs (not a .pb, .onnx or a web page)',
    });
  }
  const bb = new ByteBuffer(bytes);
  const root = new FbTable(bb, bb.readUint32(0), file, 'model');
  const codes = root.tables(1, 'operator_codes').map((c) => {
    const code = Math.max(c.scalar(0, 'int8'), c.scalar(3, 'int32'));
    if (code === 32) return `CUSTOM:${c.string(1, 'custom_code') ?? '?'}`;
    return BUILTIN_NAMES[code] ?? `BUILTIN_${code}`;
  });
  const buffers = root.tables(4, 'buffers').map((b, i) => {
    const inline = b.bytes(0, 'data');
    if (inline && inline.length > 0) return inline;
    const offset = b.scalar(1, 'int64');
    const length = b.scalar(2, 'int64');
    if (length === 0) return undefined;
    if (offset <= 1 || offset + length > bytes.length) {
      throw corrupt(file, `buffers[${i}]`, `an external buffer inside the file`, `offset ${offset}, size ${length}, file ${bytes.length} bytes`);
    }
    return bytes.subarray(offset, offset + length);
  });
  const subgraphs = root.tables(2, 'subgraphs').map((sg, s) => {
    const tensors = sg.tables(0, 'tensors').map((t, i): TfliteTensor => {
      const where = `subgraphs[${s}].tensors[${i}]`;
      const typeCode = t.scalar(1, 'int8');
      const type = TENSOR_TYPES[typeCode];
      if (!type) throw corrupt(file, where, 'a TensorType 0–10', `${typeCode}`);
      const shape = t.scalars(0, 'int32', 'shape') ?? [];
      if (shape.some((d) => d < -1)) throw corrupt(file, where, 'sizes ≥ 0 (or -1 for dynamic)', `[${shape}]`);
      const bufferIndex = t.scalar(2, 'uint32');
      if (bufferIndex >= buffers.length) throw corrupt(file, where, `a buffer index below ${buffers.length}`, `${bufferIndex}`);
      const q = t.table(4, 'quantization');
      const scale = q?.scalars(2, 'float32', 'scale');
      let quantization: TfliteQuantization | undefined;
      if (q && scale && scale.length > 0) {
        const zeroPoint = q.scalars(3, 'int64', 'zero_point') ?? scale.map(() => 0);
        const axis = q.scalar(6, 'int32');
        if (zeroPoint.length !== scale.length) throw corrupt(file, `${where}.quantization`, `${scale.length} zero points`, `${zeroPoint.length}`);
        if (scale.length > 1 && (axis < 0 || axis >= shape.length || shape[axis] !== scale.length)) {
          throw corrupt(file, `${where}.quantization`, `per-channel scales along an axis of size ${scale.length}`, `axis ${axis} of [${shape}]`);
        }
        quantization = { scale, zeroPoint, axis };
      }
      const data = buffers[bufferIndex];
      return {
        index: i,
        name: t.string(3, 'name') ?? `tensor${i}`,
        shape,
        type,
        ...(quantization && { quantization }),
        ...(data && { data }),
      };
    });
    const indices = (list: number[] | undefined, where: string) => {
      for (const k of list ?? []) if (k < -1 || k >= tensors.length) throw corrupt(file, where, `tensor indices below ${tensors.length}`, `${k}`);
      return list ?? [];
    };
    const operators = sg.tables(3, 'operators').map((o, i): TfliteOperator => {
      const where = `subgraphs[${s}].operators[${i}]`;
      const opcode = o.scalar(0, 'uint32');
      if (opcode >= codes.length) throw corrupt(file, where, `an opcode index below ${codes.length}`, `${opcode}`);
      const options = o.table(4, 'builtin_options');
      return {
        index: i,
        op: codes[opcode]!,
        inputs: indices(o.scalars(1, 'int32', 'inputs'), `${where}.inputs`),
        outputs: indices(o.scalars(2, 'int32', 'outputs'), `${where}.outputs`),
        ...(options && { options }),
      };
    });
    return {
      name: sg.string(4, 'name') ?? `subgraph${s}`,
      tensors,
      inputs: indices(sg.scalars(1, 'int32', 'inputs'), `subgraphs[${s}].inputs`),
      outputs: indices(sg.scalars(2, 'int32', 'outputs'), `subgraphs[${s}].outputs`),
      operators,
    };
  });
  if (subgraphs.length === 0) throw corrupt(file, 'model.subgraphs', 'at least one subgraph');
  return { file, version: root.scalar(0, 'uint32'), description: root.string(3, 'description') ?? '', subgraphs };
}

const BYTES: Partial<Record<TfliteType, number>> = { float32: 4, float16: 2, int32: 4, uint8: 1, int64: 8, int16: 2, int8: 1, float64: 8, bool: 1 };
const DTYPE: Partial<Record<TfliteType, DType>> = { float32: 'F32', float16: 'F16', int32: 'I32', uint8: 'U8', int64: 'I64', int16: 'I16', int8: 'I8', float64: 'F64', bool: 'BOOL' };

/**
 * A constant tensor's values as float32: float16 widened, integers dequantised with their scale and
 * zero point (per tensor, or per channel along `quantization.axis`): real = scale · (q − zero point).
 * Integer tensors without quantisation (shapes, axes, paddings) come back as their plain values.
 */
export function tfliteTensorValues(model: TfliteModel, t: TfliteTensor): Float32Array {
  const where = `tensor ${t.index} "${t.name}"`;
  if (!t.data) throw new AtelierError('E_INTERNAL', `TFLite ${where} has no constant data`, { subject: model.file });
  const elem = BYTES[t.type];
  const dtype = DTYPE[t.type];
  if (!elem || !dtype) {
    throw new AtelierError('E_WEIGHTS_CORRUPT', `TFLite ${where} has a type Atelier does not read as numbers`, { subject: model.file, received: t.type });
  }
  const count = t.shape.reduce((a, b) => a * Math.max(b, 0), 1);
  if (t.data.length !== count * elem) {
    throw corrupt(model.file, where, `${count * elem} bytes for ${t.type} [${t.shape.join(', ')}]`, `${t.data.length} bytes`);
  }
  // Copy to an aligned buffer first: buffer views into the file may start at any byte.
  const values = decodeToFloat32(t.data.slice(), dtype, true, `${model.file} ${where}`);
  const q = t.quantization;
  if (!q || t.type === 'float32' || t.type === 'float16' || t.type === 'float64') return values;
  for (let c = 0; c < q.scale.length; c++) {
    const s = q.scale[c]!;
    if (!(s > 0) || !Number.isFinite(s)) {
      throw new AtelierError('E_WEIGHTS_CORRUPT', `TFLite ${where} has a quantisation scale that is not a positive number`, {
        subject: model.file,
        expected: 'scales > 0 (real = scale · (q − zero point))',
        received: `scale[${c}] = ${s}`,
        hint: 'the file is damaged or was written by a faulty converter; pull the model again',
      });
    }
  }
  if (q.scale.length === 1) {
    const s = q.scale[0]!;
    const z = q.zeroPoint[0]!;
    for (let i = 0; i < values.length; i++) values[i] = s * (values[i]! - z);
    return values;
  }
  // Per channel: index along `axis` = floor(i / inner) mod size.
  const inner = t.shape.slice(q.axis + 1).reduce((a, b) => a * b, 1);
  const size = t.shape[q.axis]!;
  for (let i = 0; i < values.length; i++) {
    const c = Math.floor(i / inner) % size;
    values[i] = q.scale[c]! * (values[i]! - q.zeroPoint[c]!);
  }
  return values;
}
