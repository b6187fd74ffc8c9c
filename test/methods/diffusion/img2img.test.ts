import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { Rng } from '../../../src/core/rng.js';
import { runMethod } from '../../../src/core/stylize.js';
import { DiffusionPipeline } from '../../../src/engine/diffusion/pipeline.js';
import { TINY_SD, tinyStableDiffusionCheckpoint } from '../../../src/engine/diffusion/random-checkpoint.js';
import { randomStableDiffusion, readStableDiffusion } from '../../../src/engine/diffusion/stable-diffusion-files.js';
import { writeSafetensors } from '../../../src/engine/weights/safetensors.js';
import { img2img } from '../../../src/methods/diffusion/img2img.js';
import { gradientImage, tempDir } from '../../helpers/fixtures.js';

/**
 * diffusion.img2img through the method pipeline with the tiny random Stable Diffusion (the
 * published weights cannot be downloaded here; their names and the numerics of every part are
 * proven in test/engine/diffusion). A single-file checkpoint with a tokenizer/ folder beside it
 * loads through the same reader users point --weights at, and gives the same picture.
 */

const work = tempDir('atelier-img2img-');
afterAll(() => work.cleanup());
const quick = { weights: 'random', steps: 4, size: 64 };

describe('diffusion.img2img', () => {
  it('runs per step with progress, and is deterministic under a seed', async () => {
    const steps: number[] = [];
    const content = gradientImage(48, 40);
    const a = await runMethod(img2img, { content }, { ...quick, seed: 3 }, { onProgress: (e) => e.type === 'step' && steps.push(e.step) });
    const b = await runMethod(img2img, { content }, { ...quick, seed: 3 });
    const c = await runMethod(img2img, { content }, { ...quick, seed: 4 });
    expect(a.image.width).toBe(48);
    expect(steps.filter((s) => s > 0).at(-1)).toBe(2); // 4 steps × denoise 0.6 → the last 2
    expect(Buffer.from(a.image.data.buffer).equals(Buffer.from(b.image.data.buffer))).toBe(true);
    expect(Buffer.from(a.image.data.buffer).equals(Buffer.from(c.image.data.buffer))).toBe(false);
  });

  it("refuses 'installed' when the model is not installed, naming the command and the licence", async () => {
    const home = work.file('home');
    const before = process.env.ATELIER_HOME;
    process.env.ATELIER_HOME = home;
    try {
      const e = await runMethod(img2img, { content: gradientImage(16, 16) }, { weights: 'installed' }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(AtelierError);
      expect((e as AtelierError).code).toBe('E_WEIGHTS_MISSING');
      expect((e as AtelierError).message).toMatch(/sd15/);
      expect((e as AtelierError).message).toMatch(/accept-licence/);
    } finally {
      if (before === undefined) delete process.env.ATELIER_HOME;
      else process.env.ATELIER_HOME = before;
    }
  });

  it('a single file with tokenizer/ beside it reads as the same network as the random one', async () => {
    const dir = work.file('single');
    mkdirSync(`${dir}/tokenizer`, { recursive: true });
    const random = randomStableDiffusion(7);
    const vocab = Object.fromEntries(random.tokenizer.vocabulary());
    writeFileSync(`${dir}/tokenizer/vocab.json`, JSON.stringify(vocab));
    writeFileSync(`${dir}/tokenizer/merges.txt`, '#version: 0.2\nt h\nth e</w>\no i\noi l</w>\np a\npa i\npai n\npain t\npaint i\npainti n\npaintin g</w>\n');
    await writeSafetensors(`${dir}/sd.safetensors`, tinyStableDiffusionCheckpoint(7, random.tokenizer.vocabSize).values());
    const fromFile = await readStableDiffusion(`${dir}/sd.safetensors`, { textHeads: TINY_SD.text.heads, unetHeads: TINY_SD.unet.heads, unetGroups: TINY_SD.unet.groups, vaeGroups: TINY_SD.vae.groups });
    expect(fromFile.tokenizer.encode('the oil painting', { contextLength: 8 })).toEqual(random.tokenizer.encode('the oil painting', { contextLength: 8 }));
    const options = { prompt: 'the oil painting', steps: 2, guidance: 5, sampler: 'ddim' as const, seed: 1, width: 8, height: 12 };
    const [p1, p2] = await Promise.all([DiffusionPipeline.create(random, { threads: 1 }), DiffusionPipeline.create(fromFile, { threads: 1 })]);
    const [x1, x2] = await Promise.all([p1.generate(options), p2.generate(options)]);
    expect(Array.from(x2)).toEqual(Array.from(x1));
    await Promise.all([p1.release(), p2.release()]);
  });

  it('--lora stacks kohya files with weights: weight 0 changes nothing, a file for another base is refused', async () => {
    const rng = new Rng(5);
    const pair = (key: string, out: number, inn: number, rank: number) => [
      { name: `${key}.lora_down.weight`, shape: [rank, inn], data: Float32Array.from({ length: rank * inn }, () => rng.normal() / Math.sqrt(inn)) },
      { name: `${key}.lora_up.weight`, shape: [out, rank], data: Float32Array.from({ length: out * rank }, () => rng.normal()) },
    ];
    const a = TINY_SD.unet.channels;
    const file = work.file('style.safetensors');
    await writeSafetensors(file, [
      ...pair('lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_v', a, TINY_SD.text.width, 4),
      ...pair('lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_out_0', 2 * a, 2 * a, 4),
      ...pair('lora_te_text_model_encoder_layers_0_self_attn_v_proj', TINY_SD.text.width, TINY_SD.text.width, 2),
    ]);
    const content = gradientImage(32, 32);
    const plain = await runMethod(img2img, { content }, { ...quick, seed: 2 });
    const zero = await runMethod(img2img, { content }, { ...quick, seed: 2, lora: [`${file}:0`] });
    const styled = await runMethod(img2img, { content }, { ...quick, seed: 2, lora: [`${file}:1.5`] });
    expect(Buffer.from(zero.image.data.buffer).equals(Buffer.from(plain.image.data.buffer))).toBe(true);
    let diff = 0;
    for (let i = 0; i < plain.image.data.length; i++) diff = Math.max(diff, Math.abs(plain.image.data[i]! - styled.image.data[i]!));
    expect(diff).toBeGreaterThan(0.01);
    expect(styled.meta?.lora).toEqual([`${file} ×1.5 (3 layers, kohya)`]);
    const sd2 = work.file('sd2.safetensors');
    await writeSafetensors(sd2, pair('lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_v', a, 1024, 4));
    await expect(runMethod(img2img, { content }, { ...quick, lora: [sd2] })).rejects.toMatchObject({ code: 'E_WEIGHTS_INVALID', message: /\[32, 1024\].*\[32, 32\]/ });
  });

  it('refuses a folder that is neither layout, saying what it expected', async () => {
    const dir = work.file('empty');
    mkdirSync(dir);
    await expect(readStableDiffusion(dir)).rejects.toThrow(/text_encoder\/model\.safetensors/);
  });
});
