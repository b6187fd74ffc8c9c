import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDiffusionLora } from '../../src/engine/diffusion/lora-file.js';
import { loadUnetWeights } from '../../src/engine/diffusion/unet.js';
import { readWeights } from '../../src/engine/weights/read.js';
import type { TensorMap } from '../../src/engine/weights/tensor.js';
import { DiffusionLoraTrainer } from '../../src/train/recipes/diffusion-lora-trainer.js';
import { tempDir } from '../helpers/fixtures.js';
import { torchPython } from '../helpers/torch-reference.js';

/**
 * One LoRA training step of the tiny UNet (unet.test.ts' configuration) against PyTorch in float64
 * (lora_reference.py, mode "train"): the noise-prediction loss and the gradient of every down and
 * up of eight attention projections spread over the down path, the middle and the up path, so the
 * backward runs through cross- and self-attention, GEGLU (erf), group and layer norms, SiLU,
 * nearest upsampling and the skip concatenations. Starting ups are non-zero, so both halves of
 * each pair get a gradient.
 */

const skip = !torchPython;
if (skip) console.warn('skipping the diffusion LoRA training-step comparison: no python3 with torch (Debian python3-torch)');
const SCRIPT = fileURLToPath(new URL('../engine/diffusion/lora_reference.py', import.meta.url));
const work = tempDir('atelier-difflora-step-');
afterAll(() => work.cleanup());

const T = (block: string, attn: string, p: string) => `${block}.transformer_blocks.0.${attn}.${p}`;
const JOB = {
  mode: 'train',
  seed: 33,
  batch: 2,
  size: [8, 8],
  length: 5,
  timesteps: [700, 40],
  rank: 3,
  alpha: 2,
  upScale: 0.5,
  config: { ch: 32, mult: [1, 2, 2], res: 1, att: [true, true, false], heads: 2, context: 16, groups: 8, in: 4, out: 4 },
  targets: [
    ...['to_q', 'to_k', 'to_v', 'to_out.0'].map((p) => T('down_blocks.0.attentions.0', 'attn1', p)),
    T('down_blocks.1.attentions.0', 'attn2', 'to_k'),
    T('mid_block.attentions.0', 'attn2', 'to_v'),
    T('up_blocks.1.attentions.1', 'attn2', 'to_q'),
    T('up_blocks.2.attentions.1', 'attn1', 'to_out.0'),
  ],
  out: work.dir,
};

describe.skipIf(skip)('diffusion LoRA training step against PyTorch (float64)', () => {
  let io: TensorMap;
  beforeAll(() => {
    writeFileSync(work.file('job.json'), JSON.stringify(JOB));
    const r = spawnSync(torchPython!, [SCRIPT, work.file('job.json')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`lora training reference failed: ${r.stderr}`);
  }, 120_000);

  it('loss to 1e-4 relative, every gradient within 2e-3 of its tensor\'s largest', async () => {
    io = await readWeights(work.file('train-io.safetensors'));
    const unet = loadUnetWeights(await readWeights(work.file('train-unet.safetensors')), { heads: 2, groups: 8 });
    const lora = await readDiffusionLora(work.file('train-init.safetensors'));
    const init = new Map(JOB.targets.map((path) => {
      const l = lora.layers.find((x) => x.module === path.replace(/\./g, '_'))!;
      expect(l.alpha).toBe(JOB.alpha);
      return [path, { down: l.down, up: l.up }] as const;
    }));
    const [h, w] = JOB.size as [number, number];
    const trainer = await DiffusionLoraTrainer.create(unet, { rank: JOB.rank, alpha: JOB.alpha, targets: JOB.targets, init, height: h, width: w, contextLength: JOB.length, learningRate: 1e-3, threads: 1 });
    expect(trainer.trained).toHaveLength(2 * JOB.targets.length);
    const { loss, gradient } = await trainer.gradient({ noisy: io.get('noisy')!.data, noise: io.get('noise')!.data, timesteps: JOB.timesteps, context: io.get('context')!.data });
    const want = io.get('loss')!.data[0]!;
    console.log(`LoRA step: loss ours ${loss.toFixed(6)}, torch ${want.toFixed(6)}`);
    expect(Math.abs(loss - want)).toBeLessThanOrEqual(1e-4 * want);
    let worst = 0;
    trainer.trained.forEach((t, i) => {
      const ours = gradient.subarray(trainer.offsets[i]!, trainer.offsets[i]! + t.shape.reduce((p, q) => p * q, 1));
      const ref = io.get(`grad.${t.name}`)!.data;
      let largest = 0;
      let diff = 0;
      for (let k = 0; k < ref.length; k++) {
        largest = Math.max(largest, Math.abs(ref[k]!));
        diff = Math.max(diff, Math.abs(ours[k]! - ref[k]!));
      }
      expect(largest, t.name).toBeGreaterThan(0);
      worst = Math.max(worst, diff / largest);
      expect(diff, t.name).toBeLessThanOrEqual(2e-3 * largest);
    });
    console.log(`LoRA step: worst gradient difference ${worst.toExponential(2)} of its tensor's largest`);
    await trainer.release();

    // the frozen UNet fed at run time (how SD 1.5's 3.4 GB train) gives the same step
    const fed = await DiffusionLoraTrainer.create(unet, { rank: JOB.rank, alpha: JOB.alpha, targets: JOB.targets, init, height: h, width: w, contextLength: JOB.length, learningRate: 1e-3, threads: 1, feedWeights: true });
    const again = await fed.gradient({ noisy: io.get('noisy')!.data, noise: io.get('noise')!.data, timesteps: JOB.timesteps, context: io.get('context')!.data });
    await fed.release();
    expect(Math.abs(again.loss - loss)).toBeLessThan(1e-6 * loss);
    let most = 0;
    let largest = 0;
    for (let k = 0; k < gradient.length; k++) {
      most = Math.max(most, Math.abs(again.gradient[k]! - gradient[k]!));
      largest = Math.max(largest, Math.abs(gradient[k]!));
    }
    expect(most).toBeLessThan(1e-5 * largest);
  }, 240_000);
});
