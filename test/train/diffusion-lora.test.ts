import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeImage } from '../../src/core/io.js';
import { Rng } from '../../src/core/rng.js';
import { runMethod } from '../../src/core/stylize.js';
import { readDiffusionLora, readDiffusionLoraStack } from '../../src/engine/diffusion/lora-file.js';
import { mergeDiffusionLoras } from '../../src/engine/diffusion/lora-merge.js';
import { unetAttentionParams } from '../../src/engine/diffusion/lora-modules.js';
import { randomStableDiffusion } from '../../src/engine/diffusion/stable-diffusion-files.js';
import { Unet } from '../../src/engine/diffusion/unet.js';
import { img2img } from '../../src/methods/diffusion/img2img.js';
import { getTrainer, listTrainers, train } from '../../src/train/index.js';
import { DiffusionLoraTrainer } from '../../src/train/recipes/diffusion-lora-trainer.js';
import { gradientImage, meanAbsDiff, noiseImage, stripesImage } from '../helpers/fixtures.js';
import { temporaryHome } from '../helpers/temporary-home.js';

/**
 * `atelier train diffusion-lora` on the tiny random Stable Diffusion (`--base random`: the same
 * code paths as SD 1.5, fast and independent of the published weights): it trains the attention
 * projections' pairs only, writes a kohya-layout file that reads back through the diffusion LoRA
 * reader and changes diffusion.img2img's output, resumes exactly, and its loss falls. The
 * numerics of one step against PyTorch are diffusion-lora-step.test.ts'.
 */

const tmp = temporaryHome('atelier-train-difflora-');

const images = path.join(tmp.dir, 'images');
mkdirSync(images);
await writeImage(stripesImage(40, 32, 5), path.join(images, 'stripes.png'));
await writeImage(noiseImage(32, 32, 3, [0.8, 0.3, 0.2]), path.join(images, 'warm.png'));
writeFileSync(path.join(images, 'warm.txt'), 'the oil painting');
const params = { images, base: 'random', size: 16, rank: 2, lr: 2e-2, eval: 4 };

describe('train diffusion-lora', () => {
  it('is registered on the training floor', () => {
    expect(listTrainers().map((t) => t.id)).toContain('diffusion-lora');
    expect(getTrainer('diffusion-lora').title).toMatch(/Stable Diffusion/);
  });

  it('writes a kohya file of the attention projections that img2img applies, lowers the loss, and resumes exactly', async () => {
    const out = path.join(tmp.dir, 'run');
    const result = await train('diffusion-lora', { out, iterations: 12, params: { ...params, name: 'tiny-style' }, seed: 4, threads: 1 });
    const lora = await readDiffusionLora(result.weights);
    expect(lora.layouts).toEqual(['kohya']);
    const sites = unetAttentionParams(randomStableDiffusion(4).unet);
    expect(lora.layers.map((l) => l.module).sort()).toEqual(sites.map((s) => s.path.replace(/\./g, '_')).sort());
    expect(lora.layers.every((l) => l.rank === 2 && l.alpha === 2 && l.component === 'unet')).toBe(true);
    expect(lora.layers.some((l) => l.up.some((v) => v !== 0))).toBe(true); // up started at zero and moved
    expect(result.usage).toBe('--method diffusion.img2img --weights random --lora tiny-style');
    expect((await readDiffusionLoraStack(['tiny-style:0.5'])).stack[0]!.weight).toBe(0.5); // stored under its name
    const { before, after } = result.validation!;
    console.log(`diffusion LoRA, 12 steps on the tiny random SD: loss on the fixed samples ${before.loss!.toFixed(4)} → ${after.loss!.toFixed(4)}`);
    expect(after.loss!).toBeLessThan(0.97 * before.loss!);

    const split = path.join(tmp.dir, 'split');
    await train('diffusion-lora', { out: split, iterations: 10, params, seed: 4, threads: 1 });
    const resumed = await readDiffusionLora((await train('diffusion-lora', { out: split, iterations: 12, params, seed: 4, threads: 1, resume: true })).weights);
    resumed.layers.forEach((l, i) => {
      const want = lora.layers[i]!;
      expect(l.key).toBe(want.key);
      for (let k = 0; k < l.up.length; k++) expect(l.up[k]).toBeCloseTo(want.up[k]!, 5);
    });

    const content = gradientImage(32, 32);
    const run = (extra: Record<string, unknown> = {}) => runMethod(img2img, { content }, { weights: 'random', steps: 4, size: 64, seed: 4, ...extra });
    const plain = await run();
    const adapted = await run({ lora: ['tiny-style:2'] });
    expect(meanAbsDiff(adapted.image, plain.image)).toBeGreaterThan(1e-3);
  }, 900_000);

  it('the saved file, merged for inference, computes what the training graph computed', async () => {
    const parts = randomStableDiffusion(4);
    const file = path.join(tmp.dir, 'run', 'tiny-style.safetensors');
    const lora = await readDiffusionLora(file);
    const sites = unetAttentionParams(parts.unet);
    const init = new Map(sites.map((s) => {
      const l = lora.layers.find((x) => x.module === s.path.replace(/\./g, '_'))!;
      return [s.path, { down: l.down, up: l.up }] as const;
    }));
    const [h, w, L, D] = [8, 8, parts.text.config.contextLength, parts.text.config.width];
    const rng = new Rng(12);
    const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
    const batch = { noisy: normal(2 * 4 * h * w), noise: normal(2 * 4 * h * w), context: normal(2 * L * D), timesteps: [500, 20] };
    const trainer = await DiffusionLoraTrainer.create(parts.unet, { rank: 2, alpha: 2, targets: sites.map((s) => s.path), init, height: h, width: w, contextLength: L, learningRate: 0, threads: 1 });
    const trained = await trainer.evaluate(batch);
    await trainer.release();
    const mse = async (weight: number) => {
      const merged = mergeDiffusionLoras(parts, [{ lora, weight }]);
      const unet = await Unet.create(merged.unet, { batch: 2, contextLength: L, threads: 1 });
      const eps = await unet.predict(batch.noisy, h, w, batch.timesteps, batch.context);
      await unet.release();
      let s = 0;
      for (let i = 0; i < eps.length; i++) s += (eps[i]! - batch.noise[i]!) ** 2;
      return s / eps.length;
    };
    const [merged, base] = [await mse(1), await mse(0)];
    console.log(`diffusion LoRA: training graph loss ${trained.toFixed(6)}, merged file ${merged.toFixed(6)}, base ${base.toFixed(6)}`);
    expect(Math.abs(merged - trained)).toBeLessThanOrEqual(1e-5 * trained);
    expect(Math.abs(merged - base)).toBeGreaterThan(1e-4 * base);
  }, 300_000);

  it('refuses a size the UNet cannot take and a target it does not have', async () => {
    await expect(train('diffusion-lora', { out: path.join(tmp.dir, 'bad1'), iterations: 1, params: { ...params, size: 18 }, seed: 1, threads: 1 })).rejects.toMatchObject({ code: 'E_PARAM', message: /multiple of 4/ });
    await expect(train('diffusion-lora', { out: path.join(tmp.dir, 'bad2'), iterations: 1, params: { ...params, targets: ['attn3.to_q'] }, seed: 1, threads: 1 })).rejects.toMatchObject({ code: 'E_PARAM', message: /attn3\.to_q/ });
  }, 120_000);
});
