import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { DeadiffExtension, isDeadiffSkipped, loadDeadiff, planDeadiff, type DeadiffWeights } from '../../../src/engine/diffusion/deadiff.js';
import { crossAttentionLayers } from '../../../src/engine/diffusion/decoupled-cross-attention.js';
import { planUnetCheckpoint } from '../../../src/engine/diffusion/unet.js';
import { DeadiffTokenEncoder, type DeadiffTokens } from '../../../src/engine/diffusion/deadiff-tokens.js';
import { Unet } from '../../../src/engine/diffusion/unet.js';
import { WordPieceTokenizer } from '../../../src/engine/nets/blip2/wordpiece-tokenizer.js';
import { normalizeClipPixels } from '../../../src/engine/nets/clip/image-encoder.js';
import { readWeights } from '../../../src/engine/weights/read.js';
import type { TensorMap } from '../../../src/engine/weights/tensor.js';
import { tempDir } from '../../helpers/fixtures.js';
import { relativeMaxDiff, torchPython } from '../../helpers/torch-reference.js';
import { fixtureTensorNames } from './fixture-tensor-names.js';

/**
 * DEADiff's reference-image path (Qi et al. 2024) on a tiny configuration against the PyTorch
 * reference deadiff_reference.py (written from BLIP-2's and BERT's architecture as LAVIS lays it
 * out): a seeded random checkpoint in DEADiff's key layout, saved as its Lightning .ckpt is
 * (`state_dict`, the image towers' Linear/Conv weights in float16 as LAVIS stores them), with two
 * Blip2Qformers (2 BERT layers of width 16 with cross-attention in each, 3 queries, a 2-block ViT of
 * width 20 on 16² images), the two projections and the tiny UNet of ip-adapter.test.ts with
 * i_to_k / i_to_v. The style and content tokens from an image, then one UNet step driven by them
 * (batch [unconditional, prompt], img_weight 0.7), per group setting, must agree to 1e-4 of the range.
 */

const skip = !torchPython;
if (skip) console.warn('skipping the DEADiff PyTorch comparison: no python3 with torch (Debian python3-torch)');
const SCRIPT = fileURLToPath(new URL('./deadiff_reference.py', import.meta.url));
const work = tempDir('atelier-deadiff-');
afterAll(() => work.cleanup());

const CASES = [
  { style: true, content: true },
  { style: true, content: false },
  { style: false, content: true },
];
const JOB = {
  seed: 11,
  size: [8, 12],
  length: 5,
  timesteps: [801, 37],
  config: { ch: 32, mult: [1, 2, 2], res: 1, att: [true, true, false], heads: 2, context: 16, groups: 8, in: 4, out: 4 },
  content_layers: [1, 2, 3],
  vit: { width: 20, heads: 2, patch: 4, image: 16, layers: 2 },
  qformer: { hidden: 16, heads: 2, intermediate: 40, layers: 2, queries: 3, positions: 8 },
  deadiff: { weight: 0.7 },
  vocab: ['[PAD]', '[unused0]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'style', 'content', '##s', 'paint', '##ing', 'a', '!'],
  cases: CASES,
  out: work.dir,
};
const LOAD = { heads: 2, groups: 8, qformer: { heads: 2, visionHeads: 2 } };

describe("DEADiff's published layout (names and shapes from LAVIS's and DEADiff's own modules, fixtures/make_deadiff_names.py)", () => {
  const unetNames = fixtureTensorNames('sd15-unet.ldm.tsv');
  const imageKv = crossAttentionLayers(planUnetCheckpoint(unetNames).config).flatMap((l) => ['i_to_k', 'i_to_v'].map((p) => ({ name: `model.diffusion_model.${l.ldmName}.${p}.weight`, shape: [l.width, 768] })));
  const extras = fixtureTensorNames('deadiff-extras.tsv');
  const all = [...unetNames, ...fixtureTensorNames('sd15-vae.ldm.tsv'), ...imageKv, ...extras];

  it('every name loads, none missing or unused: two Q-Formers of 12 layers, 16 queries, 23-block ViT-L/14, and the projections', () => {
    expect(extras).toHaveLength(1387);
    // each name is in a part the reader accounts for (every tensor of its scope taken or knowingly skipped), or skipped by name
    const scopes = ['style_blip.', 'content_blip.', 'style_proj_layer.', 'content_proj_layer.'];
    expect(extras.filter((t) => !scopes.some((s) => t.name.startsWith(s)) && !isDeadiffSkipped(t.name))).toEqual([]);
    const plan = planDeadiff(all);
    for (const group of ['style', 'content'] as const) {
      const q = plan.qformers[group];
      expect(q.config).toEqual({ hidden: 768, heads: 12, queries: 16, layers: 12, vocabSize: 30523, maxPositions: 512, encoderWidth: 1024 });
      expect(q.layers.every((l) => l.crossAttention !== undefined)).toBe(true);
      expect(q.vision.config).toMatchObject({ width: 1024, layers: 23, heads: 16, patchSize: 14, imageSize: 224 });
      expect(q.vision.postNorm).toBeUndefined();
      expect(plan.projections[group].fc1).toMatchObject({ inFeatures: 768, outFeatures: 3072 });
    }
    expect(plan.layers.filter((l) => l.group === 'content').map((l) => l.index)).toEqual([4, 5, 6, 7, 8]);
  });

  it('a missing, a mis-shaped or an unknown Q-Former tensor is refused by name', () => {
    const without = all.filter((t) => t.name !== 'content_blip.Qformer.bert.encoder.layer.11.output_query.LayerNorm.bias');
    expect(() => planDeadiff(without)).toThrow(/1 missing \(Qformer\.bert\.encoder\.layer\.11\.output_query\.LayerNorm\.bias\)/);
    const misShaped = all.map((t) => (t.name === 'style_blip.ln_vision.weight' ? { ...t, shape: [1408] } : t));
    expect(() => planDeadiff(misShaped)).toThrow(/ln_vision\.weight is \[1408\], expected \[1024\]/);
    expect(() => planDeadiff([...all, { name: 'style_blip.Qformer.bert.pooler.dense.weight', shape: [768, 768] }])).toThrow(/not used by the Q-Former.*pooler/s);
    const noProjection = all.filter((t) => !t.name.startsWith('style_proj_layer.'));
    expect(() => planDeadiff(noProjection)).toThrow(/style projection/);
  });
});

describe.skipIf(skip)('DEADiff from a reference image against the PyTorch reference', () => {
  let io: TensorMap;
  let weights: DeadiffWeights;
  let tokenizer: WordPieceTokenizer;
  let tokens: DeadiffTokens;
  beforeAll(async () => {
    writeFileSync(work.file('job.json'), JSON.stringify(JOB));
    const r = spawnSync(torchPython!, [SCRIPT, work.file('job.json')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`deadiff reference failed: ${r.stderr}`);
    io = await readWeights(work.file('io.safetensors'));
    weights = loadDeadiff(await readWeights(work.file('deadiff.ckpt')), LOAD);
    tokenizer = WordPieceTokenizer.fromFile(work.file('vocab.txt'));
  }, 120_000);

  it('reads both Q-Formers, their 2-block image towers without post-norm, and the projections', () => {
    for (const group of ['style', 'content'] as const) {
      const q = weights.qformers[group];
      expect(q.config).toEqual({ hidden: 16, heads: 2, queries: 3, layers: 2, vocabSize: JOB.vocab.length + 1, maxPositions: 8, encoderWidth: 20 });
      expect(q.vision.config).toMatchObject({ width: 20, layers: 2, heads: 2, patchSize: 4, imageSize: 16 });
      expect(q.vision.postNorm).toBeUndefined();
      expect(q.layers.every((l) => l.crossAttention !== undefined)).toBe(true);
      expect(weights.projections[group].fc1.outFeatures).toBe(64);
    }
    expect(weights.layers.map((l) => l.group)).toEqual(['style', 'content', 'content', 'content', 'style', 'style', 'style']);
  });

  it('the style and content tokens of an image agree with the reference to 1e-4 of the range', async () => {
    const pixels = normalizeClipPixels(io.get('image01')!.data.slice(), 16);
    const p = relativeMaxDiff(pixels, io.get('pixels')!.data);
    expect(p.maxDiff).toBeLessThanOrEqual(1e-6 * p.range);
    const encoder = await DeadiffTokenEncoder.create(weights, tokenizer, { threads: 1 });
    expect(encoder.sharedTower).toBe(false);
    tokens = await encoder.encode(pixels);
    await encoder.release();
    for (const group of ['style', 'content'] as const) {
      const { maxDiff, range } = relativeMaxDiff(tokens[group], io.get(`${group}_tokens`)!.data);
      console.log(`DEADiff ${group} tokens: max |ours − torch| ${maxDiff.toExponential(2)} of range ${range.toFixed(3)}`);
      expect(maxDiff).toBeLessThanOrEqual(1e-4 * range);
      // the projection matters: the tokens are not the Q-Former's features
      const unprojected = relativeMaxDiff(tokens[group], io.get(`${group}_features`)!.data);
      expect(unprojected.maxDiff).toBeGreaterThan(1e-2 * unprojected.range);
    }
    // the two groups' words and weights give different tokens
    const apart = relativeMaxDiff(tokens.style, tokens.content);
    expect(apart.maxDiff).toBeGreaterThan(1e-2 * apart.range);
  }, 120_000);

  it('one UNet step driven by the image agrees with the reference to 1e-4 of the range, per group setting', async () => {
    expect(tokens).toBeDefined();
    const extension = new DeadiffExtension(weights, JOB.qformer.queries);
    const unet = await Unet.create(weights.unet, { batch: 2, contextLength: JOB.length, threads: 1, extension });
    const [h, w] = JOB.size as [number, number];
    const outputs: Float32Array[] = [];
    for (const [i, c] of CASES.entries()) {
      const strengths = { style: c.style ? JOB.deadiff.weight : 0, content: c.content ? JOB.deadiff.weight : 0 };
      const eps = await unet.predict(io.get('latents')!.data.slice(), h, w, JOB.timesteps, io.get('context')!.data.slice(), extension.feeds(tokens, strengths));
      const { maxDiff, range } = relativeMaxDiff(eps, io.get(`eps_case${i}`)!.data);
      console.log(`DEADiff step style ${strengths.style} content ${strengths.content}: max |ours − torch| ${maxDiff.toExponential(2)} of range ${range.toFixed(3)}`);
      expect(maxDiff).toBeLessThanOrEqual(1e-4 * range);
      outputs.push(eps);
    }
    // each group moves the output
    const moved = relativeMaxDiff(outputs[1]!, outputs[2]!);
    expect(moved.maxDiff).toBeGreaterThan(1e-3 * moved.range);
    await unet.release();
  }, 120_000);

  it("a checkpoint saved without its frozen image towers reads a CLIP tower's first blocks instead (all but its last), shared by both Q-Formers", async () => {
    const tensors = await readWeights(work.file('deadiff.ckpt'));
    const tower = weights.qformers.style.vision;
    // a CLIP tower with one block more, a post-norm and a projection: BLIP-2 reads all blocks but the last, and no post-norm
    const clip = { ...tower, config: { ...tower.config, layers: tower.blocks.length + 1, embedDim: 8 }, blocks: [...tower.blocks, tower.blocks[0]!], postNorm: tower.preNorm, projection: { weight: new Float32Array(8 * 20), inFeatures: 20, outFeatures: 8 } };
    const withoutTowers = new Map([...tensors].filter(([n]) => !/^(style|content)_blip\.visual_encoder\./.test(n)));
    const fallback = loadDeadiff(withoutTowers, { ...LOAD, qformer: { ...LOAD.qformer, visionTower: clip } });
    expect(fallback.qformers.content.vision.blocks).toHaveLength(2);
    expect(fallback.qformers.content.vision.postNorm).toBeUndefined();
    // weights fed as inputs, as at DEADiff's size (over ONNX's 2 GB)
    const encoder = await DeadiffTokenEncoder.create(fallback, tokenizer, { threads: 1, feedWeights: true });
    expect(encoder.sharedTower).toBe(true);
    const got = await encoder.encode(io.get('pixels')!.data.slice());
    await encoder.release();
    const { maxDiff, range } = relativeMaxDiff(got.style, io.get('style_tokens')!.data);
    expect(maxDiff).toBeLessThanOrEqual(1e-4 * range);
  }, 120_000);

  it('refuses a checkpoint without the image tower, a Q-Former of another width, and a vocabulary without BERT tokens', async () => {
    const tensors = await readWeights(work.file('deadiff.ckpt'));
    const withoutTower = new Map([...tensors].filter(([n]) => !n.startsWith('style_blip.visual_encoder.')));
    expect(() => loadDeadiff(withoutTower, LOAD)).toThrow(/image tower is not in the checkpoint/);
    const withoutLayer = new Map([...tensors].filter(([n]) => !n.startsWith('content_blip.Qformer.bert.encoder.layer.1.crossattention.self.query')));
    const error = (() => {
      try {
        loadDeadiff(withoutLayer, LOAD);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(AtelierError);
    expect((error as AtelierError).message).toMatch(/not used by the Q-Former.*crossattention\.self\.key\.weight/s);
    expect(() => WordPieceTokenizer.fromVocabulary(['style', 'content'])).toThrow(/lacks BERT's special tokens/);
  });
});
