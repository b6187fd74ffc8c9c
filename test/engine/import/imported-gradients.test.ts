import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/core/rng.js';
import { importTflite } from '../../../src/engine/import/tflite-import.js';
import { parseTflite } from '../../../src/engine/weights/tflite.js';
import { f32bytes, i32bytes, writeTflite, type ModelSpec } from '../../helpers/tflite-writer.js';
import { gradientCheck } from '../gradcheck.js';

/**
 * An imported graph is made of the builder's ops, so autodiff (and with it fine-tuning and LoRA)
 * works on it: the gradients of a small TFLite network using the operators of the published
 * stylisers (mirror pad, conv, the instance norm written as MEAN / SQUARED_DIFFERENCE / RSQRT,
 * leaky ReLU, TF1 bilinear resize, strided depthwise conv) against float64 finite differences.
 */

const OP = { ADD: 0, CONV_2D: 3, DEPTHWISE_CONV_2D: 4, MUL: 18, RESIZE_BILINEAR: 23, MEAN: 40, SUB: 41, RSQRT: 76, LEAKY_RELU: 98, SQUARED_DIFFERENCE: 99, MIRROR_PAD: 100 };

function styliserLike(): ModelSpec {
  const rng = new Rng(4);
  const rand = (n: number, s = 0.5) => Array.from({ length: n }, () => rng.uniform(-s, s));
  const codes = Object.values(OP);
  const op = (name: keyof typeof OP) => codes.indexOf(OP[name]);
  return {
    opcodes: codes,
    buffers: [
      new Uint8Array(0),
      i32bytes([0, 0, 1, 1, 1, 1, 0, 0]), // 1 paddings
      f32bytes(rand(3 * 3 * 3 * 2)), // 2 conv filter OHWI [3,3,3,2]
      f32bytes(rand(3, 0.1)), // 3 conv bias
      i32bytes([1, 2]), // 4 axes
      f32bytes([1e-3]), // 5 eps
      i32bytes([8, 8]), // 6 resize size
      f32bytes(rand(9 * 3)), // 7 depthwise filter [1,3,3,3]
      f32bytes(rand(3, 0.1)), // 8 depthwise bias
    ],
    tensors: [
      { name: 'x', shape: [1, 4, 4, 2] }, // 0
      { name: 'pads', shape: [4, 2], type: 2, buffer: 1 }, // 1
      { name: 'padded', shape: [1, 6, 6, 2] }, // 2
      { name: 'w1', shape: [3, 3, 3, 2], buffer: 2 }, // 3
      { name: 'b1', shape: [3], buffer: 3 }, // 4
      { name: 'y1', shape: [1, 4, 4, 3] }, // 5
      { name: 'axes', shape: [2], type: 2, buffer: 4 }, // 6
      { name: 'mean', shape: [1, 1, 1, 3] }, // 7
      { name: 'sq', shape: [1, 4, 4, 3] }, // 8
      { name: 'var', shape: [1, 1, 1, 3] }, // 9
      { name: 'eps', shape: [], buffer: 5 }, // 10
      { name: 'vare', shape: [1, 1, 1, 3] }, // 11
      { name: 'rstd', shape: [1, 1, 1, 3] }, // 12
      { name: 'centred', shape: [1, 4, 4, 3] }, // 13
      { name: 'normed', shape: [1, 4, 4, 3] }, // 14
      { name: 'act', shape: [1, 4, 4, 3] }, // 15
      { name: 'size', shape: [2], type: 2, buffer: 6 }, // 16
      { name: 'up', shape: [1, 8, 8, 3] }, // 17
      { name: 'wd', shape: [1, 3, 3, 3], buffer: 7 }, // 18
      { name: 'bd', shape: [3], buffer: 8 }, // 19
      { name: 'y', shape: [1, 4, 4, 3] }, // 20
    ],
    inputs: [0],
    outputs: [20],
    operators: [
      { opcode: op('MIRROR_PAD'), inputs: [0, 1], outputs: [2], options: [{ id: 0, kind: 'int8', value: 0 }] },
      { opcode: op('CONV_2D'), inputs: [2, 3, 4], outputs: [5], options: [{ id: 0, kind: 'int8', value: 1 }, { id: 1, kind: 'int32', value: 1 }, { id: 2, kind: 'int32', value: 1 }] },
      { opcode: op('MEAN'), inputs: [5, 6], outputs: [7], options: [{ id: 0, kind: 'int8', value: 1 }] },
      { opcode: op('SQUARED_DIFFERENCE'), inputs: [5, 7], outputs: [8] },
      { opcode: op('MEAN'), inputs: [8, 6], outputs: [9], options: [{ id: 0, kind: 'int8', value: 1 }] },
      { opcode: op('ADD'), inputs: [9, 10], outputs: [11] },
      { opcode: op('RSQRT'), inputs: [11], outputs: [12] },
      { opcode: op('SUB'), inputs: [5, 7], outputs: [13] },
      { opcode: op('MUL'), inputs: [13, 12], outputs: [14] },
      { opcode: op('LEAKY_RELU'), inputs: [14], outputs: [15], options: [{ id: 0, kind: 'float32', value: 0.2 }] },
      { opcode: op('RESIZE_BILINEAR'), inputs: [15, 16], outputs: [17] },
      { opcode: op('DEPTHWISE_CONV_2D'), inputs: [17, 18, 19], outputs: [20], options: [{ id: 0, kind: 'int8', value: 0 }, { id: 1, kind: 'int32', value: 2 }, { id: 2, kind: 'int32', value: 2 }, { id: 3, kind: 'int32', value: 1 }] },
    ],
  };
}

describe('autodiff through an imported TFLite graph', () => {
  it('matches float64 finite differences for the input and every weight', async () => {
    const model = parseTflite(writeTflite(styliserLike()), 'styliser-like.tflite');
    const result = await gradientCheck(
      (g) => {
        const imp = importTflite(model, { graph: g });
        return g.outputs.get(imp.outputs[0]!.name)!;
      },
      { x: [1, 2, 4, 4] },
    );
    expect(Object.keys(result.perTensor).sort()).toEqual(['b1', 'bd', 'w1', 'wd', 'x']);
    console.log('worst relative gradient error', result.worst.toExponential(2), JSON.stringify(result.perTensor));
    expect(result.worst).toBeLessThan(2e-3);
  });
});

describe('norm statistics captured and fed back', () => {
  it('a graph fed the statistics it captured computes what the published graph computes', async () => {
    const { compile } = await import('../../../src/engine/runtime.js');
    const model = parseTflite(writeTflite(styliserLike()), 'styliser-like.tflite');
    const own = importTflite(model);
    const capture = importTflite(model, { normStatistics: 'capture' });
    const fed = importTflite(model, { normStatistics: 'fed' });
    // The two MEANs over H and W of the instance norm.
    expect(capture.statistics.map((s) => s.shape)).toEqual([
      [1, 3, 1, 1],
      [1, 3, 1, 1],
    ]);
    const rng = new Rng(9);
    const x = { data: Float32Array.from({ length: 32 }, () => rng.uniform(-1, 1)), shape: [1, 2, 4, 4] };
    const y = own.outputs[0]!.name;
    const a = (await (await compile(own.graph, { threads: 1 })).run({ x }))[y]!.data as Float32Array;
    const c = await (await compile(capture.graph, { threads: 1 })).run({ x });
    const feeds: Record<string, { data: Float32Array; shape: number[] }> = { x };
    for (const s of fed.statistics) feeds[s.name] = { data: c[s.name]!.data as Float32Array, shape: s.shape };
    const b = (await (await compile(fed.graph, { threads: 1 })).run(feeds))[y]!.data as Float32Array;
    Array.from(a).forEach((v, i) => expect(b[i]).toBeCloseTo(v, 5));
    // Fed other statistics, the output changes (the inputs are really used).
    feeds[fed.statistics[0]!.name] = { data: new Float32Array(3).fill(5), shape: [1, 3, 1, 1] };
    const d = (await (await compile(fed.graph, { threads: 1 })).run(feeds))[y]!.data as Float32Array;
    expect(Math.max(...Array.from(d, (v, i) => Math.abs(v - a[i]!)))).toBeGreaterThan(0.01);
  });
});
