import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readImage } from '../../../src/core/io.js';
import { resizeImage } from '../../../src/core/resample.js';
import { importTflite } from '../../../src/engine/import/tflite-import.js';
import { compile } from '../../../src/engine/runtime.js';
import { readTflite } from '../../../src/engine/weights/tflite.js';
import { SHARED_WEIGHTS, sharedMissing } from './shared.js';

/**
 * The Magenta style predictor (int8 MobileNetV2, TFLite) imported into the engine against Arm NN's
 * reference backend running the same file (Debian python3-pyarmnn + libarmnn-cpuref-backend22 +
 * libarmnntfliteparser22, installed by scripts/system-deps.sh): the 100-d style vectors of three
 * style images must agree to cosine ≥ 0.999. Arm NN runs the int8 kernels; we run float32 with
 * dequantised weights (and, second, with activations rounded to their int8 grid). Arm NN's reference
 * backend is slow (about 20 s a run on an idle core, a minute under load): the test may take minutes.
 */

const SCRIPT = fileURLToPath(new URL('./armnn_run.py', import.meta.url));
const PYTHON = ['/usr/bin/python3', 'python3'].find((exe) => spawnSync(exe, ['-c', 'import pyarmnn, numpy'], { stdio: 'ignore' }).status === 0);
if (!PYTHON) console.warn('skipping the Arm NN comparison: no python3 with pyarmnn and numpy (install python3-pyarmnn libarmnn-cpuref-backend22 libarmnntfliteparser22; see scripts/system-deps.sh)');
const DATA = path.resolve(SHARED_WEIGHTS, '../data/dev/style');

const STYLES = [path.join(DATA, 'udnie.jpg'), path.join(DATA, 'seaport.jpg'), path.join(SHARED_WEIGHTS, 'magenta-multistyle/thumbnails/style9.jpg')];
const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i]! * b[i]!;
    na += a[i]! ** 2;
    nb += b[i]! ** 2;
  }
  return d / Math.sqrt(na * nb);
};

describe.skipIf(sharedMissing || !PYTHON)('style predictor: engine import vs Arm NN (CpuRef)', () => {
  it('gives the same 100-d style vector (cosine ≥ 0.999) for three style images', async () => {
    const model = path.join(SHARED_WEIGHTS, 'magenta-arbitrary/style_predict_quantized_256.tflite');
    const m = await readTflite(model);
    const float = await compile(importTflite(m).graph, { threads: 2 });
    const rounded = await compile(importTflite(m, { simulateQuantization: true }).graph, { threads: 2 });
    const dir = mkdtempSync(path.join(tmpdir(), 'armnn-'));
    const images = await Promise.all(STYLES.map(async (file) => resizeImage(await readImage(file), 256, 256)));
    const args = images.flatMap((img, k) => {
      const nhwc = new Float32Array(256 * 256 * 3);
      for (let c = 0; c < 3; c++) for (let i = 0; i < 256 * 256; i++) nhwc[i * 3 + c] = img.data[c * 256 * 256 + i]!;
      writeFileSync(path.join(dir, `in${k}.f32`), nhwc);
      return [path.join(dir, `in${k}.f32`), path.join(dir, `out${k}.f32`)];
    });
    execFileSync(PYTHON!, [SCRIPT, model, '256', '256', '3', ...args], { stdio: 'ignore' });
    for (const [k, img] of images.entries()) {
      const name = path.basename(STYLES[k]!);
      const ref = new Float32Array(new Uint8Array(readFileSync(path.join(dir, `out${k}.f32`))).buffer);
      expect(ref.length).toBe(100);
      const feeds = { style_image: { data: img.data, shape: [1, 3, 256, 256] } };
      const ours = (await float.run(feeds))['mobilenet_conv/Conv/BiasAdd']!.data as Float32Array;
      const oursRounded = (await rounded.run(feeds))['mobilenet_conv/Conv/BiasAdd']!.data as Float32Array;
      const [cf, cr] = [cosine(ours, ref), cosine(oursRounded, ref)];
      console.log(`${name}: cosine float ${cf.toFixed(5)}, int8-rounded ${cr.toFixed(5)}`);
      expect(cf, name).toBeGreaterThanOrEqual(0.999);
      expect(cr, name).toBeGreaterThanOrEqual(0.999);
    }
  }, 600_000);
});
