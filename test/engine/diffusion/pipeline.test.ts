import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { loadClipWeights } from '../../../src/engine/nets/clip/checkpoint.js';
import { ClipTokenizer } from '../../../src/engine/nets/clip/tokenizer.js';
import { DiffusionPipeline } from '../../../src/engine/diffusion/pipeline.js';
import { loadUnetWeights } from '../../../src/engine/diffusion/unet.js';
import { loadVaeWeights } from '../../../src/engine/diffusion/vae.js';
import { readWeights } from '../../../src/engine/weights/read.js';
import { tempDir } from '../../helpers/fixtures.js';
import { relativeMaxDiff, torchPython } from '../../helpers/torch-reference.js';

/**
 * A whole 4-step Stable Diffusion loop at a tiny configuration against the PyTorch reference
 * (pipeline_reference.py, built from the CLIP, UNet, VAE and sampler references): prompt and
 * empty negative prompt through the text tower, classifier-free guidance 7.5, DPM-Solver++(2M) and
 * DDIM, the VAE decoder; and image-to-image at strength 0.5. The weights come as one SD
 * single file (cond_stage_model.transformer. / model.diffusion_model. / first_stage_model.), the
 * token ids from our tokenizer. Every step's latents and the decoded image agree to 1e-4 of range.
 */

const skip = !torchPython;
if (skip) console.warn('skipping the diffusion pipeline PyTorch comparison: no python3 with torch (Debian python3-torch)');
const SCRIPT = fileURLToPath(new URL('./pipeline_reference.py', import.meta.url));
const work = tempDir('atelier-sd-pipeline-');
afterAll(() => work.cleanup());

const MERGES = `"bpe_simple_vocab_16e6.txt#version: 0.2\nc a\nca t</w>\nd o\ndo g</w>\n`;
const LENGTH = 8;

async function reference(job: Record<string, unknown>, dir: string) {
  writeFileSync(`${dir}/job.json`, JSON.stringify({ ...job, out: dir }));
  const r = spawnSync(torchPython!, [SCRIPT, `${dir}/job.json`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pipeline reference failed: ${r.stderr}`);
  return readWeights(`${dir}/io.safetensors`);
}

describe.skipIf(skip)('Stable Diffusion loop against the PyTorch reference', () => {
  const tokenizer = ClipTokenizer.fromOpenAiMerges(MERGES);
  const tokens = ['', 'a cat'].map((t) => tokenizer.encode(t, { contextLength: LENGTH }));
  const base = {
    seed: 21,
    steps: 4,
    guidance: 7.5,
    latent: [4, 6],
    tokens,
    text: { width: 32, layers: 1, heads: 2, context: LENGTH, vocab: tokenizer.vocabSize },
    unet: { ch: 32, mult: [1, 2], res: 1, att: [true, false], heads: 2, context: 32, groups: 8, in: 4, out: 4 },
    vae: { ch: 8, mult: [1, 2], res: 1, z: 4, groups: 4, eps: 1e-6 },
  };

  const cases = [
    { name: 'text-to-image, DPM-Solver++(2M)', sampler: 'dpmpp-2m' as const },
    { name: 'text-to-image, DDIM', sampler: 'ddim' as const },
    { name: 'image-to-image at strength 0.5, DPM-Solver++(2M)', sampler: 'dpmpp-2m' as const, strength: 0.5 },
  ];
  cases.forEach((c, n) => {
    it(`${c.name}: every step and the decoded image agree to 1e-4 of range`, async () => {
      const dir = work.file(`case${n}`);
      const { mkdirSync } = await import('node:fs');
      mkdirSync(dir);
      const io = await reference({ ...base, sampler: c.sampler === 'ddim' ? 'ddim' : 'dpmpp', ...(c.strength && { init: true, strength: c.strength }) }, dir);
      const single = await readWeights(`${dir}/sd-tiny.safetensors`);
      const text = loadClipWeights(single, { towers: ['text'], heads: { text: 2 } });
      expect(text.prefix).toBe('cond_stage_model.transformer.');
      const pipeline = await DiffusionPipeline.create(
        { text: text.text!, unet: loadUnetWeights(single, { heads: 2, groups: 8 }), vae: loadVaeWeights(single, { groups: 4 }), tokenizer },
        { threads: 1 },
      );
      const states: Float32Array[] = [];
      const image = await pipeline.generate({
        prompt: 'a cat',
        steps: 4,
        guidance: 7.5,
        sampler: c.sampler,
        seed: 1,
        width: 12,
        height: 8,
        noise: io.get('noise')!.data,
        ...(c.strength && { init: { image: io.get('image')!.data, strength: c.strength } }),
        onStep: (_s, _t, latents) => states.push(latents),
      });
      await pipeline.release();
      expect(states).toHaveLength(c.strength ? 2 : 4);
      states.forEach((x, i) => {
        const { maxDiff, range } = relativeMaxDiff(x, io.get(`latents_${i}`)!.data);
        console.log(`SD ${c.name} step ${i}: max |ours − torch| ${maxDiff.toExponential(2)} of range ${range.toFixed(3)}`);
        expect(maxDiff).toBeLessThanOrEqual(1e-4 * range);
      });
      const { maxDiff, range } = relativeMaxDiff(image, io.get('decoded')!.data);
      console.log(`SD ${c.name} decoded: max |ours − torch| ${maxDiff.toExponential(2)} of range ${range.toFixed(3)}`);
      expect(maxDiff).toBeLessThanOrEqual(1e-4 * range);
    }, 180_000);
  });

  it('cancels between steps with E_ABORTED', async () => {
    const single = await readWeights(`${work.file('case0')}/sd-tiny.safetensors`);
    const pipeline = await DiffusionPipeline.create(
      { text: loadClipWeights(single, { towers: ['text'], heads: { text: 2 } }).text!, unet: loadUnetWeights(single, { heads: 2, groups: 8 }), vae: loadVaeWeights(single, { groups: 4 }), tokenizer },
      { threads: 1 },
    );
    const controller = new AbortController();
    const seen: number[] = [];
    const run = pipeline.generate({ prompt: 'a dog', steps: 4, guidance: 5, sampler: 'ddim', seed: 2, width: 12, height: 8, signal: controller.signal, onStep: (s) => {
      seen.push(s);
      if (s === 2) controller.abort();
    } });
    await expect(run).rejects.toSatisfy((e: unknown) => e instanceof AtelierError && e.code === 'E_ABORTED');
    expect(seen).toEqual([1, 2]);
    await pipeline.release();
  }, 120_000);
});
