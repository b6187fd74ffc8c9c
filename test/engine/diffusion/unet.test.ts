import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Unet, loadUnetWeights } from '../../../src/engine/diffusion/unet.js';
import { readWeights } from '../../../src/engine/weights/read.js';
import type { TensorMap } from '../../../src/engine/weights/tensor.js';
import { tempDir } from '../../helpers/fixtures.js';
import { relativeMaxDiff, torchPython } from '../../helpers/torch-reference.js';

/**
 * One UNet step at a tiny configuration (32 channels, ×1/×2/×2 levels, one block per level,
 * attention at the first two levels and the middle, 2 heads, 16-wide context, 8 groups: the same
 * code paths as SD 1.5 — time embedding, time-shifted residual blocks with shortcuts, spatial
 * transformers with self- and cross-attention and GEGLU, downsampling, skip concatenation,
 * upsampling after a level with and without attention) against the PyTorch reference
 * (unet_reference.py), from a single-file checkpoint (model.diffusion_model.) and from diffusers'
 * unet/ layout. Two latents at two timesteps in one batch.
 */

const skip = !torchPython;
if (skip) console.warn('skipping the UNet PyTorch comparison: no python3 with torch (Debian python3-torch)');
const SCRIPT = fileURLToPath(new URL('./unet_reference.py', import.meta.url));
const work = tempDir('atelier-unet-');
afterAll(() => work.cleanup());
const JOB = {
  seed: 9,
  batch: 2,
  size: [8, 12],
  length: 5,
  timesteps: [801, 37],
  config: { ch: 32, mult: [1, 2, 2], res: 1, att: [true, true, false], heads: 2, context: 16, groups: 8, in: 4, out: 4 },
  out: work.dir,
};

describe.skipIf(skip)('UNet against the PyTorch reference', () => {
  let io: TensorMap;
  beforeAll(async () => {
    writeFileSync(work.file('job.json'), JSON.stringify(JOB));
    const r = spawnSync(torchPython!, [SCRIPT, work.file('job.json')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`unet reference failed: ${r.stderr}`);
    io = await readWeights(work.file('io.safetensors'));
  }, 120_000);

  for (const [file, layout] of [['single-file.safetensors', 'ldm'], ['diffusers.safetensors', 'diffusers']] as const) {
    it(`${file}: one step agrees to 1e-4 of the range`, async () => {
      const weights = loadUnetWeights(await readWeights(work.file(file)), { heads: 2, groups: 8 });
      expect(weights.layout).toBe(layout);
      expect(weights.config).toMatchObject({ channels: 32, multipliers: [1, 2, 2], resBlocks: 1, attentionLevels: [true, true, false], contextDim: 16, depth: 1 });
      const unet = await Unet.create(weights, { batch: 2, contextLength: JOB.length, threads: 1 });
      const [h, w] = JOB.size as [number, number];
      const eps = await unet.predict(io.get('latents')!.data.slice(), h, w, JOB.timesteps, io.get('context')!.data.slice());
      const { maxDiff, range } = relativeMaxDiff(eps, io.get('eps')!.data);
      console.log(`UNet ${file}: max |ours − torch| ${maxDiff.toExponential(2)} of range ${range.toFixed(3)}`);
      expect(maxDiff).toBeLessThanOrEqual(1e-4 * range);
      await unet.release();
    }, 120_000);
  }

  it('gives the same step with the weights fed as inputs (how the 3.4 GB published UNet runs)', async () => {
    const weights = loadUnetWeights(await readWeights(work.file('single-file.safetensors')), { heads: 2, groups: 8 });
    const [h, w] = JOB.size as [number, number];
    const unet = await Unet.create(weights, { batch: 2, contextLength: JOB.length, threads: 1, feedWeights: true });
    const eps = await unet.predict(io.get('latents')!.data.slice(), h, w, JOB.timesteps, io.get('context')!.data.slice());
    const { maxDiff, range } = relativeMaxDiff(eps, io.get('eps')!.data);
    expect(maxDiff).toBeLessThanOrEqual(1e-4 * range);
    await unet.release();
  }, 120_000);
});
