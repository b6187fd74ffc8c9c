import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { runMethod } from '../../../src/core/stylize.js';
import { readIpAdapterFiles } from '../../../src/engine/diffusion/ip-adapter-files.js';
import { DiffusionPipeline } from '../../../src/engine/diffusion/pipeline.js';
import { randomIpAdapter, tinyImageTowerCheckpoint, tinyIpAdapterCheckpoint, TINY_IMAGE_TOWER } from '../../../src/engine/diffusion/random-ip-adapter.js';
import { TINY_DEADIFF } from '../../../src/engine/diffusion/random-deadiff.js';
import { TINY_SD } from '../../../src/engine/diffusion/random-checkpoint.js';
import { randomDeadiff, randomStableDiffusion, readStableDiffusion, tinyDeadiffCheckpoint } from '../../../src/engine/diffusion/stable-diffusion-files.js';
import { clipImagePixels } from '../../../src/engine/nets/clip/preprocess.js';
import { writeSafetensors } from '../../../src/engine/weights/safetensors.js';
import { img2img } from '../../../src/methods/diffusion/img2img.js';
import { discImage, gradientImage, stripesImage, tempDir } from '../../helpers/fixtures.js';

/**
 * diffusion.img2img with a style image: IP-Adapter injection at style/content strengths and the
 * "Diffusion in Style" noise, through the method pipeline with the tiny random Stable Diffusion and
 * the tiny random adapter (the numerics of the injection are proven against PyTorch in
 * test/engine/diffusion/ip-adapter.test.ts; here: the surface, the files, the refusals).
 */

const work = tempDir('atelier-img2img-ref-');
afterAll(() => work.cleanup());
const quick = { weights: 'random', adapter: 'random', steps: 4, size: 64, denoise: 1 };
const content = gradientImage(48, 40);
const style = stripesImage(40, 40, 6);
const same = (a: { image: { data: Float32Array } }, b: { image: { data: Float32Array } }) => Buffer.from(a.image.data.buffer).equals(Buffer.from(b.image.data.buffer));

async function refusal(run: Promise<unknown>): Promise<AtelierError> {
  const e = await run.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(AtelierError);
  return e as AtelierError;
}

describe('diffusion.img2img with a style image', () => {
  it('injects the reference (the result changes with it and with its strengths), deterministically', async () => {
    const plain = await runMethod(img2img, { content }, { ...quick, seed: 2 });
    const a = await runMethod(img2img, { content, style }, { ...quick, seed: 2 });
    const b = await runMethod(img2img, { content, style }, { ...quick, seed: 2 });
    const content1 = await runMethod(img2img, { content, style }, { ...quick, seed: 2, styleStrength: 0, contentStrength: 1 });
    const other = await runMethod(img2img, { content, style: discImage(40, 40, 12) }, { ...quick, seed: 2 });
    expect(same(a, b)).toBe(true);
    expect(same(a, plain)).toBe(false);
    expect(same(a, content1)).toBe(false);
    expect(same(a, other)).toBe(false);
    expect(a.meta).toMatchObject({ reference: 'random, style 1, content 0' });
  });

  it('style noise ("Diffusion in Style") changes the start, deterministically; it needs a style image', async () => {
    const base = { ...quick, seed: 5, styleStrength: 0 };
    const noised = await runMethod(img2img, { content, style }, { ...base, styleNoise: true });
    const again = await runMethod(img2img, { content, style }, { ...base, styleNoise: true });
    const white = await runMethod(img2img, { content, style }, base);
    expect(same(noised, again)).toBe(true);
    expect(same(noised, white)).toBe(false);
    expect(noised.meta).toMatchObject({ noise: 'style (Diffusion in Style)' });
    const e = await refusal(runMethod(img2img, { content }, { ...quick, styleNoise: true }));
    expect(e.code).toBe('E_INPUT_MISSING');
  });

  it('refuses NaN and out-of-range strengths with E_PARAM naming the range', async () => {
    for (const [key, value] of [['styleStrength', Number.NaN], ['contentStrength', 3], ['styleStrength', -0.5]] as const) {
      const e = await refusal(runMethod(img2img, { content, style }, { ...quick, [key]: value }));
      expect(e.code).toBe('E_PARAM');
      expect(e.message).toMatch(new RegExp(key));
      if (!Number.isNaN(value)) expect(e.message).toMatch(/[02]/);
    }
  });

  it("refuses 'installed' when ip-adapter-sd15 is not installed, naming the pull command", async () => {
    const before = process.env.ATELIER_HOME;
    process.env.ATELIER_HOME = work.file('home');
    try {
      const e = await refusal(runMethod(img2img, { content, style }, { weights: 'random', steps: 2, size: 64, adapter: 'installed' }));
      expect(e.code).toBe('E_WEIGHTS_MISSING');
      expect(e.message).toMatch(/atelier models pull ip-adapter-sd15/);
      // without a style image the adapter is not needed
      await runMethod(img2img, { content }, { weights: 'random', steps: 2, size: 64, adapter: 'installed' });
    } finally {
      if (before === undefined) delete process.env.ATELIER_HOME;
      else process.env.ATELIER_HOME = before;
    }
  });

  it('reads the published folder layout (adapter + image_encoder/ with config.json) as the same adapter', async () => {
    const sd = randomStableDiffusion(7);
    const dir = work.file('models');
    mkdirSync(`${dir}/image_encoder`, { recursive: true });
    await writeSafetensors(`${dir}/ip-adapter_sd15.safetensors`, tinyIpAdapterCheckpoint(8, sd.unet.config).values());
    await writeSafetensors(`${dir}/image_encoder/model.safetensors`, tinyImageTowerCheckpoint(9).values());
    writeFileSync(`${dir}/image_encoder/config.json`, JSON.stringify({ hidden_act: 'gelu', num_attention_heads: TINY_IMAGE_TOWER.heads, projection_dim: TINY_IMAGE_TOWER.embed }));
    const fromFiles = await readIpAdapterFiles(`${dir}/ip-adapter_sd15.safetensors`, sd.unet.config);
    expect(fromFiles.encoder.config).toMatchObject({ heads: 2, activation: 'gelu', embedDim: 24 });
    const options = { prompt: 'the oil painting', steps: 2, guidance: 5, sampler: 'ddim' as const, seed: 1, width: 8, height: 12 };
    const [p1, p2] = await Promise.all([
      DiffusionPipeline.create({ ...sd, reference: randomIpAdapter(8, sd.unet.config) }, { threads: 1 }),
      DiffusionPipeline.create({ ...sd, reference: fromFiles }, { threads: 1 }),
    ]);
    const reference = { pixels: clipImagePixels(style, TINY_IMAGE_TOWER.image), strengths: { style: 1, content: 0.5 } };
    const [x1, x2] = await Promise.all([p1.generate({ ...options, reference }), p2.generate({ ...options, reference })]);
    expect(Array.from(x2)).toEqual(Array.from(x1));
    // strengths 0: the pipeline with the adapter gives the plain pipeline's picture
    const p0 = await DiffusionPipeline.create(sd, { threads: 1 });
    const zero = await p2.generate({ ...options, reference: { ...reference, strengths: { style: 0, content: 0 } } });
    const plain = await p0.generate(options);
    const diff = Math.max(...Array.from(zero, (v, i) => Math.abs(v - plain[i]!)));
    expect(diff).toBeLessThanOrEqual(1e-5);
    await Promise.all([p0.release(), p1.release(), p2.release()]);
  });

  it('refuses an adapter without image_encoder/ beside it, or one for another UNet', async () => {
    const sd = randomStableDiffusion(7);
    const dir = work.file('lonely');
    mkdirSync(dir);
    await writeSafetensors(`${dir}/ip.safetensors`, tinyIpAdapterCheckpoint(8, sd.unet.config).values());
    let e = await refusal(readIpAdapterFiles(`${dir}/ip.safetensors`, sd.unet.config));
    expect(e.code).toBe('E_FILE_NOT_FOUND');
    expect(e.message).toMatch(/image_encoder/);
    const wider = { ...sd.unet.config, channels: 64 };
    mkdirSync(`${dir}/image_encoder`);
    await writeSafetensors(`${dir}/image_encoder/model.safetensors`, tinyImageTowerCheckpoint(9).values());
    await writeSafetensors(`${dir}/wide.safetensors`, tinyIpAdapterCheckpoint(8, wider).values());
    e = await refusal(readIpAdapterFiles(`${dir}/wide.safetensors`, sd.unet.config));
    expect(e.code).toBe('E_WEIGHTS_INVALID');
    expect(e.message).toMatch(/is \[64, \d+\], expected \[32, \d+\]/);
  });
});

describe('diffusion.img2img with a DEADiff checkpoint and a style image', () => {
  const deadiff = { weights: 'random-deadiff', steps: 2, size: 64, denoise: 1 };

  it("runs the reference through the Q-Formers: it changes the result, per group strength, deterministically; --adapter is not used", async () => {
    const plain = await runMethod(img2img, { content }, { ...deadiff, seed: 3 });
    const a = await runMethod(img2img, { content, style }, { ...deadiff, seed: 3, adapter: 'installed' });
    const b = await runMethod(img2img, { content, style }, { ...deadiff, seed: 3 });
    const contentOnly = await runMethod(img2img, { content, style }, { ...deadiff, seed: 3, styleStrength: 0, contentStrength: 1 });
    expect(same(a, b)).toBe(true);
    expect(same(a, plain)).toBe(false);
    expect(same(a, contentOnly)).toBe(false);
    expect(a.meta).toMatchObject({ reference: "DEADiff's Q-Formers, style 1, content 0", weights: 'random-deadiff' });
  });

  it('reads the single file with tokenizer/ and vocab.txt beside it as the same network as the random one; without vocab.txt it names the pull command', async () => {
    const random = await randomDeadiff(4);
    const dir = work.file('deadiff');
    mkdirSync(`${dir}/tokenizer`, { recursive: true });
    writeFileSync(`${dir}/tokenizer/vocab.json`, JSON.stringify(Object.fromEntries(random.tokenizer.vocabulary())));
    writeFileSync(`${dir}/tokenizer/merges.txt`, '#version: 0.2\nt h\nth e</w>\no i\noi l</w>\np a\npa i\npai n\npain t\npaint i\npainti n\npaintin g</w>\n');
    await writeSafetensors(`${dir}/deadiff.safetensors`, tinyDeadiffCheckpoint(4, random.tokenizer.vocabSize).values());
    const shape = { textHeads: TINY_SD.text.heads, unetHeads: TINY_SD.unet.heads, unetGroups: TINY_SD.unet.groups, vaeGroups: TINY_SD.vae.groups, qformerHeads: 2, qformerVisionHeads: 2 };
    const missing = await refusal(readStableDiffusion(`${dir}/deadiff.safetensors`, shape));
    expect(missing.code).toBe('E_WEIGHTS_MISSING');
    expect(missing.message).toMatch(/vocab\.txt/);
    expect(missing.message).toMatch(/atelier models pull deadiff/);
    writeFileSync(`${dir}/vocab.txt`, `${TINY_DEADIFF.vocabulary.join('\n')}\n`);
    const fromFile = await readStableDiffusion(`${dir}/deadiff.safetensors`, shape);
    expect(fromFile.deadiff?.weights.qformers.content.config).toMatchObject({ queries: 2, layers: 1 });
    const options = { prompt: 'the oil painting', steps: 2, guidance: 5, sampler: 'ddim' as const, seed: 1, width: 8, height: 12 };
    const [p1, p2] = await Promise.all([DiffusionPipeline.create(random, { threads: 1 }), DiffusionPipeline.create(fromFile, { threads: 1 })]);
    expect([p1.injectionKind, p1.referenceSize, p1.referenceFit]).toEqual(['deadiff', TINY_DEADIFF.vision.image, 'stretch']);
    const reference = { pixels: clipImagePixels(style, TINY_DEADIFF.vision.image, 'stretch'), strengths: { style: 1, content: 0.5 } };
    const [x1, x2] = await Promise.all([p1.generate({ ...options, reference }), p2.generate({ ...options, reference })]);
    expect(Array.from(x2)).toEqual(Array.from(x1));
    // strengths 0 are DEADiff's text-only condition: the same as no reference
    const [zero, none] = await Promise.all([p1.generate({ ...options, reference: { ...reference, strengths: { style: 0, content: 0 } } }), p1.generate(options)]);
    expect(Array.from(zero)).toEqual(Array.from(none));
    await Promise.all([p1.release(), p2.release()]);
  });

  it("refuses --weights deadiff when it is not installed, naming the pull command and the licence", async () => {
    const before = process.env.ATELIER_HOME;
    process.env.ATELIER_HOME = work.file('home-deadiff');
    try {
      const e = await refusal(runMethod(img2img, { content, style }, { weights: 'deadiff', steps: 2, size: 64 }));
      expect(e.code).toBe('E_WEIGHTS_MISSING');
      expect(e.message).toMatch(/atelier models pull deadiff/);
      expect(e.message).toMatch(/accept-licence/);
    } finally {
      if (before === undefined) delete process.env.ATELIER_HOME;
      else process.env.ATELIER_HOME = before;
    }
  });
});
