import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMethod } from '../../src/core/stylize.js';
import { readLoraAdapter } from '../../src/engine/lora/adapter.js';
import { fast } from '../../src/methods/neural/fast.js';
import { getTrainer, listTrainers, train } from '../../src/train/index.js';
import { mergeFastStyleLora } from '../../src/engine/lora/merge-fast-style.js';
import { FAST_TRAINED_KIND, trainedFastMetadata } from '../../src/engine/nets/fast-style/trained.js';
import { installTrainedModel } from '../../src/engine/store/trained.js';
import { writeSafetensors } from '../../src/engine/weights/safetensors.js';
import { fastStyleModel } from '../../src/engine/nets/fast-style/models.js';
import { randomTransformerNetWeights } from '../../src/engine/nets/transformer-net.js';
import { runCli } from '../helpers/cli.js';
import { gradientImage, meanAbsDiff } from '../helpers/fixtures.js';
import { temporaryHome } from '../helpers/temporary-home.js';
import { styleTrainingFolders } from '../helpers/style-training-folders.js';

/**
 * `atelier train lora` on the training floor, with seeded random weights for the base and the
 * VGG (fast, and independent of ../shared): it trains only the adapter, exports a LoRA file that
 * neural.fast applies with `lora: [FILE:weight]`, resumes exactly, and refuses a style folder with
 * nothing readable in it.
 */

const tmp = temporaryHome('atelier-train-lora-');

const { styleDir, contentDir } = await styleTrainingFolders(tmp.dir, 3);

const params = { base: 'fst-small8-candy', baseWeights: 'random', vgg: 'random', styleDir, contentDir, size: 32, batch: 1, eval: 1, rank: 2, styleSize: 32, targets: ['res*', 'deconv1'], lr: 0.05 };

describe('train lora', () => {
  it('is registered on the training floor', () => {
    expect(listTrainers().map((t) => t.id)).toContain('lora');
    expect(getTrainer('lora').title).toMatch(/LoRA/);
  });

  it('trains only the adapter, exports a LoRA file neural.fast applies, and resumes exactly', async () => {
    const out = path.join(tmp.dir, 'run');
    const result = await train('lora', { out, iterations: 3, params, seed: 4, threads: 1 });
    const adapter = await readLoraAdapter(result.weights);
    expect(adapter.rank).toBe(2);
    expect(adapter.alpha).toBe(2);
    expect(adapter.layers.map((l) => l.name)).toEqual([...Array.from({ length: 5 }, (_, r) => [`res${r + 1}.conv1.conv2d.weight`, `res${r + 1}.conv2.conv2d.weight`]).flat(), 'deconv1.conv2d.weight']);
    expect(adapter.extra).toMatchObject({ trainer: 'atelier train lora', steps: '3', style_images: JSON.stringify(['noise.png', 'stripes.png']) });
    // B started at zero and moved; A moved too (after the first step B is no longer zero)
    expect(adapter.layers.some((l) => l.b.some((v) => v !== 0))).toBe(true);
    expect(result.usage).toContain('--lora');

    // resumed from the checkpoint at iteration 2, the adapter equals the uninterrupted one
    const split = path.join(tmp.dir, 'split');
    await train('lora', { out: split, iterations: 2, params, seed: 4, threads: 1 });
    const resumed = await readLoraAdapter((await train('lora', { out: split, iterations: 3, params, seed: 4, threads: 1, resume: true })).weights);
    resumed.layers.forEach((l, i) => {
      const want = adapter.layers[i]!;
      for (let k = 0; k < l.b.length; k++) expect(l.b[k]).toBeCloseTo(want.b[k]!, 5);
    });

    // neural.fast with the same random base (same seed): the adapter changes the output, weight 0 is the base
    const content = gradientImage(40, 32);
    const run = (lora?: string[]) => runMethod(fast, { content, extra: {} }, { model: 'fst-small8-candy', weights: 'random', seed: 4, ...(lora && { lora }) });
    const plain = await run();
    const adapted = await run([result.weights]);
    const zero = await run([`${result.weights}:0`]);
    const twice = await run([`${result.weights}:0.5`, `${result.weights}:0.5`]);
    expect(meanAbsDiff(adapted.image, plain.image)).toBeGreaterThan(1e-4);
    expect(meanAbsDiff(zero.image, plain.image)).toBeLessThan(1e-6);
    // two halves stacked are the whole adapter
    expect(meanAbsDiff(twice.image, adapted.image)).toBeLessThan(1e-5);
    expect(adapted.meta.lora).toEqual([`${result.weights} ×1`]);
  }, 240_000);

  it('stores a named adapter, merges it into a new model neural.fast runs, and lists both', async () => {
    const result = await train('lora', { out: path.join(tmp.dir, 'named'), iterations: 2, params: { ...params, name: 'stripes-lora' }, seed: 4, threads: 1 });
    expect(result.installed).toBe(path.join(tmp.dir, 'home', 'models', 'stripes-lora', 'stripes-lora.safetensors'));
    // the base: the same seeded random weights the adapter was trained on, stored as a model made here
    const spec = fastStyleModel('fst-small8-candy').spec;
    await writeSafetensors(path.join(tmp.dir, 'rnd.safetensors'), randomTransformerNetWeights(4, spec).values(), { metadata: trainedFastMetadata(spec, 0, { base: 'random fst-small8 (seed 4)' }) });
    await installTrainedModel(FAST_TRAINED_KIND, 'rnd-base', path.join(tmp.dir, 'rnd.safetensors'), { description: 'seeded random fst-small8', trainer: 'fast', iterations: 0 });
    const merged = await mergeFastStyleLora({ base: 'rnd-base', lora: ['stripes-lora:0.5'], name: 'rnd-merged' });
    expect(merged.layers).toBe(11);
    const content = gradientImage(40, 32);
    const run = (model: string, lora?: string[]) => runMethod(fast, { content, extra: {} }, { model, ...(lora && { lora }) });
    const base = await run('rnd-base');
    const applied = await run('rnd-base', ['stripes-lora:0.5']);
    const fromStore = await run('rnd-merged');
    expect(meanAbsDiff(fromStore.image, applied.image)).toBeLessThan(1e-6);
    expect(meanAbsDiff(fromStore.image, base.image)).toBeGreaterThan(1e-5);
    expect(fromStore.meta.source).toMatch(/trained here/);
    // a second model under the same name is refused, not silently replaced
    await expect(mergeFastStyleLora({ base: 'rnd-base', lora: ['stripes-lora'], name: 'rnd-merged' })).rejects.toMatchObject({ code: 'E_OUTPUT_EXISTS' });
    const list = runCli(['models', 'list'], { env: { ATELIER_HOME: path.join(tmp.dir, 'home') } });
    expect(list.stdout).toMatch(/stripes-lora\s+lora\s+.*LoRA adapter for random fst-small8-candy architecture \(seed 4\): rank 2, α 2, 2 steps on 2 style images/);
    expect(list.stdout).toMatch(/rnd-merged\s+fast\s+.*rnd-base with LoRA stripes-lora×0\.5 merged/);
    const json = JSON.parse(runCli(['models', 'list', '--json'], { env: { ATELIER_HOME: path.join(tmp.dir, 'home') } }).stdout) as { name: string; network: string; trained?: object }[];
    expect(json.filter((m) => m.trained).map((m) => `${m.network}/${m.name}`)).toEqual(['fast/rnd-base', 'fast/rnd-merged', 'lora/stripes-lora']);
  }, 240_000);

  it('refuses a style folder without a readable image, and a rank the targets cannot hold', async () => {
    const empty = path.join(tmp.dir, 'empty');
    mkdirSync(empty);
    writeFileSync(path.join(empty, 'notes.txt'), 'no images here');
    await expect(train('lora', { out: path.join(tmp.dir, 'x'), iterations: 1, params: { ...params, styleDir: empty } })).rejects.toMatchObject({ code: 'E_INPUT_MISSING', message: expect.stringMatching(/holds no image/) });
    const broken = path.join(tmp.dir, 'broken');
    mkdirSync(broken);
    writeFileSync(path.join(broken, 'painting.jpg'), 'not really a jpeg');
    writeFileSync(path.join(broken, 'other.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0]));
    await expect(train('lora', { out: path.join(tmp.dir, 'y'), iterations: 1, params: { ...params, styleDir: broken } })).rejects.toMatchObject({
      code: 'E_INPUT_MISSING',
      message: expect.stringMatching(/No readable style image/),
      received: expect.stringMatching(/2 files that did not/),
    });
    await expect(train('lora', { out: path.join(tmp.dir, 'z'), iterations: 1, params: { ...params, targets: ['deconv3'], rank: 4 } })).rejects.toMatchObject({
      code: 'E_PARAM',
      message: expect.stringMatching(/Rank 4 is larger than the layer deconv3\.conv2d\.weight allows/),
    });
  });
});
