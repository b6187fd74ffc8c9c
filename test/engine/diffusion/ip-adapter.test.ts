import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { DeadiffExtension, loadDeadiffUnet, planDeadiffUnet } from '../../../src/engine/diffusion/deadiff.js';
import { crossAttentionLayers, layerScales } from '../../../src/engine/diffusion/decoupled-cross-attention.js';
import { IpAdapterExtension, loadIpAdapter, planIpAdapter } from '../../../src/engine/diffusion/ip-adapter.js';
import { latentStatistics, styleNoise } from '../../../src/engine/diffusion/style-noise.js';
import { Unet, loadUnetWeights, planUnetCheckpoint, type UnetWeights } from '../../../src/engine/diffusion/unet.js';
import { readWeights } from '../../../src/engine/weights/read.js';
import type { TensorMap } from '../../../src/engine/weights/tensor.js';
import { loadClipWeights } from '../../../src/engine/nets/clip/checkpoint.js';
import { ClipImageEncoder } from '../../../src/engine/nets/clip/image-encoder.js';
import { tempDir } from '../../helpers/fixtures.js';
import { relativeMaxDiff, torchPython } from '../../helpers/torch-reference.js';
import { fixtureTensorNames } from './fixture-tensor-names.js';

/**
 * IP-Adapter's decoupled cross-attention (Ye et al. 2023) against the PyTorch reference
 * (ip_adapter_reference.py, written from the paper on unet_reference.py's UNet): the tiny UNet of
 * unet.test.ts (7 cross-attention layers at two levels and the middle), an adapter of 3 image
 * tokens from 24-wide embeddings with seeded random weights, saved as IP-Adapter publishes them
 * (.safetensors and the torch.save'd .bin). One UNet step, batch of two (the unconditional row
 * with a zero embedding, as classifier-free guidance runs it), under four strength settings of the
 * style and content groups; strengths 0 must give the plain UNet. Also "Diffusion in Style"'s
 * initial noise, the SD 1.5 name list, and refused files.
 */

const skip = !torchPython;
if (skip) console.warn('skipping the IP-Adapter PyTorch comparison: no python3 with torch (Debian python3-torch)');
const SCRIPT = fileURLToPath(new URL('./ip_adapter_reference.py', import.meta.url));
const work = tempDir('atelier-ip-adapter-');
afterAll(() => work.cleanup());
const CASES = [
  { style: 1, content: 1 },
  { style: 0.8, content: 0 },
  { style: 0, content: 0.6 },
  { style: 0, content: 0 },
];
const JOB = {
  seed: 5,
  batch: 2,
  size: [8, 12],
  length: 5,
  timesteps: [801, 37],
  config: { ch: 32, mult: [1, 2, 2], res: 1, att: [true, true, false], heads: 2, context: 16, groups: 8, in: 4, out: 4 },
  adapter: { embed: 24, tokens: 3 },
  // DEADiff's rule at this size: the deepest attention level's down layer, the middle, one up layer
  content_layers: [1, 2, 3],
  cases: CASES,
  deadiff: { tokens: 3, weight: 0.7 },
  out: work.dir,
};

function expectRefusal(run: () => unknown, code: string, ...patterns: RegExp[]): void {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(AtelierError);
    const err = e as AtelierError;
    expect(err.code).toBe(code);
    const text = err.message;
    for (const p of patterns) expect(text).toMatch(p);
    return;
  }
  throw new Error('expected a refusal');
}

describe('image injection groups', () => {
  it("SD 1.5's 16 cross-attention layers split as DEADiff's released config does (content 4–8)", () => {
    const unet = planUnetCheckpoint(fixtureTensorNames('sd15-unet.ldm.tsv'));
    const layers = crossAttentionLayers(unet.config);
    expect(layers).toHaveLength(16);
    expect(layers.filter((l) => l.group === 'content').map((l) => l.index)).toEqual([4, 5, 6, 7, 8]);
    expect(layers.filter((l) => l.group === 'content').map((l) => l.ldmName.split('.transformer_blocks')[0])).toEqual([
      'input_blocks.7.1',
      'input_blocks.8.1',
      'middle_block.1',
      'output_blocks.3.1',
      'output_blocks.4.1',
    ]);
    // every name is one the UNet has
    const unetNames = new Set(fixtureTensorNames('sd15-unet.ldm.tsv').map((n) => n.name));
    for (const l of layers) expect(unetNames.has(`model.diffusion_model.${l.ldmName}.to_k.weight`)).toBe(true);
  });

  it('refuses non-finite strengths and unknown layers with E_PARAM', () => {
    const unet = planUnetCheckpoint(fixtureTensorNames('sd15-unet.ldm.tsv'));
    const layers = crossAttentionLayers(unet.config);
    expectRefusal(() => layerScales(layers, { style: Number.NaN, content: 0 }), 'E_PARAM', /style strength/);
    expectRefusal(() => layerScales(layers, { style: 1, content: 0, layers: { 16: 1 } }), 'E_PARAM', /0 … 15/);
    expect([...layerScales(layers, { style: 1, content: 0.5, layers: { 0: 0.25 } })].slice(0, 6)).toEqual([0.25, 1, 1, 1, 0.5, 0.5]);
  });
});

describe('IP-Adapter SD 1.5 tensor names', () => {
  it('every name of ip-adapter_sd15 (from IP-Adapter\'s own set_ip_adapter / init_proj) loads into the SD 1.5 UNet, none missing or unused', () => {
    const unet = planUnetCheckpoint(fixtureTensorNames('sd15-unet.ldm.tsv'));
    const infos = fixtureTensorNames('ip-adapter-sd15.tsv');
    expect(infos).toHaveLength(36);
    const plan = planIpAdapter(infos, unet.config);
    expect(plan).toMatchObject({ tokens: 4, embedDim: 1024, contextDim: 768 });
    expect(plan.used.sort()).toEqual(infos.map((i) => i.name).sort());
    expect(plan.layers.map((l) => l.processor)).toEqual([1, 3, 5, 7, 9, 11, 31, 13, 15, 17, 19, 21, 23, 25, 27, 29]);
    expect(plan.layers.map((l) => l.width)).toEqual([320, 320, 640, 640, 1280, 1280, 1280, 1280, 1280, 1280, 640, 640, 640, 320, 320, 320]);
  });

  it('refuses an adapter made for another UNet width, naming the shapes', () => {
    const unet = planUnetCheckpoint(fixtureTensorNames('sd15-unet.ldm.tsv'));
    // an SD 2.x-style adapter: 1024-wide context
    const wide = fixtureTensorNames('ip-adapter-sd15.tsv').map(({ name, shape }) => ({ name, shape: name.startsWith('image_proj.') ? shape.map((d) => (d === 768 ? 1024 : d === 3072 ? 4096 : d)) : shape.map((d, i) => (i === 1 ? 1024 : d)) }));
    expectRefusal(() => planIpAdapter(wide, unet.config), 'E_WEIGHTS_INVALID', /another context width/, /image_proj\.norm\.weight \[1024\]/);
    // layer widths of another UNet (doubled): the mis-shaped names are listed
    const other = fixtureTensorNames('ip-adapter-sd15.tsv').map(({ name, shape }) => ({ name, shape: name.startsWith('ip_adapter.') ? [shape[0]! * 2, shape[1]!] : shape }));
    expectRefusal(() => planIpAdapter(other, unet.config), 'E_WEIGHTS_INVALID', /mis-shaped/, /ip_adapter\.1\.to_k_ip\.weight is \[640, 768\], expected \[320, 768\]/);
    // fewer layers than the UNet (a tiny UNet's adapter): missing names
    expectRefusal(() => planIpAdapter(fixtureTensorNames('ip-adapter-sd15.tsv').filter((n) => !n.name.startsWith('ip_adapter.31.')), unet.config), 'E_WEIGHTS_INVALID', /missing \(ip_adapter\.31\.to_k_ip\.weight/);
    // the "plus" variant and a file of something else
    expectRefusal(() => planIpAdapter([{ name: 'image_proj.latents', shape: [1, 16, 768] }], unet.config), 'E_WEIGHTS_INVALID', /plus/);
    expectRefusal(() => planIpAdapter(fixtureTensorNames('sd15-vae.ldm.tsv'), unet.config), 'E_WEIGHTS_INVALID', /not an IP-Adapter/);
  });
});

describe("DEADiff's UNet half at SD 1.5 size", () => {
  it('plans the UNet with 32 image keys/values over the 16 cross-attention layers, content = layers 4-8', () => {
    const unetNames = fixtureTensorNames('sd15-unet.ldm.tsv');
    const layers = crossAttentionLayers(planUnetCheckpoint(unetNames).config);
    const imageKv = layers.flatMap((l) => ['i_to_k', 'i_to_v'].map((p) => ({ name: `model.diffusion_model.${l.ldmName}.${p}.weight`, shape: [l.width, 768] })));
    const plan = planDeadiffUnet([...unetNames, ...fixtureTensorNames('sd15-vae.ldm.tsv'), ...imageKv]);
    expect(imageKv).toHaveLength(32);
    expect(plan.layers.filter((l) => l.group === 'content').map((l) => l.index)).toEqual([4, 5, 6, 7, 8]);
    expectRefusal(() => planDeadiffUnet([...unetNames, ...imageKv.slice(1)]), 'E_WEIGHTS_INVALID', /input_blocks\.1\.1\.transformer_blocks\.0\.attn2\.i_to_k\.weight missing/);
    expectRefusal(() => planDeadiffUnet(unetNames), 'E_WEIGHTS_INVALID', /not a DEADiff checkpoint/);
  });
});

describe.skipIf(skip)('IP-Adapter against the PyTorch reference', () => {
  let io: TensorMap;
  let unetWeights: UnetWeights;
  beforeAll(async () => {
    writeFileSync(work.file('job.json'), JSON.stringify(JOB));
    const r = spawnSync(torchPython!, [SCRIPT, work.file('job.json')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip-adapter reference failed: ${r.stderr}`);
    io = await readWeights(work.file('io.safetensors'));
    unetWeights = loadUnetWeights(await readWeights(work.file('unet.safetensors')), { heads: 2, groups: 8 });
  }, 120_000);

  const [h, w] = JOB.size as [number, number];
  const run = async (unet: Unet, extra?: Parameters<Unet['predict']>[5]) =>
    unet.predict(io.get('latents')!.data.slice(), h, w, JOB.timesteps, io.get('context')!.data.slice(), extra);

  for (const file of ['ip-adapter.safetensors', 'ip-adapter.bin']) {
    it(`${file}: one UNet step with injection agrees to 1e-4 of the range, per group strength`, async () => {
      const adapter = loadIpAdapter(await readWeights(work.file(file)), unetWeights.config, { subject: file });
      expect(adapter).toMatchObject({ tokens: 3, embedDim: 24, contextDim: 16 });
      expect(adapter.layers.map((l) => l.group)).toEqual(['style', 'content', 'content', 'content', 'style', 'style', 'style']);
      const extension = new IpAdapterExtension(adapter);
      const unet = await Unet.create(unetWeights, { batch: 2, contextLength: JOB.length, threads: 1, extension });
      const embeds = io.get('image_embeds')!.data;
      for (const [i, strengths] of CASES.entries()) {
        const eps = await run(unet, extension.feeds(embeds.slice(), strengths));
        const { maxDiff, range } = relativeMaxDiff(eps, io.get(`eps_case${i}`)!.data);
        console.log(`IP-Adapter ${file} style ${strengths.style} content ${strengths.content}: max |ours − torch| ${maxDiff.toExponential(2)} of range ${range.toFixed(3)}`);
        expect(maxDiff).toBeLessThanOrEqual(1e-4 * range);
      }
      // the injection moves the output: the cases differ from the plain UNet by far more than the tolerance
      const injected = relativeMaxDiff(io.get('eps_case0')!.data, io.get('eps_plain')!.data);
      expect(injected.maxDiff).toBeGreaterThan(1e-2 * injected.range);
      await unet.release();
    }, 120_000);
  }

  it('strengths 0 give the plain UNet (ours without the extension and the reference)', async () => {
    const adapter = loadIpAdapter(await readWeights(work.file('ip-adapter.safetensors')), unetWeights.config);
    const extension = new IpAdapterExtension(adapter);
    const injected = await Unet.create(unetWeights, { batch: 2, contextLength: JOB.length, threads: 1, extension });
    const plain = await Unet.create(unetWeights, { batch: 2, contextLength: JOB.length, threads: 1 });
    const zero = await run(injected, extension.feeds(io.get('image_embeds')!.data.slice(), { style: 0, content: 0 }));
    const ours = await run(plain);
    const reference = io.get('eps_plain')!.data;
    expect(relativeMaxDiff(io.get('eps_case3')!.data, reference).maxDiff).toBe(0);
    const a = relativeMaxDiff(zero, ours);
    expect(a.maxDiff).toBeLessThanOrEqual(1e-6 * a.range);
    const b = relativeMaxDiff(ours, reference);
    expect(b.maxDiff).toBeLessThanOrEqual(1e-4 * b.range);
    await Promise.all([injected.release(), plain.release()]);
  }, 120_000);

  it('"Diffusion in Style" noise: per-channel mean and deviation of the style latent, as the reference', () => {
    const channels = JOB.config.in;
    const noise = styleNoise(io.get('white_noise')!.data, latentStatistics(io.get('style_latent')!.data, channels));
    const { maxDiff, range } = relativeMaxDiff(noise, io.get('style_noise')!.data);
    expect(maxDiff).toBeLessThanOrEqual(1e-5 * range);
  });

  it("DEADiff's UNet half: the UNet with its i_to_k / i_to_v loads, and its joint attention agrees with the reference (given tokens)", async () => {
    const deadiff = loadDeadiffUnet(await readWeights(work.file('deadiff.safetensors')), { heads: 2, groups: 8 });
    expect(deadiff.layers).toHaveLength(7);
    const unet = await Unet.create(deadiff.unet, { batch: 2, contextLength: JOB.length, threads: 1, extension: new DeadiffExtension(deadiff, JOB.deadiff.tokens) });
    const tokens = (name: string) => ({ data: io.get(name)!.data.slice(), shape: [2, JOB.deadiff.tokens, JOB.config.context] });
    const eps = await run(unet, { style_tokens: tokens('style_tokens'), content_tokens: tokens('content_tokens'), image_weight: { data: Float32Array.of(JOB.deadiff.weight), shape: [1] } });
    const { maxDiff, range } = relativeMaxDiff(eps, io.get('eps_deadiff')!.data);
    console.log(`DEADiff joint attention, img_weight ${JOB.deadiff.weight}: max |ours − torch| ${maxDiff.toExponential(2)} of range ${range.toFixed(3)}`);
    expect(maxDiff).toBeLessThanOrEqual(1e-4 * range);
    await unet.release();
  }, 120_000);

  it('refuses a truncated adapter file in both formats, saying where it ends', async () => {
    // the safetensors reader checks every tensor's extent against the file size before reading
    const expected = { 'ip-adapter.safetensors': ['E_WEIGHTS_INVALID', /beyond the end of the file/], 'ip-adapter.bin': ['E_WEIGHTS_CORRUPT', /archive is unreadable/] } as const;
    for (const [file, [code, pattern]] of Object.entries(expected)) {
      const bytes = readFileSync(work.file(file));
      const cut = work.file(`cut-${file}`);
      writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.7)));
      const error = await readWeights(cut).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(AtelierError);
      expect((error as AtelierError).code).toBe(code);
      expect((error as AtelierError).message).toMatch(pattern);
    }
  });
});

/**
 * IP-Adapter's image tower is OpenCLIP's ViT-H/14: exact GELU and 16 heads of 80 (not OpenAI's
 * QuickGELU and width / 64). A tiny tower with both (GELU, 3 heads of 20) against clip_reference.py
 * (torch's nn.GELU and nn.MultiheadAttention), from transformers' layout as h94/IP-Adapter ships it.
 */
describe.skipIf(skip)("IP-Adapter's image tower (exact GELU, heads not 64 wide) against the PyTorch reference", () => {
  it('image embeddings agree to 1e-4 of the range; read with QuickGELU they do not', async () => {
    const job = {
      seed: 13,
      batch: 2,
      embed: 24,
      text: { width: 16, layers: 1, heads: 2, context: 6, vocab: 20 },
      vision: { width: 60, layers: 2, heads: 3, patch: 8, image: 32, act: 'gelu' },
      out: work.file('clip-gelu'),
    };
    writeFileSync(work.file('clip-job.json'), JSON.stringify(job));
    const r = spawnSync(torchPython!, [fileURLToPath(new URL('../nets/clip/clip_reference.py', import.meta.url)), work.file('clip-job.json')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`clip reference failed: ${r.stderr}`);
    const ref = await readWeights(`${job.out}/io.safetensors`);
    const tensors = await readWeights(`${job.out}/transformers.safetensors`);
    const results = [];
    for (const visionActivation of ['gelu', 'quick_gelu'] as const) {
      const vision = loadClipWeights(tensors, { towers: ['vision'], heads: { vision: 3 }, visionActivation }).vision!;
      const encoder = await ClipImageEncoder.create(vision, { batch: 2, threads: 1 });
      const out = await encoder.encode(ref.get('pixels')!.data.slice());
      await encoder.release();
      results.push(relativeMaxDiff(out.embeds!, ref.get('image_embeds')!.data));
    }
    const [gelu, quick] = results as [{ maxDiff: number; range: number }, { maxDiff: number; range: number }];
    console.log(`ViT with exact GELU: max |ours − torch| ${gelu.maxDiff.toExponential(2)} of range ${gelu.range.toFixed(3)}; read with QuickGELU ${quick.maxDiff.toExponential(2)}`);
    expect(gelu.maxDiff).toBeLessThanOrEqual(1e-4 * gelu.range);
    expect(quick.maxDiff).toBeGreaterThan(1e-3 * quick.range);
  }, 120_000);
});
