import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { readPth } from '../../../src/engine/weights/pth.js';
import { describeWithSharedWeights, SHARED_WEIGHTS } from '../../helpers/shared-models.js';
import { torchPython } from '../../helpers/torch-reference.js';

/**
 * Every PyTorch pickle in ../shared/weights (.pth, .pth.tar, .model: legacy and zip formats,
 * state dicts and training checkpoints) reads with Atelier's pickle reader, and gives the same
 * tensors as torch.load: names, shapes and sums. The tensor counts are pinned as well, so a reader
 * that silently dropped tensors would fail even without PyTorch.
 */

const SUMMARY = fileURLToPath(new URL('../../helpers/torch_state_dict_summary.py', import.meta.url));

/** Tensors per file, as torch.load finds them (computed with python3-torch 1.13). */
const TENSOR_COUNTS: Record<string, number> = {
  'fst-small/saved_models_nc16/*.model': 62,
  'fst-small/saved_models_nc8/*.model': 62,
  'lpips/v0.0/alex.pth': 5,
  'lpips/v0.0/squeeze.pth': 7,
  'lpips/v0.0/vgg.pth': 5,
  'lpips/v0.1/alex.pth': 5,
  'lpips/v0.1/squeeze.pth': 7,
  'lpips/v0.1/vgg.pth': 5,
  'microast/content_encoder_iter_160000.pth.tar': 18,
  'microast/decoder_iter_160000.pth.tar': 18,
  'microast/modulator_iter_160000.pth.tar': 8,
  'microast/style_encoder_iter_160000.pth.tar': 18,
  'vgg19-relu3_1/feature_invertor_conv1_1.pth': 2,
  'vgg19-relu3_1/feature_invertor_conv2_1.pth': 6,
  'vgg19-relu3_1/feature_invertor_conv3_1.pth': 10,
  'vgg19-relu3_1/lst_r41_spn.pth': 22,
  'vgg19-relu3_1/vgg_normalised_conv1_1.pth': 4,
  'vgg19-relu3_1/vgg_normalised_conv2_1.pth': 8,
  'vgg19-relu3_1/vgg_normalised_conv3_1.pth': 12,
  'wct-cd16x/1SD.pth': 2,
  'wct-cd16x/1SE.pth': 6,
  'wct-cd16x/2SD.pth': 6,
  'wct-cd16x/2SE.pth': 12,
  'wct-cd16x/3SD.pth': 10,
  'wct-cd16x/3SE.pth': 18,
  'wct-cd16x/4SD.pth': 18,
  'wct-cd16x/4SE.pth': 28,
  'wct-cd16x/5SD.pth': 26,
  'wct-cd16x/5SE.pth': 38,
};

function pytorchFiles(): string[] {
  return readdirSync(SHARED_WEIGHTS, { recursive: true })
    .map(String)
    .filter((f) => /\.(pth|pth\.tar|model)$/.test(f))
    .sort();
}

function expectedCount(rel: string): number | undefined {
  return TENSOR_COUNTS[rel] ?? TENSOR_COUNTS[`${path.dirname(rel)}/*${path.extname(rel)}`];
}

describeWithSharedWeights('every PyTorch pickle in ../shared/weights', () => {
  it('reads with the pickle reader, with the pinned tensor counts', async () => {
    const files = pytorchFiles();
    expect(files.length).toBe(35);
    for (const rel of files) {
      const map = await readPth(path.join(SHARED_WEIGHTS, rel));
      expect(map.size, rel).toBe(expectedCount(rel));
      for (const t of map.values()) {
        expect(t.data.length, `${rel} ${t.name}`).toBe(t.shape.reduce((a, b) => a * b, 1));
        expect(t.data.every(Number.isFinite), `${rel} ${t.name}`).toBe(true);
      }
    }
  });

  it.skipIf(!torchPython)('gives the names, shapes and values torch.load gives', async () => {
    const files = pytorchFiles().map((f) => path.join(SHARED_WEIGHTS, f));
    const r = spawnSync(torchPython!, [SUMMARY, ...files], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.status, r.stderr).toBe(0);
    const reference = JSON.parse(r.stdout) as Record<string, Record<string, { shape: number[]; sum: number }>>;
    for (const file of files) {
      const ours = await readPth(file);
      const theirs = reference[file]!;
      expect([...ours.keys()].sort(), file).toEqual(Object.keys(theirs).sort());
      for (const [name, t] of ours) {
        expect(t.shape, `${file} ${name}`).toEqual(theirs[name]!.shape);
        let sum = 0;
        for (const v of t.data) sum += v;
        expect(Math.abs(sum - theirs[name]!.sum), `${file} ${name}`).toBeLessThanOrEqual(1e-9 * Math.max(1, t.data.length));
      }
    }
  });
});
