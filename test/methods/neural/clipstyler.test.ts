import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../../src/core/rng.js';
import { cropSampling, samplePerspectiveCrops, type CropGeometry } from '../../../src/engine/augment/perspective-crops.js';
import { grad } from '../../../src/engine/autodiff/grad.js';
import { Graph } from '../../../src/engine/graph/graph.js';
import { textDirection } from '../../../src/engine/losses/clip-directional.js';
import { loadClipWeights, type ClipWeights } from '../../../src/engine/nets/clip/checkpoint.js';
import { IMAGENET_TEMPLATES } from '../../../src/engine/nets/clip/imagenet-templates.js';
import { promptEnsembles } from '../../../src/engine/nets/clip/prompt-ensemble.js';
import { tinyClipTokenizer } from '../../../src/engine/nets/clip/random-checkpoint.js';
import { clipStylerUnetSpecs } from '../../../src/engine/nets/clipstyler-unet.js';
import { Adam } from '../../../src/engine/optim/adam.js';
import { ParameterSet } from '../../../src/engine/optim/parameter-set.js';
import { compile } from '../../../src/engine/runtime.js';
import { readWeights } from '../../../src/engine/weights/read.js';
import type { TensorMap } from '../../../src/engine/weights/tensor.js';
import {
  clipImageEmbedding,
  ClipStylerObjective,
  clipStylerLoss,
  CROP_INDEX,
  CROP_WEIGHT,
  renderClipStyler,
  type ClipStylerLossOptions,
} from '../../../src/methods/neural/clipstyler-objective.js';
import { tempDir } from '../../helpers/fixtures.js';
import { torchPython } from '../../helpers/torch-reference.js';

/**
 * CLIPstyler's objective against a float64 PyTorch reference written from the paper
 * (clipstyler_reference.py): a tiny CLIP with seeded random weights in transformers' layout, a
 * random normalised VGG to conv3_1, the U-Net with PyTorch's own initialisation. Ours (float32,
 * ONNX Runtime, our autodiff) must agree to 1e-4 relative on the text direction, the content's CLIP
 * embedding, the directional and patch losses, their gradients with respect to the output image,
 * and three Adam steps of the network on fixed crops (losses at each step, the trained output).
 */

const skip = !torchPython;
if (skip) console.warn('skipping the CLIPstyler PyTorch comparison: no python3 with torch (Debian python3-torch)');
const SCRIPT = fileURLToPath(new URL('./clipstyler_reference.py', import.meta.url));
const work = tempDir('atelier-clipstyler-');
afterAll(() => work.cleanup());

const H = 32;
const W = 40;
const CROPS = 6;
const CROP = 16;
const STEPS = 3;
/**
 * Adam's step size in the comparison: small, so that the weights whose gradient float32 leaves to
 * chance (see the weight-gradient test) change the losses only at second order, below 1e-4. At the
 * paper's 5e-4 the losses part from float64 after the first update: PyTorch's own float32 output
 * lands 3.7e-2 away after three steps, ours 9.2e-2 (measured).
 */
const LR = 1e-5;
const WEIGHTS = { patch: 9000, dir: 500, content: 150, tv: 2e-3 };
/** The Adam steps' terms (see the reference: the ones whose weight gradients float32 resolves). */
const TRAIN_WEIGHTS = { patch: 9000, dir: 0, content: 0, tv: 2e-3 };
const TEXT = { width: 32, layers: 1, heads: 2, context: 24 };
const VISION = { width: 32, layers: 2, heads: 2, patch: 8, image: 32 };
const TEMPLATES = IMAGENET_TEMPLATES.slice(0, 3);
const PROMPT = 'fire';
const SOURCE = 'a Photo';

const rng = new Rng(5);
const lossCrops = samplePerspectiveCrops(rng, W, H, CROP, CROPS);
const stepCrops = Array.from({ length: STEPS }, () => samplePerspectiveCrops(rng, W, H, CROP, CROPS));
const asJob = (c: CropGeometry) => c.crops.map((k) => ({ ...k, size: c.size }));
const tokenizer = tinyClipTokenizer();
const tokens = (text: string) => TEMPLATES.map((t) => tokenizer.encode(t.replace('{}', text), { contextLength: TEXT.context, pad: 'zero' }));

let io: TensorMap;
let clip: ClipWeights;
let vgg: TensorMap;
let unet: TensorMap;
let tau: number;
let margin: number;
let tauTrain: number;
let trainMargin: number;

beforeAll(async () => {
  if (skip) return;
  const job = {
    seed: 7,
    out: work.file('ref'),
    height: H,
    width: W,
    embed: 16,
    text: { ...TEXT, vocab: tokenizer.vocabSize },
    vision: VISION,
    tokens: { target: tokens(PROMPT), source: tokens(SOURCE) },
    crops: asJob(lossCrops),
    steps: stepCrops.map(asJob),
    weights: WEIGHTS,
    trainWeights: TRAIN_WEIGHTS,
    lr: LR,
  };
  writeFileSync(work.file('job.json'), JSON.stringify(job));
  const r = spawnSync(torchPython!, [SCRIPT, work.file('job.json')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`clipstyler reference failed: ${r.stderr}`);
  ({ tau, margin, tauTrain, trainMargin } = JSON.parse(readFileSync(`${job.out}/result.json`, 'utf8')) as Record<string, number>);
  io = await readWeights(`${job.out}/io.safetensors`);
  clip = loadClipWeights(await readWeights(`${job.out}/clip.safetensors`), { heads: { text: TEXT.heads, vision: VISION.heads } });
  vgg = await readWeights(`${job.out}/vgg.safetensors`);
  unet = await readWeights(`${job.out}/unet.safetensors`);
}, 300_000);

const ref = (name: string) => io.get(name)!.data;
function relative(ours: ArrayLike<number>, theirs: ArrayLike<number>): number {
  expect(ours.length).toBe(theirs.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < theirs.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i]! - theirs[i]!));
    scale = Math.max(scale, Math.abs(theirs[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

async function lossOptions(threshold = tau, weights = WEIGHTS): Promise<ClipStylerLossOptions> {
  const [target, source] = await promptEnsembles(clip.text!, tokenizer, [PROMPT, SOURCE], TEMPLATES, 1);
  return {
    vision: clip.vision!,
    vgg,
    contentTaps: ['conv3_1'],
    source: await clipImageEmbedding(clip.vision!, ref('content').slice(), H, W, 1),
    direction: textDirection(target!, source!),
    crops: CROPS,
    cropSize: CROP,
    threshold,
    weights,
  };
}

describe.skipIf(skip)('CLIPstyler objective against the PyTorch reference', () => {
  it('the crops straddle the threshold well away from float32 noise', () => {
    expect(margin).toBeGreaterThan(1e-4);
    expect(trainMargin).toBeGreaterThan(1e-4);
  });

  it('text direction (prompt ensembles) and the content embedding agree', async () => {
    const o = await lossOptions();
    expect(relative(o.direction, ref('text_direction'))).toBeLessThan(1e-4);
    expect(relative(o.source, ref('source'))).toBeLessThan(1e-4);
  });

  it('directional and patch losses and their gradients with respect to the output agree', { timeout: 120_000 }, async () => {
    const o = await lossOptions();
    const g = new Graph();
    const output = g.input('output', [1, 3, H, W]);
    const terms = clipStylerLoss(g, output, g.constant(ref('content'), [1, 3, H, W]), o);
    for (const name of ['patch', 'dir', 'content', 'tv', 'total'] as const) g.output(name, terms[name]);
    for (const name of ['patch', 'dir', 'total'] as const) g.output(`grad_${name}`, grad(g, g.reshape(terms[name], [1]), [output])[0]!);
    const runner = await compile(g, { threads: 1, cache: false });
    const s = cropSampling(lossCrops, W);
    const out = await runner.run({
      output: { data: ref('output').slice(), shape: [1, 3, H, W] },
      [CROP_INDEX]: { data: s.index, shape: [s.index.length] },
      [CROP_WEIGHT]: { data: s.weight, shape: [4, s.weight.length / 4] },
    });
    await runner.release();
    const theirs = ref('terms');
    (['patch', 'dir', 'content', 'tv', 'total'] as const).forEach((name, i) => {
      expect(relative(out[name]!.data as Float32Array, [theirs[i]!]), name).toBeLessThan(1e-4);
    });
    // The patch loss kept some crops and rejected others: the threshold really acted.
    expect(theirs[0]!).toBeGreaterThan(0);
    for (const name of ['patch', 'dir', 'total']) {
      expect(relative(out[`grad_${name}`]!.data as Float32Array, ref(`grad_${name}`)), `d ${name} / d output`).toBeLessThan(1e-4);
    }
  });

  it("the network's weight gradients (all four terms) agree with float64 as closely as PyTorch's own float32", async () => {
    const params = new ParameterSet(clipStylerUnetSpecs());
    params.load(unet, 'the reference U-Net');
    const objective = await ClipStylerObjective.create(params, ref('content').slice(), H, W, await lossOptions(tauTrain), 1);
    const e = await objective.evaluate(cropSampling(stepCrops[0]!, W), CROPS, CROP);
    await objective.release();
    let largest = 0;
    for (const spec of params.specs) for (const v of ref(`grad64.${spec.name}`)) largest = Math.max(largest, Math.abs(v));
    const report: string[] = [];
    params.specs.forEach((spec, i) => {
      const truth = ref(`grad64.${spec.name}`);
      const ours = e.grad.subarray(params.offsets[i]!, params.offsets[i]! + truth.length);
      let scale = 0;
      for (const v of truth) scale = Math.max(scale, Math.abs(v));
      if (scale < 1e-9 * largest) {
        // Biases of convolutions followed by an instance norm: exactly zero gradient in exact arithmetic.
        let noise = 0;
        for (const v of ours) noise = Math.max(noise, Math.abs(v));
        expect(noise, spec.name).toBeLessThan(1e-5 * largest);
        return;
      }
      const mine = relative(ours, truth);
      const torch32 = relative(ref(`grad32.${spec.name}`), truth);
      report.push(`${spec.name} ${mine.toExponential(1)} (torch f32 ${torch32.toExponential(1)})`);
      expect.soft(mine, spec.name).toBeLessThan(Math.min(5e-2, Math.max(1e-4, 20 * torch32)));
    });
    // The last layers, past every instance norm, are well conditioned: held to 1e-4 outright.
    for (const name of ['conv_fin.weight', 'conv_fin.bias', 'out.skip.weight', 'out.skip.bias']) {
      const i = params.specs.findIndex((sp) => sp.name === name);
      const truth = ref(`grad64.${name}`);
      expect(relative(e.grad.subarray(params.offsets[i]!, params.offsets[i]! + truth.length), truth), name).toBeLessThan(1e-4);
    }
    console.log(`CLIPstyler weight gradients against float64:\n${report.join('\n')}`);
  }, 240_000);

  it('three Adam steps of the U-Net on fixed crops agree (losses at each step to 1e-4; the trained output as float32 allows)', async () => {
    const params = new ParameterSet(clipStylerUnetSpecs());
    params.load(unet, 'the reference U-Net');
    const content = ref('content').slice();
    const objective = await ClipStylerObjective.create(params, content, H, W, await lossOptions(tauTrain, TRAIN_WEIGHTS), 1);
    const adam = new Adam(params.size, { learningRate: LR });
    const history = ref('history');
    const patches: number[] = [];
    for (let step = 0; step < STEPS; step++) {
      const e = await objective.evaluate(cropSampling(stepCrops[step]!, W), CROPS, CROP);
      const theirs = history.subarray(step * 5, step * 5 + 5);
      expect(relative([e.parts.patch!], [theirs[0]! * TRAIN_WEIGHTS.patch]), `step ${step} patch`).toBeLessThan(1e-4);
      expect(relative([e.parts.tv!], [theirs[3]! * TRAIN_WEIGHTS.tv]), `step ${step} tv`).toBeLessThan(1e-4);
      expect(relative([e.loss], [theirs[4]!]), `step ${step} total`).toBeLessThan(1e-4);
      patches.push(e.parts.patch! / TRAIN_WEIGHTS.patch);
      adam.step(params.data, e.grad);
    }
    await objective.release();
    // The patch loss moved over the steps by the reference's amount.
    const change = (h: ArrayLike<number>) => h[h.length - 1]! - h[0]!;
    const theirPatches = Array.from({ length: STEPS }, (_, s) => history[s * 5]!);
    expect(change(theirPatches)).not.toBe(0);
    expect(Math.abs(change(patches) - change(theirPatches))).toBeLessThan(1e-2 * Math.abs(change(theirPatches)));
    // The untrained network's output: the same function of the same weights, to 1e-4.
    const untrained = new ParameterSet(clipStylerUnetSpecs());
    untrained.load(unet, 'the reference U-Net');
    expect(relative(await renderClipStyler(untrained, content, H, W, 1), ref('initial'))).toBeLessThan(1e-4);
    // The trained output is not held to 1e-4, and cannot be in float32: Adam moved every weight by
    // about ±lr, including those whose gradient float32 leaves to chance (they do not move the loss,
    // which agrees above, but they do move pixels). Measured: the steps moved the output by 0.16 of
    // its range, ours lands 7e-3 from the reference's (4 % of the move).
    const moved = relative(ref('initial'), ref('trained'));
    const mine = relative(await renderClipStyler(params, content, H, W, 1), ref('trained'));
    expect(moved).toBeGreaterThan(0.05);
    expect(mine).toBeLessThan(0.1 * moved);
  }, 240_000);
});
