import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../../src/core/rng.js';
import { mattingLaplacian } from '../../../src/engine/losses/matting-laplacian.js';
import { CAPVST_CONFIGS, parameterSpecs, revNetLayout } from '../../../src/engine/nets/capvst/architecture.js';
import { randomCapVstWeights } from '../../../src/engine/nets/capvst/state-dict.js';
import { CapVstTrainer, PUBLISHED_LOSS_WEIGHTS, type StepReport, type TrainingSample } from '../../../src/train/recipes/capvst-trainer.js';
import { randomVgg19Weights } from '../../../src/engine/nets/vgg19.js';
import { readSafetensors } from '../../../src/engine/weights/safetensors.js';
import { releaseSessions } from '../../../src/engine/runtime.js';
import { tempDir } from '../../helpers/fixtures.js';

// The published network's training graph takes minutes to load into ONNX Runtime; the trainer is
// the same code for any depth, so the default tests train a one-block-per-stage network.
const small = revNetLayout({ ...CAPVST_CONFIGS.photoreal, nBlocks: [1, 1, 1], refineBlocks: 1 });
const S = 32;
const dir = tempDir('atelier-capvst-train-');
afterAll(async () => {
  dir.cleanup();
  await releaseSessions();
});

function sample(): TrainingSample {
  const rng = new Rng(4);
  const content = new Float32Array(3 * S * S);
  const style = new Float32Array(3 * S * S);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const i = y * S + x;
      content[i] = 0.2 + 0.6 * (x / S);
      content[S * S + i] = 0.3 + 0.4 * (y / S);
      content[2 * S * S + i] = y < S / 2 ? 0.8 : 0.2;
      for (let c = 0; c < 3; c++) style[c * S * S + i] = [0.8, 0.4, 0.1][c]! + 0.15 * (rng.next() - 0.5);
    }
  }
  return { content, style, laplacian: mattingLaplacian(content, S, S) };
}

const options = { size: S, lossWeights: PUBLISHED_LOSS_WEIGHTS.photoreal, learningRate: 1e-4, threads: 2 };
const vgg = randomVgg19Weights('normalised', 3, 'relu4_1');

describe('CapVstTrainer', () => {
  it('computes the gradient of its objective (directional finite difference)', async () => {
    const trainer = await CapVstTrainer.create(randomCapVstWeights(small, 1), vgg, options);
    const prepared = await trainer.prepare(sample());
    // Without the Laplacian's fixed gradient, the objective is exactly style + 10 · reconstruction.
    prepared.feeds.laplacianGrad!.data = new Float32Array(3 * S * S);
    const at = await trainer.gradients(prepared);
    const norm = Math.sqrt(at.gradient.reduce((a, g) => a + g * g, 0));
    const objective = (r: { style: number; reconstruction: number }) => r.style + 10 * r.reconstruction;
    const eps = 1e-4;
    const base = trainer.params.slice();
    const shifted = async (sign: number) => {
      for (let i = 0; i < base.length; i++) trainer.params[i] = base[i]! + (sign * eps * at.gradient[i]!) / norm;
      return objective(await trainer.gradients(prepared));
    };
    const slope = ((await shifted(1)) - (await shifted(-1))) / (2 * eps);
    trainer.params.set(base);
    expect(slope / norm).toBeGreaterThan(0.9);
    expect(slope / norm).toBeLessThan(1.1);
  });

  it('steps with finite losses, a decaying learning rate, and saves and resumes exactly', async () => {
    const data = sample();
    const trainer = await CapVstTrainer.create(randomCapVstWeights(small, 1), vgg, options);
    const reports: StepReport[] = [];
    for (let i = 0; i < 2; i++) reports.push(await trainer.step(data));
    for (const r of reports) for (const v of Object.values(r.losses)) expect(Number.isFinite(v)).toBe(true);
    expect(reports[1]!.learningRate).toBeLessThan(reports[0]!.learningRate);

    const file = dir.file('last.safetensors');
    await trainer.save(file);
    const saved = await readSafetensors(file);
    for (const spec of parameterSpecs(small)) {
      expect(saved.get(spec.name)?.shape).toEqual(spec.shape);
      expect(saved.has(`optimizer.m.${spec.name}`)).toBe(true);
    }
    const next = await trainer.step(data);
    const resumed = await CapVstTrainer.create(randomCapVstWeights(small, 99), vgg, options);
    await resumed.resume(file);
    expect(resumed.iteration).toBe(2);
    const again = await resumed.step(data);
    expect(again.losses.style).toBeCloseTo(next.losses.style, 6);
    let diff = 0;
    for (let i = 0; i < trainer.params.length; i++) diff = Math.max(diff, Math.abs(trainer.params[i]! - resumed.params[i]!));
    expect(diff).toBeLessThan(1e-6);
  });
});
