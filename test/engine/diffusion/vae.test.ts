import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vae, loadVaeWeights } from '../../../src/engine/diffusion/vae.js';
import { readWeights } from '../../../src/engine/weights/read.js';
import type { TensorMap } from '../../../src/engine/weights/tensor.js';
import { tempDir } from '../../helpers/fixtures.js';
import { relativeMaxDiff, torchPython } from '../../helpers/torch-reference.js';

/**
 * The latent-diffusion VAE at a tiny configuration (8 channels, ×1/×2 levels, one block, 4 groups:
 * the same code paths as SD 1.5's 128/×1,2,4,4/2/32 — shortcuts, asymmetric-pad downsampling,
 * nearest upsampling, the middle attention) with seeded random weights from the PyTorch reference
 * (vae_reference.py), saved as an SD single-file checkpoint (first_stage_model., torch.save) and in
 * diffusers' layout with the newer and the older attention names. Encoder mean, log-variance and
 * the decoded image must agree to 1e-4 of their range from every file.
 */

const skip = !torchPython;
if (skip) console.warn('skipping the VAE PyTorch comparison: no python3 with torch (Debian python3-torch)');
const SCRIPT = fileURLToPath(new URL('./vae_reference.py', import.meta.url));
const work = tempDir('atelier-vae-');
afterAll(() => work.cleanup());
const JOB = { seed: 5, size: [24, 16], config: { ch: 8, mult: [1, 2], res: 1, z: 4, groups: 4, eps: 1e-6 }, out: work.dir };

describe.skipIf(skip)('VAE against the PyTorch reference', () => {
  let io: TensorMap;
  beforeAll(async () => {
    writeFileSync(work.file('job.json'), JSON.stringify(JOB));
    const r = spawnSync(torchPython!, [SCRIPT, work.file('job.json')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`vae reference failed: ${r.stderr}`);
    io = await readWeights(work.file('io.safetensors'));
  }, 120_000);

  for (const [file, layout] of [['single-file.ckpt', 'ldm'], ['diffusers.safetensors', 'diffusers'], ['diffusers-old.safetensors', 'diffusers']] as const) {
    it(`${file}: encode and decode agree to 1e-4 of the range`, async () => {
      const weights = loadVaeWeights(await readWeights(work.file(file)), { groups: 4 });
      expect(weights.layout).toBe(layout);
      expect(weights.prefix).toBe(layout === 'ldm' ? 'first_stage_model.' : '');
      expect(weights.config).toMatchObject({ channels: 8, multipliers: [1, 2], resBlocks: 1, latentChannels: 4 });
      const vae = await Vae.create(weights, { threads: 1 });
      const [h, w] = JOB.size as [number, number];
      const enc = await vae.encode(io.get('image')!.data.slice(), w, h);
      expect(enc.shape).toEqual([1, 4, h / 2, w / 2]);
      const decoded = await vae.decode(enc.mean, w / 2, h / 2);
      for (const [name, ours] of [['mean', enc.mean], ['logvar', enc.logvar], ['decoded', decoded]] as const) {
        const { maxDiff, range } = relativeMaxDiff(ours, io.get(name)!.data);
        console.log(`VAE ${file} ${name}: max |ours − torch| ${maxDiff.toExponential(2)} of range ${range.toFixed(3)}`);
        expect(maxDiff, name).toBeLessThanOrEqual(1e-4 * range);
      }
      await vae.release();
    }, 120_000);
  }

  it('refuses a checkpoint missing a tensor, naming it', async () => {
    const all = await readWeights(work.file('diffusers.safetensors'));
    all.delete('decoder.up_blocks.0.upsamplers.0.conv.bias');
    expect(() => loadVaeWeights(all, { groups: 4 })).toThrow(/missing \(decoder\.up_blocks\.0\.upsamplers\.0\.conv\.bias\)/);
  });
});
