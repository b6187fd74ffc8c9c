import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { importGraphDef } from '../../../src/engine/import/graphdef-import.js';
import { compile } from '../../../src/engine/runtime.js';
import { parseGraphDef, readGraphDef } from '../../../src/engine/weights/graphdef.js';
import { f32bytes, writeTflite } from '../../helpers/tflite-writer.js';
import { SHARED_WEIGHTS, sharedMissing } from './shared.js';

/** Frozen GraphDef reading and import: synthetic graphs written with protobufjs, bad input, the real file. */

// The writer's own copy of the few TensorFlow messages it needs (field numbers from TF's .proto files).
const WRITER = protobuf.parse(`
syntax = "proto3";
message GraphDef { repeated NodeDef node = 1; }
message NodeDef { string name = 1; string op = 2; repeated string input = 3; map<string, AttrValue> attr = 5; }
message AttrValue { oneof value { ListValue list = 1; bytes s = 2; int64 i = 3; float f = 4; bool b = 5; int32 type = 6; Shape shape = 7; Tensor tensor = 8; } }
message ListValue { repeated int64 i = 3 [packed = true]; }
message Shape { message Dim { int64 size = 1; } repeated Dim dim = 2; }
message Tensor { int32 dtype = 1; Shape tensor_shape = 2; bytes tensor_content = 4; repeated float float_val = 5 [packed = true]; repeated int32 int_val = 7 [packed = true]; }
`, { keepCase: true }).root.lookupType('GraphDef');

type Attr = Record<string, unknown>;
const shape = (dims: number[]) => ({ dim: dims.map((size) => ({ size })) });
const floats = (dims: number[], v: number[]): Attr => ({ tensor: { dtype: 1, tensor_shape: shape(dims), float_val: v } });
const ints = (dims: number[], v: number[]): Attr => ({ tensor: { dtype: 3, tensor_shape: shape(dims), int_val: v } });
const quint8 = (dims: number[], v: number[]): Attr => ({ tensor: { dtype: 12, tensor_shape: shape(dims), tensor_content: Uint8Array.from(v) } });
const node = (name: string, op: string, input: string[] = [], attr: Record<string, Attr> = {}) => ({ name, op, input, attr });
const encode = (nodes: ReturnType<typeof node>[]) => WRITER.encode(WRITER.fromObject({ node: nodes })).finish();

/** x [1,2,2,1] → the eight-bit conv pattern with 1×1 quint8 weights → Relu. */
function eightBitConv(wMin = -1, wMax = 1) {
  return [
    node('x', 'Placeholder', [], { shape: { shape: shape([1, 2, 2, 1]) } }),
    node('w', 'Const', [], { value: quint8([1, 1, 1, 2], [0, 255]) }),
    node('wmin', 'Const', [], { value: floats([], [wMin]) }),
    node('wmax', 'Const', [], { value: floats([], [wMax]) }),
    node('xmin', 'Const', [], { value: floats([], [0]) }),
    node('xmax', 'Const', [], { value: floats([], [1]) }),
    node('q', 'QuantizeV2', ['x', 'xmin', 'xmax']),
    node('conv', 'QuantizedConv2D', ['q', 'w', 'q:1', 'q:2', 'wmin', 'wmax'], { strides: { list: { i: [1, 1, 1, 1] } }, padding: { s: new TextEncoder().encode('VALID') } }),
    node('range', 'RequantizationRange', ['conv', 'conv:1', 'conv:2']),
    node('req', 'Requantize', ['conv', 'conv:1', 'conv:2', 'range', 'range:1']),
    node('deq', 'Dequantize', ['req', 'req:1', 'req:2']),
    node('y', 'Relu', ['deq']),
  ];
}

function errorOf(f: () => unknown): AtelierError | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof AtelierError) return e;
    throw e;
  }
  return undefined;
}

describe('GraphDef reader and importer', () => {
  it('reads the eight-bit conv pattern as a float conv with dequantised weights', async () => {
    const tf = parseGraphDef(encode(eightBitConv()), 'conv.pb');
    const imp = importGraphDef(tf, { outputs: ['y'] });
    expect(imp.inputs).toEqual([{ name: 'x', shape: [1, 1, 2, 2], nchw: true }]);
    const r = await compile(imp.graph, { threads: 1 });
    const y = (await r.run({ x: { data: Float32Array.from([0.1, 0.2, 0.3, 0.4]), shape: [1, 1, 2, 2] } })).y!;
    expect(y.shape).toEqual([1, 2, 2, 2]);
    // step 2/255, zero's code round(1/step) = 128: w0 = (0 − 128)·step, w1 = (255 − 128)·step.
    const step = 2 / 255;
    const want = [0.1, 0.2, 0.3, 0.4].map((x) => Math.max(0, x * -128 * step)).concat([0.1, 0.2, 0.3, 0.4].map((x) => x * 127 * step));
    Array.from(y.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 6));
  });

  it('refuses quantised weights with an empty range (a zero scale)', () => {
    const err = errorOf(() => importGraphDef(parseGraphDef(encode(eightBitConv(0.5, 0.5)), 'zero.pb'), { outputs: ['y'] }));
    expect(err?.code).toBe('E_WEIGHTS_CORRUPT');
    expect(err?.message).toMatch(/min 0.5, max 0.5/);
  });

  it('refuses an unknown operator by name and node', () => {
    const nodes = eightBitConv();
    nodes[nodes.length - 1] = node('y', 'Cumsum', ['deq', 'xmin']);
    const err = errorOf(() => importGraphDef(parseGraphDef(encode(nodes), 'cumsum.pb'), { outputs: ['y'] }));
    expect(err?.code).toBe('E_WEIGHTS_CORRUPT');
    expect(err?.message).toMatch(/node "y" is a Cumsum/);
  });

  it('refuses a graph with a cycle', () => {
    const nodes = [node('x', 'Placeholder', [], { shape: { shape: shape([1, 2, 2, 1]) } }), node('a', 'Add', ['x', 'b']), node('b', 'Relu', ['a'])];
    const err = errorOf(() => importGraphDef(parseGraphDef(encode(nodes), 'cycle.pb'), { outputs: ['b'] }));
    expect(err?.code).toBe('E_WEIGHTS_CORRUPT');
    expect(err?.message).toMatch(/cycle/);
    expect(err?.message).toMatch(/node "b" \(Relu\) → node "a" \(Add\) → node "b" \(Relu\)/);
  });

  it('refuses inputs naming nodes that do not exist', () => {
    const err = errorOf(() => parseGraphDef(encode([node('a', 'Relu', ['ghost'])]), 'ghost.pb'));
    expect(err?.code).toBe('E_WEIGHTS_CORRUPT');
    expect(err?.message).toMatch(/ghost/);
  });

  it('refuses a TFLite file named .pb, and every truncation of a small graph', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pb-'));
    const file = path.join(dir, 'model.pb');
    writeFileSync(file, writeTflite({ opcodes: [], buffers: [new Uint8Array(0), f32bytes([1])], tensors: [], inputs: [], outputs: [], operators: [] }));
    const err = await readGraphDef(file).catch((e: AtelierError) => e);
    expect((err as AtelierError).code).toBe('E_WEIGHTS_CORRUPT');
    expect((err as AtelierError).message).toMatch(/TensorFlow Lite model, not a frozen graph/);
    const bytes = encode(eightBitConv());
    for (let n = 1; n < bytes.length; n += 2) {
      const e = errorOf(() => importGraphDef(parseGraphDef(bytes.slice(0, n), 'cut.pb'), { outputs: ['y'] }));
      // A protobuf cut between two whole fields is a shorter, valid message: it must then miss nodes.
      expect(e?.code, `cut at ${n}`).toMatch(/E_WEIGHTS_CORRUPT|E_PARAM/);
    }
  });
});

describe.skipIf(sharedMissing)('GraphDef reader on the published multi-style network', () => {
  const file = path.join(SHARED_WEIGHTS, 'magenta-multistyle/stylize_quantized.pb');
  it('reads its 1464 nodes and rebuilds the transformer with 18 dequantised convolutions', async () => {
    const tf = await readGraphDef(file);
    expect(tf.nodes.length).toBe(1464);
    const imp = importGraphDef(tf, { outputs: ['transformer/expand/conv3/conv/Sigmoid'], inputShapes: { input: [1, 64, 64, 3] } });
    expect(imp.graph.params.length).toBe(18);
    expect(imp.inputs.map((i) => i.name).sort()).toEqual(['input', 'style_num']);
  });
  it('refuses it truncated or with flipped bytes in its structure', () => {
    const bytes = new Uint8Array(readFileSync(file));
    for (const n of [3, 1000, bytes.length / 2, bytes.length - 7]) {
      const e = errorOf(() => importGraphDef(parseGraphDef(bytes.slice(0, Math.floor(n)), 'cut.pb'), { outputs: ['transformer/expand/conv3/conv/Sigmoid'], inputShapes: { input: [1, 64, 64, 3] } }));
      expect(e?.code, `cut at ${n}`).toMatch(/E_WEIGHTS_CORRUPT|E_PARAM/);
    }
  });
});
