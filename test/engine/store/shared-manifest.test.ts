import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { modelFiles, pullModel } from '../../../src/engine/store.js';
import { filesFor, loadManifest, needsAcceptance } from '../../../src/engine/store/manifest.js';
import { tempDir } from '../../helpers/fixtures.js';
import { describeWithSharedWeights, installSharedModel, SHARED_WEIGHTS } from '../../helpers/shared-models.js';

/** The names issue 13 asks for, one per published network set. */
const REQUIRED = [
  ...['la_muse', 'rain_princess', 'scream', 'udnie', 'wave', 'wreck'].map((s) => `fst-engstrom-${s}`),
  ...['candy', 'mosaic', 'pointilism', 'rain_princess', 'udnie'].map((s) => `fst-pytorch-${s}`),
  ...['candy', 'mosaic', 'rain-princess', 'udnie'].flatMap((s) => [`fst-small16-${s}`, `fst-small8-${s}`]),
  'magenta-multistyle',
  'magenta-arbitrary',
  'microast',
  'vgg19-relu3_1',
  'wct-cd16x',
  'whitebox-cartoon',
  'animeganv2-hayao',
  'lpips-squeeze',
];

interface Row {
  set: string;
  file: string;
  size: number;
  sha256: string;
  url: string;
}

function inventory(): Row[] {
  const [, ...lines] = readFileSync(path.join(SHARED_WEIGHTS, 'FILES.tsv'), 'utf8').trim().split('\n');
  return lines.map((l) => {
    const [set, file, bytes, sha256, repo, commit, p] = l.split('\t') as [string, string, string, string, string, string, string];
    return { set, file, size: Number(bytes), sha256, url: `https://raw.githubusercontent.com/${repo}/${commit}/${p}` };
  });
}

describeWithSharedWeights('the model manifest against ../shared/weights/FILES.tsv', () => {
  const manifest = loadManifest();
  const files = manifest.models.flatMap((m) => m.files.map((f) => ({ model: m.name, ...f })));

  it('has every required name, and every inventory file once, with its URL at the commit, size and SHA-256', () => {
    const names = manifest.models.map((m) => m.name);
    for (const n of REQUIRED) expect(names, n).toContain(n);
    const rows = inventory();
    expect(rows.length).toBeGreaterThan(300);
    for (const row of rows) {
      // the ncnn .param is shared by the five ncnn styles: every other file belongs to one model
      const hits = files.filter((f) => f.url === row.url);
      expect(hits.length, row.file).toBe(row.file === 'styletransfer.param' ? 5 : 1);
      for (const h of hits) expect({ size: h.size, sha256: h.sha256 }, `${h.model}/${h.path}`).toEqual({ size: row.size, sha256: row.sha256 });
      // and the mirrored file really has that size
      expect(statSync(path.join(SHARED_WEIGHTS, row.set, row.file)).size, row.file).toBe(row.size);
    }
    // no invented raw.githubusercontent entry
    const urls = new Set(rows.map((r) => r.url));
    for (const f of files.filter((x) => x.url?.startsWith('https://raw.githubusercontent.com/'))) expect(urls.has(f.url!), `${f.model}/${f.path}`).toBe(true);
  });

  it('is what scripts/models-manifest.mjs generates from the inventory', () => {
    const r = spawnSync(process.execPath, ['scripts/models-manifest.mjs', '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('marks the restricted licences, sets formats, and gives magenta-arbitrary its variants', () => {
    const byName = new Map(manifest.models.map((m) => [m.name, m]));
    const restricted = manifest.models.filter(needsAcceptance).map((m) => m.name).sort();
    expect(restricted).toEqual(['animeganv2-hayao', 'deadiff', 'sd15', 'vgg19-relu3_1', 'whitebox-cartoon']);
    // CreativeML OpenRAIL-M allows commercial use but binds users to its use restrictions
    expect(byName.get('sd15')!.terms).toBe('use-restricted');
    // DEADiff's weights are a fine-tune of SD 1.5 and carry its licence
    expect(byName.get('deadiff')!.terms).toBe('use-restricted');
    expect(byName.get('vgg19-relu3_1')!.terms).toBe('academic-only');
    expect(byName.get('fst-engstrom-udnie')!.format).toBe('deeplearnjs');
    expect(byName.get('fst-engstrom-udnie')!.files.map((f) => f.path)).toContain('manifest.json');
    expect(byName.get('fst-pytorch-candy')!.files.map((f) => f.path).sort()).toEqual(['candy.bin', 'styletransfer.param']);
    expect(byName.get('fst-small16-candy')!.files.map((f) => f.format ?? 'pth').sort()).toEqual(['onnx', 'pth']);
    expect(byName.get('magenta-multistyle')!.files.filter((f) => f.format === 'jpeg')).toHaveLength(26);
    expect(byName.get('lpips-squeeze')!.files.map((f) => f.format ?? 'pth').sort()).toEqual(['hdf5', 'pth', 'pth']);
    const arbitrary = byName.get('magenta-arbitrary')!;
    expect(filesFor(arbitrary).map((f) => f.path).sort()).toEqual(['style_predict_quantized_256.tflite', 'style_transfer_f16_384.tflite']);
    expect(filesFor(arbitrary, ['int8']).map((f) => f.path).sort()).toEqual(['style_predict_quantized_256.tflite', 'style_transfer_quantized_384.tflite']);
    expect(filesFor(arbitrary, 'all')).toHaveLength(4);
  });

  it('installs from ../shared/weights as a mirror: variants, licences and the test helper', async () => {
    const dir = tempDir('atelier-shared-install-');
    try {
      const home = dir.file('home');
      const arbitrary = await installSharedModel('magenta-arbitrary', { home });
      expect(arbitrary.variant).toBe('f16');
      expect(arbitrary.files.map((f) => f.path).sort()).toEqual(['style_predict_quantized_256.tflite', 'style_transfer_f16_384.tflite']);
      expect(readFileSync(arbitrary.file('style_transfer_f16_384.tflite')).equals(readFileSync(path.join(SHARED_WEIGHTS, 'magenta-arbitrary/style_transfer_f16_384.tflite')))).toBe(true);
      expect(() => modelFiles('magenta-arbitrary', { home, variant: 'int8' })).toThrow(expect.objectContaining({ code: 'E_WEIGHTS_MISSING', message: expect.stringContaining('atelier models pull magenta-arbitrary --variant int8 --from') }));
      const int8 = await installSharedModel('magenta-arbitrary', { home, variant: 'int8' });
      expect(() => int8.fileOf('tflite')).toThrow(/2 tflite files/);
      // the f16 transfer net stayed installed beside int8
      expect(modelFiles('magenta-arbitrary', { home }).variant).toBe('f16');

      await expect(pullModel('vgg19-relu3_1', { home, from: SHARED_WEIGHTS })).rejects.toMatchObject({
        code: 'E_LICENCE',
        message: expect.stringMatching(/academic.*--accept-licence/s),
      });
      expect(existsSync(path.join(home, 'models', 'vgg19-relu3_1'))).toBe(false);
      const vgg = await installSharedModel('vgg19-relu3_1', { home });
      expect(vgg.files).toHaveLength(7);

      const engstrom = await installSharedModel('fst-engstrom-wave', { home });
      expect(engstrom.files).toHaveLength(49);
      expect(JSON.parse(readFileSync(engstrom.file('manifest.json'), 'utf8'))).toBeTypeOf('object');
    } finally {
      dir.cleanup();
    }
  });
});
