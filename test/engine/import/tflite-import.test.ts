import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { Rng } from '../../../src/core/rng.js';
import { importTflite } from '../../../src/engine/import/tflite-import.js';
import { compile } from '../../../src/engine/runtime.js';
import { parseTflite, readTflite, tfliteTensorValues } from '../../../src/engine/weights/tflite.js';
import { f32bytes, i32bytes, i8bytes, writeTflite, type ModelSpec } from '../../helpers/tflite-writer.js';
import { SHARED_WEIGHTS, sharedMissing } from './shared.js';

/** TFLite reading and import on small synthetic files (written with flatbuffers' Builder) and bad input. */

const CONV_2D = 3;
const ADD = 0;
const SIN = 66;

/** x [1,2,2,2] NHWC → 1×1 conv, int8 per-channel weights → + 1 → y. */
function convModel(scale = [0.5, 0.25]): ModelSpec {
  return {
    opcodes: [CONV_2D, ADD],
    buffers: [new Uint8Array(0), i8bytes([2, 4, -8, 6]), i32bytes([0, 0]), f32bytes([1])],
    tensors: [
      { name: 'x', shape: [1, 2, 2, 2] },
      { name: 'w', shape: [2, 1, 1, 2], type: 9, buffer: 1, scale, zeroPoint: [0, 2], axis: 0 },
      { name: 'b', shape: [2], type: 2, buffer: 2, scale: scale.map((s) => s * 1), axis: 0 },
      { name: 'conv', shape: [1, 2, 2, 2] },
      { name: 'one', shape: [1], buffer: 3 },
      { name: 'y', shape: [1, 2, 2, 2] },
    ],
    inputs: [0],
    outputs: [5],
    operators: [
      { opcode: 0, inputs: [0, 1, 2], outputs: [3], options: [{ id: 0, kind: 'int8', value: 1 }, { id: 1, kind: 'int32', value: 1 }, { id: 2, kind: 'int32', value: 1 }] },
      { opcode: 1, inputs: [3, 4], outputs: [5] },
    ],
  };
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof AtelierError) return e.code;
    return `not an AtelierError: ${(e as Error).stack}`;
  }
  return 'no error';
}

describe('TFLite reader', () => {
  it('dequantises int8 per channel: real = scale[c]·(q − zero point[c])', () => {
    const m = parseTflite(writeTflite(convModel()), 'conv.tflite');
    const w = m.subgraphs[0]!.tensors[1]!;
    expect(w.quantization).toEqual({ scale: [0.5, 0.25], zeroPoint: [0, 2], axis: 0 });
    expect(Array.from(tfliteTensorValues(m, w))).toEqual([1, 2, -2.5, 1]);
  });

  it('rebuilds the graph with NHWC in and out handled at the boundary', async () => {
    const imp = importTflite(parseTflite(writeTflite(convModel()), 'conv.tflite'));
    expect(imp.inputs).toEqual([{ name: 'x', shape: [1, 2, 2, 2], nchw: true }]);
    const r = await compile(imp.graph, { threads: 1 });
    // NCHW input: channel 0 = [1,2,3,4], channel 1 = [10,20,30,40].
    const x = Float32Array.from([1, 2, 3, 4, 10, 20, 30, 40]);
    const y = (await r.run({ x: { data: x, shape: [1, 2, 2, 2] } })).y!.data as Float32Array;
    // out c0 = 1·x0 + 2·x1 + 1; out c1 = −2.5·x0 + 1·x1 + 1.
    const want = [0, 1, 2, 3].map((i) => x[i]! + 2 * x[4 + i]! + 1).concat([0, 1, 2, 3].map((i) => -2.5 * x[i]! + x[4 + i]! + 1));
    expect(Array.from(y)).toEqual(want);
  });

  it('refuses a quantised tensor with a zero scale', async () => {
    const m = parseTflite(writeTflite(convModel([0.5, 0])), 'zero.tflite');
    const err = (() => {
      try {
        importTflite(m);
      } catch (e) {
        return e as AtelierError;
      }
    })();
    expect(err?.code).toBe('E_WEIGHTS_CORRUPT');
    expect(err?.message).toMatch(/scale\[1\] = 0/);
  });

  it('refuses an unknown operator by name and position, never skipping it', () => {
    const spec = convModel();
    spec.opcodes[1] = SIN;
    const err = (() => {
      try {
        importTflite(parseTflite(writeTflite(spec), 'sin.tflite'));
      } catch (e) {
        return e as AtelierError;
      }
    })();
    expect(err?.code).toBe('E_WEIGHTS_CORRUPT');
    expect(err?.message).toMatch(/operator 1 is SIN/);
  });

  it('refuses a graph with a cycle, naming the operators on it', () => {
    const spec = convModel();
    // conv reads y (its own descendant) instead of x.
    spec.operators[0]!.inputs = [5, 1, 2];
    const err = (() => {
      try {
        importTflite(parseTflite(writeTflite(spec), 'cycle.tflite'));
      } catch (e) {
        return e as AtelierError;
      }
    })();
    expect(err?.code).toBe('E_WEIGHTS_CORRUPT');
    expect(err?.message).toMatch(/cycle/);
    expect(err?.message).toMatch(/operator 0 \(CONV_2D\) → operator 1 \(ADD\)/);
  });

  it('refuses a file of another format, naming what it found', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tfl-'));
    const file = path.join(dir, 'model.tflite');
    writeFileSync(file, Buffer.from('\x0a\x05input\x12\x0bPlaceholder'));
    const err = await readTflite(file).catch((e: AtelierError) => e);
    expect((err as AtelierError).code).toBe('E_WEIGHTS_CORRUPT');
    expect((err as AtelierError).message).toMatch(/not a TensorFlow Lite model/);
    expect((err as AtelierError).message).toMatch(/TFL3/);
  });

  it('refuses every truncation of a small model with E_WEIGHTS_CORRUPT (never a crash or garbage)', async () => {
    const bytes = writeTflite(convModel());
    for (let n = 0; n < bytes.length; n += 3) {
      const code = await codeOf(() => importTflite(parseTflite(bytes.slice(0, n), 'cut.tflite')));
      expect(code, `cut at ${n} of ${bytes.length}`).toBe('E_WEIGHTS_CORRUPT');
    }
  });

  it('meets random bit flips with a result or an AtelierError, never an exception of another kind', async () => {
    const bytes = writeTflite(convModel());
    const rng = new Rng(5);
    for (let k = 0; k < 400; k++) {
      const flipped = bytes.slice();
      const at = Math.floor(rng.uniform(0, bytes.length));
      flipped[at]! ^= 1 << Math.floor(rng.uniform(0, 8));
      const code = await codeOf(() => importTflite(parseTflite(flipped, 'flip.tflite')));
      expect(['no error', 'E_WEIGHTS_CORRUPT', 'E_PARAM', 'E_ENGINE'], `flip at ${at}: ${code}`).toContain(code);
    }
  });
});

describe.skipIf(sharedMissing)('TFLite reader on the published files', () => {
  it('reads the four Magenta, three cartoon and the AnimeGAN models and imports their graphs', async () => {
    const files = [
      'magenta-arbitrary/style_predict_quantized_256.tflite',
      'magenta-arbitrary/style_transfer_f16_384.tflite',
      'magenta-arbitrary/style_transfer_quantized_384.tflite',
      'magenta-arbitrary/style_transfer_quantized_dynamic.tflite',
      'whitebox-cartoon/whitebox_cartoon_gan_dr.tflite',
      'whitebox-cartoon/whitebox_cartoon_gan_int8.tflite',
      'whitebox-cartoon/whitebox_cartoon_gan_fp16.tflite',
      'animeganv2-hayao/animeganv2_hayao_256x256_integer_quant.tflite',
    ];
    for (const f of files) {
      const m = await readTflite(path.join(SHARED_WEIGHTS, f));
      const imp = importTflite(m);
      expect(imp.outputs.length, f).toBe(1);
      expect(imp.graph.params.length, f).toBeGreaterThan(10);
    }
  });

  it('refuses the truncated predictor with the place it broke', async () => {
    const bytes = readFileSync(path.join(SHARED_WEIGHTS, 'magenta-arbitrary/style_predict_quantized_256.tflite'));
    for (const n of [7, 100, 5000, bytes.length / 2, bytes.length - 100]) {
      const code = await codeOf(() => importTflite(parseTflite(new Uint8Array(bytes.subarray(0, Math.floor(n))), 'cut.tflite')));
      expect(code, `cut at ${n}`).toBe('E_WEIGHTS_CORRUPT');
    }
  });
});
