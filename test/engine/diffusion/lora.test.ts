import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDiffusionLora, type DiffusionLora } from '../../../src/engine/diffusion/lora-file.js';
import { mergeDiffusionLoras } from '../../../src/engine/diffusion/lora-merge.js';
import { unetLoraTargets } from '../../../src/engine/diffusion/lora-modules.js';
import { Unet, loadUnetWeights, type UnetWeights } from '../../../src/engine/diffusion/unet.js';
import { loadClipWeights, type ClipTextWeights } from '../../../src/engine/nets/clip/checkpoint.js';
import { readWeights } from '../../../src/engine/weights/read.js';
import { writeSafetensors } from '../../../src/engine/weights/safetensors.js';
import type { TensorMap } from '../../../src/engine/weights/tensor.js';
import { tempDir } from '../../helpers/fixtures.js';
import { relativeMaxDiff, torchPython } from '../../helpers/torch-reference.js';

/**
 * Diffusion LoRA files in kohya's, diffusers/PEFT's and older diffusers' key layouts, applied to
 * the tiny UNet of unet.test.ts and a tiny text-encoder weight set, against PyTorch merging
 * W + w·(α/r)·up·down itself (lora_reference.py): one UNet step per file and for a weighted stack
 * of the three, within 1e-4 of the output's range, from both base layouts.
 */

const skip = !torchPython;
if (skip) console.warn('skipping the diffusion LoRA PyTorch comparison: no python3 with torch (Debian python3-torch)');
const SCRIPT = fileURLToPath(new URL('./lora_reference.py', import.meta.url));
const work = tempDir('atelier-difflora-');
afterAll(() => work.cleanup());

const attn = (block: string, a: 'attn1' | 'attn2', p: string) => `${block}.transformer_blocks.0.${a}.${p}`;
const D0 = 'down_blocks.0.attentions.0';
const JOB = {
  seed: 21,
  batch: 2,
  size: [8, 8],
  length: 5,
  timesteps: [640, 90],
  config: { ch: 32, mult: [1, 2, 2], res: 1, att: [true, true, false], heads: 2, context: 16, groups: 8, in: 4, out: 4 },
  text: { width: 16, layers: 1, vocab: 20, length: 5 },
  strength: 0.6,
  files: [
    {
      name: 'kohya.safetensors',
      layout: 'kohya',
      unet: [
        [attn(D0, 'attn1', 'to_q'), 4, 2],
        [attn(D0, 'attn1', 'to_k'), 4, null],
        [attn(D0, 'attn2', 'to_k'), 4, 8],
        [attn(D0, 'attn2', 'to_out.0'), 2, 1],
        ['down_blocks.1.attentions.0.proj_in', 4, 4],
        ['mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj', 4, 4],
        [attn('up_blocks.1.attentions.1', 'attn1', 'to_v'), 4, 3],
        ['down_blocks.0.resnets.0.conv1', 4, 1],
        ['up_blocks.0.resnets.1.time_emb_proj', 2, 2],
        ['up_blocks.1.upsamplers.0.conv', 4, 4],
      ],
      text: [
        ['text_model.encoder.layers.0.self_attn.q_proj', 2, 1],
        ['text_model.encoder.layers.0.mlp.fc1', 4, null],
      ],
    },
    {
      name: 'peft.safetensors',
      layout: 'peft',
      metadataAlpha: { unet: 6, text_encoder: 2 },
      unet: [
        ...['to_q', 'to_k', 'to_v', 'to_out.0'].map((p) => [attn('down_blocks.1.attentions.0', 'attn1', p), 4, null]),
        [attn('up_blocks.2.attentions.0', 'attn2', 'to_q'), 4, null],
        [attn(D0, 'attn1', 'to_q'), 4, null],
      ],
      text: [['text_model.encoder.layers.0.self_attn.q_proj', 4, null]],
    },
    {
      name: 'legacy.bin',
      layout: 'legacy',
      unet: [
        [attn('mid_block.attentions.0', 'attn2', 'to_v'), 4, null],
        [attn('mid_block.attentions.0', 'attn2', 'to_out.0'), 4, null],
      ],
    },
  ],
  stacks: [[['kohya.safetensors', 1]], [['peft.safetensors', 1]], [['legacy.bin', 1]], [['kohya.safetensors', 0.8], ['peft.safetensors', -0.5], ['legacy.bin', 1]]],
  textProbe: ['text_model.encoder.layers.0.self_attn.q_proj.weight', 'text_model.encoder.layers.0.mlp.fc1.weight'],
  out: work.dir,
};

describe.skipIf(skip)('diffusion LoRA files against PyTorch', () => {
  let io: TensorMap;
  let text: ClipTextWeights;
  let bases: Record<'ldm' | 'diffusers', UnetWeights>;
  const loras = new Map<string, DiffusionLora>();
  beforeAll(async () => {
    writeFileSync(work.file('job.json'), JSON.stringify(JOB));
    const r = spawnSync(torchPython!, [SCRIPT, work.file('job.json')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`lora reference failed: ${r.stderr}`);
    io = await readWeights(work.file('io.safetensors'));
    text = loadClipWeights(await readWeights(work.file('text.safetensors')), { towers: ['text'], heads: { text: 2 } }).text!;
    bases = {
      ldm: loadUnetWeights(await readWeights(work.file('unet.safetensors')), { heads: 2, groups: 8 }),
      diffusers: loadUnetWeights(await readWeights(work.file('unet-diffusers.safetensors')), { heads: 2, groups: 8 }),
    };
    for (const f of JOB.files) loras.set(f.name, await readDiffusionLora(work.file(f.name)));
  }, 120_000);

  it('reads each layout, with its scales', () => {
    expect(loras.get('kohya.safetensors')!.layouts).toEqual(['kohya']);
    expect(loras.get('peft.safetensors')!.layouts).toEqual(['peft']);
    expect(loras.get('legacy.bin')!.layouts).toEqual(['diffusers-legacy']);
    const k = loras.get('kohya.safetensors')!.layers;
    expect(k).toHaveLength(12);
    expect(k.find((l) => l.module === 'down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_k')!.alpha).toBe(4); // no .alpha: α = r
    expect(k.find((l) => l.module === 'down_blocks_0_resnets_0_conv1')!.downShape).toEqual([4, 32, 3, 3]);
    expect(loras.get('peft.safetensors')!.layers.every((l) => l.alpha === (l.component === 'unet' ? 6 : 2))).toBe(true);
    expect(loras.get('legacy.bin')!.layers.map((l) => l.module).sort()).toEqual([attn('mid_block.attentions.0', 'attn2', 'to_out.0'), attn('mid_block.attentions.0', 'attn2', 'to_v')]);
  });

  it('names every weight of the tiny UNet in diffusers paths (each once)', () => {
    const paths = unetLoraTargets(bases.ldm).map((t) => t.path);
    expect(new Set(paths).size).toBe(paths.length);
    expect(unetLoraTargets(bases.diffusers).map((t) => t.path)).toEqual(paths);
    // every 2-D or 4-D tensor of the diffusers file but the norms and the time-embedding input is a target
    expect(paths).toContain('up_blocks.0.upsamplers.0.conv');
    expect(paths).toContain('mid_block.resnets.1.time_emb_proj');
  });

  const [h, w] = JOB.size as [number, number];
  JOB.stacks.forEach((stack, i) => {
    const label = stack.map(([f, s]) => `${f}×${s}`).join(' + ');
    // the stack on the diffusers-layout base, the single files on the original layout
    for (const layout of i === 3 ? (['diffusers'] as const) : (['ldm'] as const)) {
      it(`${label} on the ${layout} UNet: one step equals PyTorch's merged weights`, async () => {
        const merged = mergeDiffusionLoras({ unet: bases[layout], text }, stack.map(([f, s]) => ({ lora: loras.get(f as string)!, weight: s as number })));
        const unet = await Unet.create(merged.unet, { batch: 2, contextLength: JOB.length, threads: 1 });
        const eps = await unet.predict(io.get('latents')!.data.slice(), h, w, JOB.timesteps, io.get('context')!.data.slice());
        await unet.release();
        const { maxDiff, range } = relativeMaxDiff(eps, io.get(`eps.stack${i}`)!.data);
        const change = relativeMaxDiff(io.get(`eps.stack${i}`)!.data, io.get('eps.base')!.data).maxDiff;
        console.log(`LoRA ${label} (${layout}): max |ours − torch| ${maxDiff.toExponential(2)} of range ${range.toFixed(3)}; the LoRA moves ε by ${change.toFixed(3)}`);
        expect(change).toBeGreaterThan(0.02 * range); // the files change the output: the comparison can fail
        expect(maxDiff).toBeLessThanOrEqual(1e-4 * range);
        for (const name of JOB.textProbe) {
          const ours = name.includes('q_proj') ? merged.text.blocks[0]!.q.weight : merged.text.blocks[0]!.fc1.weight;
          const { maxDiff: d, range: r } = relativeMaxDiff(ours, io.get(`text.stack${i}.${name}`)!.data);
          expect(d).toBeLessThanOrEqual(1e-5 * r);
        }
      }, 120_000);
    }
  });

  it('leaves the base weights as they were', async () => {
    const fresh = loadUnetWeights(await readWeights(work.file('unet.safetensors')), { heads: 2, groups: 8 });
    mergeDiffusionLoras({ unet: bases.ldm, text }, [{ lora: loras.get('kohya.safetensors')!, weight: 1 }]);
    const a = unetLoraTargets(bases.ldm);
    const b = unetLoraTargets(fresh);
    const changed = a.filter((t, k) => t.holder.weight.some((v, j) => v !== b[k]!.holder.weight[j]));
    expect(changed.map((t) => t.path)).toEqual([]);
  });
});

describe('diffusion LoRA files that do not fit', () => {
  const dir = tempDir('atelier-difflora-bad-');
  afterAll(() => dir.cleanup());
  const t = (name: string, shape: number[], fill = 0.1) => ({ name, shape, data: new Float32Array(shape.reduce((p, q) => p * q, 1)).fill(fill) });
  const write = async (name: string, tensors: ReturnType<typeof t>[], metadata?: Record<string, string>) => {
    await writeSafetensors(dir.file(name), tensors, metadata ? { metadata } : {});
    return dir.file(name);
  };
  const K = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k';

  it('names unknown keys instead of skipping them', async () => {
    const f = await write('unknown.safetensors', [t(`${K}.lora_down.weight`, [2, 16]), t(`${K}.lora_up.weight`, [32, 2]), t('lora_unet_something.weights', [2]), t('model.bias', [1])]);
    await expect(readDiffusionLora(f)).rejects.toMatchObject({ code: 'E_WEIGHTS_INVALID', message: /2 keys in no layout/, received: expect.stringContaining('lora_unet_something.weights') });
  });

  it('refuses other adapter kinds by name (LoHa, LoKr, DoRA) and SDXL files', async () => {
    const loha = await write('loha.safetensors', [t(`${K}.hada_w1_a`, [32, 4]), t(`${K}.hada_w1_b`, [4, 16])]);
    await expect(readDiffusionLora(loha)).rejects.toThrow(/LoHa/);
    const lokr = await write('lokr.safetensors', [t(`${K}.lokr_w1`, [4, 4])]);
    await expect(readDiffusionLora(lokr)).rejects.toThrow(/LoKr/);
    const dora = await write('dora.safetensors', [t(`${K}.lora_down.weight`, [2, 16]), t(`${K}.lora_up.weight`, [32, 2]), t(`${K}.dora_scale`, [1, 16])]);
    await expect(readDiffusionLora(dora)).rejects.toThrow(/DoRA/);
    const sdxl = await write('sdxl.safetensors', [t('lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight', [2, 16])]);
    await expect(readDiffusionLora(sdxl)).rejects.toThrow(/SDXL/);
  });

  it('refuses half a pair and a pair that does not multiply', async () => {
    const half = await write('half.safetensors', [t(`${K}.lora_down.weight`, [2, 16])]);
    await expect(readDiffusionLora(half)).rejects.toThrow(/lacks its lora_up.weight/);
    const bad = await write('bad.safetensors', [t(`${K}.lora_down.weight`, [2, 16]), t(`${K}.lora_up.weight`, [32, 3])]);
    await expect(readDiffusionLora(bad)).rejects.toThrow(/does not multiply/);
  });

  it('refuses a truncated file as corrupt', async () => {
    const f = await write('whole.safetensors', [t(`${K}.lora_down.weight`, [2, 16]), t(`${K}.lora_up.weight`, [32, 2])]);
    const { readFileSync } = await import('node:fs');
    writeFileSync(dir.file('cut.safetensors'), readFileSync(f).subarray(0, 100));
    await expect(readDiffusionLora(dir.file('cut.safetensors'))).rejects.toMatchObject({ code: 'E_WEIGHTS_CORRUPT' });
  });

  it('names both shapes for a LoRA made for another base, and the layers this base lacks', async () => {
    const { randomStableDiffusion } = await import('../../../src/engine/diffusion/stable-diffusion-files.js');
    const parts = randomStableDiffusion(3); // 32-channel UNet, 32-wide text states
    const sd2 = await readDiffusionLora(await write('sd2.safetensors', [t(`${K}.lora_down.weight`, [2, 1024]), t(`${K}.lora_up.weight`, [32, 2])]));
    expect(() => mergeDiffusionLoras(parts, [{ lora: sd2, weight: 1 }])).toThrow(/changes a \[32, 1024\] weight, down_blocks\.0\.attentions\.0\.transformer_blocks\.0\.attn2\.to_k is \[32, 32\]/);
    const deeper = await readDiffusionLora(
      await write('deeper.safetensors', [
        t('lora_unet_down_blocks_3_attentions_0_proj_in.lora_down.weight', [2, 32]),
        t('lora_unet_down_blocks_3_attentions_0_proj_in.lora_up.weight', [32, 2]),
        t('text_encoder.text_model.encoder.layers.7.mlp.fc1.lora_A.weight', [2, 32]),
        t('text_encoder.text_model.encoder.layers.7.mlp.fc1.lora_B.weight', [128, 2]),
      ]),
    );
    expect(() => mergeDiffusionLoras(parts, [{ lora: deeper, weight: 1 }])).toThrow(
      expect.objectContaining({ code: 'E_WEIGHTS_INVALID', received: expect.stringMatching(/lora_unet_down_blocks_3_attentions_0_proj_in.*text_encoder\.text_model\.encoder\.layers\.7\.mlp\.fc1/) }),
    );
  });
});
