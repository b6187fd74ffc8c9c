import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../../src/core/rng.js';
import { grad } from '../../../src/engine/autodiff/grad.js';
import { Graph } from '../../../src/engine/graph/graph.js';
import {
  DEFAULT_CONTENT_TAPS,
  DEFAULT_STYLE_TAPS,
  loadPerceptualVgg,
  perceptualLoss,
  styleGramGraph,
  styleGramInput,
  tapChannels,
} from '../../../src/engine/losses/perceptual.js';
import { randomVgg19Weights, vggWeightShapes } from '../../../src/engine/nets/vgg19.js';
import { PYTORCH_EXAMPLES_NET, randomTransformerNetWeights, transformerNetShapes } from '../../../src/engine/nets/transformer-net.js';
import { compile } from '../../../src/engine/runtime.js';
import type { TensorMap } from '../../../src/engine/weights/tensor.js';
import { computeStyleGrams, PerceptualTrainer } from '../../../src/train/recipes/fast-trainer.js';
import { fastNetworkBuilder } from '../../../src/train/recipes/fast.js';
import { Image } from '../../../src/core/image.js';
import { tempDir } from '../../helpers/fixtures.js';
import { installSharedModel, sharedWeightsPresent, TEST_MODEL_HOME } from '../../helpers/shared-models.js';
import { torchPython } from '../../helpers/torch-reference.js';

/**
 * The perceptual losses (content, Gram style, total variation on the normalised VGG-19 to relu3_1)
 * and the fast-network training step built on them, proven three ways: central differences of the
 * float64 reference interpreter (random VGG, tiny image), and PyTorch (Debian's torch, a reference
 * written from the paper in test/helpers/torch_perceptual.py) on the REAL VGG-19 weights: the
 * losses, their gradient with respect to the image, and one whole training step's parameter
 * gradients.
 */

const SCRIPT = fileURLToPath(new URL('../../helpers/torch_perceptual.py', import.meta.url));
const rng = new Rng(7);
const rand = (n: number) => Float32Array.from({ length: n }, () => rng.next());

function torchRun(spec: Record<string, unknown>, dir: string): { losses: Record<string, number>; grads: Float32Array } {
  const specFile = path.join(dir, 'spec.json');
  const out = path.join(dir, 'out');
  writeFileSync(specFile, JSON.stringify({ ...spec, out }));
  const r = spawnSync(torchPython!, [SCRIPT, specFile], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`torch reference failed: ${r.stderr}`);
  const buf = readFileSync(`${out}.f32`);
  return { losses: JSON.parse(readFileSync(`${out}.json`, 'utf8')) as Record<string, number>, grads: new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4) };
}

function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

describe.skipIf(!torchPython || !sharedWeightsPresent)(
  `perceptual losses against PyTorch on the real VGG-19 ${!torchPython ? '(skipped: no python3 with torch)' : !sharedWeightsPresent ? '(skipped: ../shared/weights is absent)' : ''}`,
  () => {
    const work = tempDir('atelier-perceptual-');
    let vgg: TensorMap;
    let vggFile: string;
    beforeAll(async () => {
      const model = await installSharedModel('vgg19-relu3_1');
      vggFile = model.file('vgg_normalised_conv3_1.pth');
      process.env.ATELIER_HOME = TEST_MODEL_HOME;
      vgg = (await loadPerceptualVgg('installed')).weights;
    }, 120_000);
    afterAll(() => {
      delete process.env.ATELIER_HOME;
      work.cleanup();
    });

    const lossWeights = { content: 1, style: 1e4, tv: 10 };
    const styleImage = () => new Image(36, 28, 3, rand(3 * 36 * 28));

    it('losses and their image gradient equal PyTorch', async () => {
      const [B, S] = [2, 32];
      const style = styleImage();
      const [grams] = await computeStyleGrams(vgg, [{ image: style, source: 'noise' }], { taps: DEFAULT_STYLE_TAPS, threads: 1 });
      const g = new Graph();
      const image = g.input('image', [B, 3, S, S]);
      const terms = perceptualLoss(g, image, g.input('content', [B, 3, S, S]), { vgg, contentTaps: DEFAULT_CONTENT_TAPS, styleTaps: DEFAULT_STYLE_TAPS, weights: lossWeights });
      g.output('loss.total', terms.total);
      g.output('loss.style', terms.style);
      g.output('loss.content', terms.content);
      g.output('grad', grad(g, terms.total, [image])[0]!);
      const imageData = rand(B * 3 * S * S);
      const contentData = rand(B * 3 * S * S);
      const feeds: Record<string, { data: Float32Array; shape: number[] }> = { image: { data: imageData, shape: [B, 3, S, S] }, content: { data: contentData, shape: [B, 3, S, S] } };
      for (const t of DEFAULT_STYLE_TAPS) feeds[styleGramInput(t)] = { data: grams!.grams.get(t)!, shape: [1, tapChannels(t), tapChannels(t)] };
      const ours = await (await compile(g, { threads: 1 })).run(feeds);
      writeFileSync(path.join(work.dir, 'image.f32'), imageData);
      writeFileSync(path.join(work.dir, 'content.f32'), contentData);
      writeFileSync(path.join(work.dir, 'style.f32'), style.data);
      const ref = torchRun(
        {
          mode: 'loss-gradient',
          vgg: vggFile,
          style: { file: path.join(work.dir, 'style.f32'), shape: [1, 3, 28, 36] },
          content: { file: path.join(work.dir, 'content.f32'), shape: [B, 3, S, S] },
          image: { file: path.join(work.dir, 'image.f32'), shape: [B, 3, S, S] },
          contentTaps: DEFAULT_CONTENT_TAPS,
          styleTaps: DEFAULT_STYLE_TAPS,
          weights: lossWeights,
          float64: true,
        },
        work.dir,
      );
      const v = (k: string) => (ours[k]!.data as Float32Array)[0]!;
      expect(Math.abs(v('loss.content') - ref.losses.content!) / ref.losses.content!).toBeLessThan(1e-4);
      expect(Math.abs(v('loss.style') - ref.losses.style!) / ref.losses.style!).toBeLessThan(1e-4);
      expect(Math.abs(v('loss.total') - ref.losses.total!) / ref.losses.total!).toBeLessThan(1e-4);
      expect(relativeError(ours.grad!.data as Float32Array, ref.grads)).toBeLessThan(1e-3);
    }, 120_000);

    it("one fast-network training step: losses and every parameter's gradient equal PyTorch, and a finite difference along the gradient agrees", async () => {
      const [B, S] = [2, 32];
      const spec = { ...PYTORCH_EXAMPLES_NET, width: 8 };
      const weights = randomTransformerNetWeights(5, spec);
      const style = styleImage();
      const grams = await computeStyleGrams(vgg, [{ image: style, source: 'noise' }], { taps: DEFAULT_STYLE_TAPS, threads: 1 });
      const trainer = await PerceptualTrainer.create({
        network: fastNetworkBuilder(weights, spec),
        trainable: () => true,
        vgg,
        styleGrams: grams,
        contentTaps: DEFAULT_CONTENT_TAPS,
        styleTaps: DEFAULT_STYLE_TAPS,
        lossWeights,
        size: S,
        batch: B,
        learningRate: 1e-3,
        threads: 1,
      });
      const content = rand(B * 3 * S * S);
      const ours = await trainer.gradient(content, 0);
      // Central difference of the loss along the unit gradient direction d: (L(θ+hd) − L(θ−hd))/2h = |∇L|.
      const theta = trainer.values.slice();
      let norm = 0;
      for (const v of ours.gradient) norm += v * v;
      norm = Math.sqrt(norm);
      const h = 2e-3;
      const lossAt = async (sign: number) => {
        for (let i = 0; i < theta.length; i++) trainer.values[i] = theta[i]! + (sign * h * ours.gradient[i]!) / norm;
        return (await trainer.evaluate(content, 0)).total;
      };
      const directional = ((await lossAt(1)) - (await lossAt(-1))) / (2 * h);
      trainer.values.set(theta);
      trainer.release();
      expect(Math.abs(directional - norm) / norm).toBeLessThan(1e-2);
      const shapes = [...transformerNetShapes(spec)].filter(([n]) => trainer.specs.some((s) => s.name === n));
      const flat = new Float32Array(trainer.values.length);
      let at = 0;
      for (const [n] of shapes) {
        flat.set(weights.get(n)!.data, at);
        at += weights.get(n)!.data.length;
      }
      writeFileSync(path.join(work.dir, 'params.f32'), flat);
      writeFileSync(path.join(work.dir, 'content.f32'), content);
      writeFileSync(path.join(work.dir, 'style.f32'), style.data);
      const ref = torchRun(
        {
          mode: 'step',
          vgg: vggFile,
          style: { file: path.join(work.dir, 'style.f32'), shape: [1, 3, 28, 36] },
          content: { file: path.join(work.dir, 'content.f32'), shape: [B, 3, S, S] },
          params: { file: path.join(work.dir, 'params.f32'), shapes },
          contentTaps: DEFAULT_CONTENT_TAPS,
          styleTaps: DEFAULT_STYLE_TAPS,
          weights: lossWeights,
          float64: true,
        },
        work.dir,
      );
      expect(Math.abs(ours.losses.total - ref.losses.total!) / ref.losses.total!).toBeLessThan(1e-4);
      // Our gradient is in the trainer's parameter order; PyTorch's in `shapes` order: map by name.
      let off = 0;
      const refByName = new Map<string, Float32Array>();
      for (const [n, shape] of shapes) {
        const size = shape.reduce((a, b) => a * b, 1);
        refByName.set(n, ref.grads.subarray(off, off + size));
        off += size;
      }
      // Per tensor, relative to the tensor's own gradient or (for the conv biases before an instance
      // norm, whose true gradient is 0) a thousandth of the whole gradient's RMS per element.
      const rms = norm / Math.sqrt(ours.gradient.length);
      const worst = Math.max(
        ...trainer.specs.map((s, i) => {
          const size = s.shape.reduce((a, b) => a * b, 1);
          const a = ours.gradient.subarray(trainer.offsets[i]!, trainer.offsets[i]! + size);
          const b = refByName.get(s.name)!;
          let diff = 0;
          let ref = 0;
          for (let k = 0; k < size; k++) {
            diff += (a[k]! - b[k]!) ** 2;
            ref += b[k]! ** 2;
          }
          return Math.sqrt(diff) / Math.max(Math.sqrt(ref), 1e-3 * rms * Math.sqrt(size));
        }),
      );
      expect(worst).toBeLessThan(2e-3);
    }, 180_000);
  },
);

describe('perceptual losses: inputs', () => {
  it('style Grams have the shape the loss expects, and a grey style image is taken as RGB', async () => {
    const vgg = randomVgg19Weights('normalised', 1, 'relu3_1');
    const grey = new Image(20, 24, 1, rand(20 * 24));
    const [grams] = await computeStyleGrams(vgg, [{ image: grey, source: 'grey' }], { taps: ["relu1_1", "relu3_1"], threads: 1 });
    expect(grams!.grams.get('relu1_1')!.length).toBe(64 * 64);
    expect(grams!.grams.get('relu3_1')!.length).toBe(256 * 256);
    const g = new Graph();
    styleGramGraph(g, g.input('style', [1, 3, 8, 8]), vgg, ['relu2_1']);
    expect([...g.outputs.keys()]).toEqual(['styleGram.relu2_1']);
    expect(vggWeightShapes('normalised', 'relu3_1').size).toBe(12);
  });

  it('a missing real VGG fails with E_WEIGHTS_MISSING naming the model and the way out', async () => {
    const home = tempDir('atelier-empty-home-');
    process.env.ATELIER_HOME = home.dir;
    try {
      await expect(loadPerceptualVgg('installed')).rejects.toMatchObject({ code: 'E_WEIGHTS_MISSING', message: expect.stringMatching(/vgg19-relu3_1.*--vgg random/s) });
    } finally {
      delete process.env.ATELIER_HOME;
      home.cleanup();
    }
  });
});
