import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { readImage } from '../../src/core/io.js';
import { resizeImage } from '../../src/core/resample.js';
import { Graph } from '../../src/engine/graph/graph.js';
import { attr } from '../../src/engine/graph/onnx-model.js';
import { FAST_STYLE_MODELS, fastStyleModel, locateInFolder, readFastStyleWeights, type FastStyleModel } from '../../src/engine/nets/fast-style/models.js';
import { johnsonWeightsFromNcnn } from '../../src/engine/nets/fast-style/ncnn-weights.js';
import { ENGSTROM_NET, PYTORCH_EXAMPLES_NET, transformerNet, transformerNetParamCount, transposedConv2x } from '../../src/engine/nets/transformer-net.js';
import { compile } from '../../src/engine/runtime.js';
import { parseNcnnParam } from '../../src/engine/weights/ncnn.js';
import { tempDir } from '../helpers/fixtures.js';
import { sharedWeights as SHARED_WEIGHTS, torchPython } from '../helpers/torch-reference.js';

const python = torchPython;
const tmp = tempDir('atelier-fst-');
afterAll(() => tmp.cleanup());
const REFERENCE = path.resolve(import.meta.dirname, '../helpers/fast_style_reference.py');

async function ours(model: FastStyleModel, input: Float32Array, h: number, w: number): Promise<Float32Array> {
  const weights = await readFastStyleWeights(model, locateInFolder(SHARED_WEIGHTS!));
  const g = new Graph();
  g.output('y', transformerNet(g, g.input('image', [1, 3, 'H', 'W']), weights, model.spec));
  const r = await (await compile(g, { threads: 2 })).run({ image: { data: input, shape: [1, 3, h, w] } });
  return r.y!.data as Float32Array;
}

/** A dev photo at h × w, planar RGB 0–255 (the networks' input). */
async function photo(h: number, w: number): Promise<Float32Array> {
  const img = resizeImage(await readImage(path.join(SHARED_WEIGHTS!, '../data/dev/content/golden_gate.jpg')), w, h);
  return Float32Array.from(img.data, (v) => v * 255);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

describe('fast-style networks (Johnson et al. 2016) as engine graphs', () => {
  it('have the published parameter counts', () => {
    expect(transformerNetParamCount(PYTORCH_EXAMPLES_NET)).toBe(1_679_235);
    expect(transformerNetParamCount(ENGSTROM_NET)).toBe(1_677_638);
    expect(transformerNetParamCount({ ...PYTORCH_EXAMPLES_NET, width: 16 })).toBe(424_899);
  });

  it("computes TensorFlow's stride-2 'SAME' transposed conv as four phases of a 2×2 conv", async () => {
    // Against ONNX Runtime's own ConvTranspose (pads 0 before, 1 after: output exactly 2H × 2W).
    const [cin, cout, h, w] = [5, 4, 6, 7];
    const rnd = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.37 + s));
    const build = (phases: boolean) => {
      const g = new Graph();
      const x = g.input('x', [1, cin, 'H', 'W']);
      const weight = g.param('w', [cin, cout, 3, 3], rnd(cin * cout * 9, 1));
      const bias = g.param('b', [cout], rnd(cout, 2));
      g.output('y', phases ? transposedConv2x(g, x, weight, bias) : g.onnx('ConvTranspose', [x, weight, bias], [{ shape: [1, cout, 'H2', 'W2'] }], {
        strides: attr.ints([2, 2]), pads: attr.ints([0, 0, 1, 1]), kernel_shape: attr.ints([3, 3]),
      })[0]!);
      return g;
    };
    const feeds = { x: { data: rnd(cin * h * w, 3), shape: [1, cin, h, w] } };
    const [a, b] = await Promise.all([false, true].map(async (p) => (await compile(build(p), { threads: 1 })).run(feeds)));
    expect(b!.y!.shape).toEqual([1, cout, 2 * h, 2 * w]);
    expect(maxAbsDiff(a!.y!.data as Float32Array, b!.y!.data as Float32Array)).toBeLessThan(1e-5);
  });

  it('refuses an ncnn graph that is not the TransformerNet, naming the layer', () => {
    const param = `7767517\n3 3\nInput in 0 1 x\nPadding p 1 1 x y 0=4 1=4 2=4 3=4 4=2\nConvolution c 1 1 y z 0=32 1=9 3=2 5=1 6=7776\n`;
    const model = parseNcnnParam(param, 'odd.param');
    expect(() => johnsonWeightsFromNcnn(model, 'odd.param')).toThrow(/16 Convolution layers/);
  });

  describe.skipIf(!SHARED_WEIGHTS)(`on the published weights (${SHARED_WEIGHTS ? 'shared weights present' : '../shared/weights is absent: skipped'})`, () => {
    it('fst-small nc16 from the .model state dict matches ONNX Runtime running the published ONNX export (≤ 0.5 of 255)', async () => {
      const x = await photo(256, 256);
      for (const style of ['candy', 'mosaic', 'rain-princess', 'udnie']) {
        const session = await ort.InferenceSession.create(path.join(SHARED_WEIGHTS!, `fst-small/onnx_models/${style}_nc16_256x256_onnxjs014.onnx`), { intraOpNumThreads: 2 });
        const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', x, [1, 3, 256, 256]) });
        const reference = out[session.outputNames[0]!]!.data as Float32Array;
        const d = maxAbsDiff(reference, await ours(fastStyleModel(`fst-small16-${style}`), x, 256, 256));
        expect(d, style).toBeLessThanOrEqual(0.5);
        await session.release();
      }
    }, 120_000);

    it.skipIf(!python)(`matches an independent PyTorch reference reading the raw files, ≤ 1e-3 of the output range (${python ? 'python3-torch present' : 'python3-torch is absent: skipped'})`, async () => {
      const [h, w] = [128, 160];
      const x = await photo(h, w);
      writeFileSync(tmp.file('in.f32'), x);
      const picked = ['fst-engstrom-la_muse', 'fst-pytorch-candy', 'fst-small16-mosaic', 'fst-small8-candy'];
      for (const name of picked) {
        const m = FAST_STYLE_MODELS.find((x) => x.name === name)!;
        const file = (f: string) => path.join(SHARED_WEIGHTS!, f);
        const [format, weights] =
          m.format === 'deeplearnjs' ? ['engstrom', path.dirname(file(m.files[0]!))] : m.format === 'ncnn' ? ['ncnn', `${file(m.files[0]!)}:${file(m.files[1]!)}`] : ['pth', file(m.files[0]!)];
        const r = spawnSync(python!, [REFERENCE, format!, weights!, tmp.file('in.f32'), String(h), String(w), tmp.file('out.f32'), '--threads', '1'], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        const reference = new Float32Array(readFileSync(tmp.file('out.f32')).buffer.slice(0));
        const range = Math.max(...reference) - Math.min(...reference);
        expect(range, name).toBeGreaterThan(100);
        expect(maxAbsDiff(reference, await ours(m, x, h, w)) / range, name).toBeLessThanOrEqual(1e-3);
      }
    }, 300_000);
  });
});
