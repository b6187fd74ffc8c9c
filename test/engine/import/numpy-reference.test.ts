import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readImage } from '../../../src/core/io.js';
import { resizeImage } from '../../../src/core/resample.js';
import { importGraphDef } from '../../../src/engine/import/graphdef-import.js';
import { importTflite } from '../../../src/engine/import/tflite-import.js';
import { compile } from '../../../src/engine/runtime.js';
import { readGraphDef } from '../../../src/engine/weights/graphdef.js';
import { readTflite } from '../../../src/engine/weights/tflite.js';
import { exportGraphDef, exportTflite } from './foreign-export.js';
import { SHARED_WEIGHTS, sharedMissing } from './shared.js';

/**
 * The networks no runtime here runs whole (Arm NN's parser lacks MIRROR_PAD; no TensorFlow), each
 * imported into the engine and compared with numpy_interpreter.py, an NHWC numpy reference of the
 * same file's operators written from TensorFlow's op semantics. Inputs are a real photo at each
 * file's own size; the outputs must agree to 2e-3 of their range (float32 against float64).
 */

const SCRIPT = fileURLToPath(new URL('./numpy_interpreter.py', import.meta.url));
const PYTHON = ['/usr/bin/python3', 'python3'].find((exe) => spawnSync(exe, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0);
if (!PYTHON) console.warn('skipping the numpy reference comparisons: no python3 with numpy (Debian python3-numpy)');

const dir = mkdtempSync(path.join(tmpdir(), 'numpy-ref-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function photo(size: number): Promise<{ nchw: Float32Array; nhwc: Float32Array }> {
  const img = resizeImage(await readImage(path.join(SHARED_WEIGHTS, '../data/dev/content/stata.jpg')), size, size);
  const nhwc = new Float32Array(size * size * 3);
  for (let c = 0; c < 3; c++) for (let i = 0; i < size * size; i++) nhwc[i * 3 + c] = img.data[c * size * size + i]!;
  return { nchw: img.data, nhwc };
}

function toNchw(nhwc: Float32Array, h: number, w: number): Float32Array {
  const out = new Float32Array(nhwc.length);
  for (let c = 0; c < 3; c++) for (let i = 0; i < h * w; i++) out[c * h * w + i] = nhwc[i * 3 + c]!;
  return out;
}

function reference(args: string[]): Float32Array {
  execFileSync(PYTHON!, [SCRIPT, path.join(dir, 'g.json'), path.join(dir, 'c.f32'), path.join(dir, 'out.f32'), ...args], { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
  return new Float32Array(new Uint8Array(readFileSync(path.join(dir, 'out.f32'))).buffer);
}

function compare(ours: Float32Array, refNhwc: Float32Array, size: number, range: number): number {
  const ref = toNchw(refNhwc, size, size);
  expect(ref.length).toBe(ours.length);
  let worst = 0;
  for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!));
  expect(worst).toBeLessThan(2e-3 * range);
  return worst;
}

describe.skipIf(sharedMissing || !PYTHON)('imported networks against the numpy reference interpreter', () => {
  it.each([
    ['magenta-arbitrary/style_transfer_f16_384.tflite', 384, 1],
    ['whitebox-cartoon/whitebox_cartoon_gan_fp16.tflite', 224, 2],
    ['animeganv2-hayao/animeganv2_hayao_256x256_integer_quant.tflite', 256, 2],
  ] as const)('%s', async (file, size, range) => {
    const m = await readTflite(path.join(SHARED_WEIGHTS, file));
    const imp = importTflite(m);
    const runner = await compile(imp.graph, { threads: 2 });
    const { nchw, nhwc } = await photo(size);
    // [0, 1] networks take the photo; [-1, 1] networks take it rescaled.
    const scale = (x: Float32Array) => (range === 2 ? Float32Array.from(x, (v) => v * 2 - 1) : x);
    writeFileSync(path.join(dir, 'x.f32'), scale(nhwc));
    const feeds: Record<string, { data: Float32Array; shape: number[] }> = { [imp.inputs[0]!.name]: { data: scale(nchw), shape: imp.inputs[0]!.shape } };
    const args = [`${m.subgraphs[0]!.inputs[0]}=${path.join(dir, 'x.f32')}:1,${size},${size},3`];
    if (imp.inputs.length > 1) {
      // The transfer net's style vector: a fixed pseudo-random 100-d vector in the predictor's range.
      const v = Float32Array.from({ length: 100 }, (_, i) => Math.sin(i * 1.7) * 0.8);
      writeFileSync(path.join(dir, 'v.f32'), v);
      feeds[imp.inputs[1]!.name] = { data: v, shape: imp.inputs[1]!.shape };
      args.push(`${m.subgraphs[0]!.inputs[1]}=${path.join(dir, 'v.f32')}:1,1,1,100`);
    }
    exportTflite(m, path.join(dir, 'g.json'), path.join(dir, 'c.f32'));
    const ours = Object.values(await runner.run(feeds))[0]!.data as Float32Array;
    const worst = compare(ours, reference(args), size, range);
    console.log(`${file}: max |ours − numpy| = ${worst.toExponential(2)} (output range ${range})`);
  }, 300_000);

  it('magenta-multistyle/stylize_quantized.pb (a two-style mix)', async () => {
    const size = 192;
    const tf = await readGraphDef(path.join(SHARED_WEIGHTS, 'magenta-multistyle/stylize_quantized.pb'));
    const output = 'transformer/expand/conv3/conv/Sigmoid';
    const imp = importGraphDef(tf, { outputs: [output], inputShapes: { input: [1, size, size, 3] } });
    const runner = await compile(imp.graph, { threads: 2 });
    const { nchw, nhwc } = await photo(size);
    const style = new Float32Array(26);
    style[3] = 0.3;
    style[17] = 0.7;
    writeFileSync(path.join(dir, 'x.f32'), nhwc);
    writeFileSync(path.join(dir, 's.f32'), style);
    exportGraphDef(tf, [output], path.join(dir, 'g.json'), path.join(dir, 'c.f32'));
    const ours = (await runner.run({ input: { data: nchw, shape: [1, 3, size, size] }, style_num: { data: style, shape: [26] } }))[output]!.data as Float32Array;
    const worst = compare(ours, reference([`input=${path.join(dir, 'x.f32')}:1,${size},${size},3`, `style_num=${path.join(dir, 's.f32')}:26`]), size, 1);
    console.log(`stylize_quantized.pb: max |ours − numpy| = ${worst.toExponential(2)}`);
  }, 300_000);
});
