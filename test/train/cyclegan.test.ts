import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImage, writeImage } from '../../src/core/io.js';
import { Rng } from '../../src/core/rng.js';
import { Graph } from '../../src/engine/graph/graph.js';
import { cycleGanGenerator } from '../../src/engine/nets/cyclegan.js';
import { compile } from '../../src/engine/runtime.js';
import { readSafetensors } from '../../src/engine/weights/safetensors.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { train } from '../../src/train/index.js';
import { TrainingImages } from '../../src/train/training-images.js';
import { CycleGanTrainer, type CycleGanTrainerOptions } from '../../src/train/recipes/cyclegan-trainer.js';
import { stylize } from '../../src/methods/index.js';
import { meanAbsDiff, noiseImage, stripesImage, tempDir } from '../helpers/fixtures.js';
import { torchPython } from '../helpers/torch-reference.js';
import { runTorchGanStep, worstRelativeError } from '../helpers/torch-gan-reference.js';

/**
 * CycleGAN on the training floor, at tiny widths so it runs in seconds: one step's losses and
 * gradients against PyTorch, the whole recipe through `train('cyclegan', …)` (weights, checkpoint,
 * loss curve, sample grids), an exact resume, and the bad inputs the issue lists.
 */
const dir = tempDir('atelier-cyclegan-');
afterAll(() => dir.cleanup());

const TINY = { size: 32, width: 4, blocks: 1, discriminatorWidth: 4, discriminatorLayers: 2, eval: 1 };
const quiet = { debug() {}, info() {}, warn() {} };

let A = '';
let B = '';
beforeAll(async () => {
  A = dir.file('a');
  B = dir.file('b');
  mkdirSync(A);
  mkdirSync(B);
  for (let i = 0; i < 3; i++) {
    await writeImage(noiseImage(48, 40, i + 1), path.join(A, `${i}.png`));
    await writeImage(stripesImage(48, 40, 4 + i), path.join(B, `${i}.png`));
  }
});

const randomImage = (rng: Rng, n: number) => Float32Array.from({ length: n }, () => rng.uniform(-1, 1));

describe('CycleGAN training step', () => {
  it.skipIf(!torchPython)('has the losses and gradients of PyTorch for both generators and both discriminators', async () => {
    // Width 8: the 16- and 32-channel convs run in ORT's blocked layout (graph/lower.ts
    // convRunsBlocked) on AVX2/AVX-512 CPUs, as the published widths' do.
    const options: CycleGanTrainerOptions = {
      size: 32,
      generator: { width: 8, blocks: 2 },
      discriminator: { width: 8, layers: 3 },
      lossWeights: { cycleA: 10, cycleB: 10, identity: 0.5 },
      learningRate: 2e-4,
      iterations: 10,
      decayFraction: 0.5,
      poolSize: 50,
      threads: 1,
      seed: 5,
    };
    const trainer = await CycleGanTrainer.create(options);
    const rng = new Rng(9);
    const n = 3 * 32 * 32;
    const [realA, realB, fakeA, fakeB] = [0, 1, 2, 3].map(() => randomImage(rng, n)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const gen = await trainer.generatorStep(realA, realB);
    const dis = await trainer.discriminatorStep(realA, realB, fakeA, fakeB);
    const specs = [...trainer.generators.specs, ...trainer.discriminators.specs];
    const data = new Float32Array(trainer.generators.size + trainer.discriminators.size);
    data.set(trainer.generators.data);
    data.set(trainer.discriminators.data, trainer.generators.size);
    const shape = [1, 3, 32, 32];
    const torch = runTorchGanStep(torchPython!, {
      kind: 'cyclegan',
      config: { blocks: 2, discriminatorLayers: 3, cycleWeight: 10, identityWeight: 0.5 },
      params: { specs, data },
      inputs: { realA: { data: realA, shape }, realB: { data: realB, shape }, fakeA: { data: fakeA, shape }, fakeB: { data: fakeB, shape } },
    }, dir.dir);
    for (const [k, v] of Object.entries({ ...gen.losses, ...dis.losses })) expect(v, k).toBeCloseTo(torch.losses[k]!, 4);
    const ours = new Float32Array(data.length);
    ours.set(gen.gradient);
    ours.set(dis.gradient, trainer.generators.size);
    const { worst, at } = worstRelativeError(specs, ours, torch.gradients);
    expect(worst, `worst at ${at}`).toBeLessThan(2e-3);
  }, 600_000);
});

// One training that several tests read (its result, then a resume from its checkpoints, a refused
// resume, a divergence): a CycleGAN compile costs seconds, a step at these widths a fraction of one.
const FIRST = { a: '', b: '', ...TINY, pool: 1 };
let firstRun: ReturnType<typeof train> | undefined;
const first = () => (firstRun ??= train('cyclegan', { out: dir.file('run'), iterations: 4, saveEvery: 2, seed: 3, threads: 1, params: { ...FIRST, a: A, b: B }, log: quiet }));
/** A copy of the first run's folder to resume from (each test changes its copy). */
const copyOfFirst = async (name: string) => {
  await first();
  const out = dir.file(name);
  cpSync(dir.file('run'), out, { recursive: true });
  return out;
};

describe('atelier train cyclegan', () => {
  it('trains, saves a checkpoint, loss curve and sample grids, and exports both generators', async () => {
    const out = dir.file('run');
    const r = await first();
    expect(r.iterations).toBe(4);
    for (const k of ['G_A', 'G_B', 'cycle_A', 'cycle_B', 'idt_A', 'idt_B', 'D_A', 'D_B']) expect(Number.isFinite(r.last![k]), k).toBe(true);
    const weights = await readSafetensors(r.weights);
    expect([...weights.keys()].some((k) => k.startsWith('G_A.model.'))).toBe(true);
    expect([...weights.keys()].some((k) => k.startsWith('D_'))).toBe(false);
    const grid = await readImage(path.join(out, 'samples', 'iter-000004.png'));
    // One fixed sample: rows A→B→A and B→A→B, three 32² crops each with 2-pixel gutters.
    expect([grid.width, grid.height]).toEqual([3 * 32 + 4, 2 * 32 + 2]);
    expect(existsSync(path.join(out, 'samples', 'iter-000002.png'))).toBe(true);
    expect(existsSync(r.plot)).toBe(true);
    // The learning rate is constant for the first half, then falls linearly (the published lambda_rule).
    const records = (JSON.parse(readFileSync(r.losses, 'utf8')) as { records: { learningRate: number }[] }).records;
    expect(records.map((x) => x.learningRate)).toEqual([2e-4, 2e-4, 2e-4 * (2 / 3), 2e-4 / 3].map((v) => expect.closeTo(v, 12)));
  }, 600_000);

  it('stores the trained generator under its name, and neural.cyclegan --model NAME runs it in both directions', async () => {
    const home = dir.file('home');
    process.env.ATELIER_HOME = home;
    try {
      const r = await train('cyclegan', { out: dir.file('named'), iterations: 2, seed: 4, threads: 1, params: { a: A, b: B, ...TINY, eval: 0, name: 'noise2stripes' }, log: quiet });
      expect(r.installed).toBe(path.join(home, 'models', 'noise2stripes', 'noise2stripes.safetensors'));
      expect(r.usage).toContain('--model noise2stripes');
      // The method's output is the exported G_A applied to the image (mapped to [−1, 1] and back).
      const content = noiseImage(36, 28, 3);
      const ab = await stylize('neural.cyclegan', { content }, { model: 'noise2stripes' });
      const ba = await stylize('neural.cyclegan', { content }, { model: 'noise2stripes', direction: 'b2a' });
      expect([ab.image.width, ab.image.height]).toEqual([36, 28]);
      expect(ab.meta.direction).toBe('a2b');
      expect(meanAbsDiff(ab.image, ba.image)).toBeGreaterThan(1e-3);
      // At 32² (no padding, one tile) it is exactly the trainer's own translation with those weights.
      const square = noiseImage(32, 32, 5);
      const viaMethod = await stylize('neural.cyclegan', { content: square }, { model: r.weights });
      // (G_A from the exported file in a graph of its own: the trainer's forward pass is the same cycleGanGenerator.)
      const exported = await readSafetensors(r.weights);
      const g = new Graph();
      const lookup = (name: string) => g.constant(exported.get(`G_A.${name}`)!.data, [...exported.get(`G_A.${name}`)!.shape]);
      g.output('fakeB', cycleGanGenerator(g, g.input('x', [1, 3, 32, 32]), lookup, { width: TINY.width, blocks: TINY.blocks }));
      const signed = square.data.map((v) => 2 * v - 1);
      const fakeB = (await (await compile(g, { threads: 1, cache: false })).run({ x: { data: signed, shape: [1, 3, 32, 32] } })).fakeB!.data as Float32Array;
      let worst = 0;
      fakeB.forEach((v, i) => (worst = Math.max(worst, Math.abs(Math.min(1, Math.max(0, (v + 1) / 2)) - viaMethod.image.data[i]!))));
      expect(worst).toBeLessThan(1e-5);
      await expect(stylize('neural.cyclegan', { content }, { model: 'nothing-here' })).rejects.toMatchObject({ code: 'E_WEIGHTS_MISSING', message: expect.stringContaining('No trained cyclegan model named nothing-here') });
      await expect(stylize('neural.cyclegan', { content }, { model: r.checkpoint })).rejects.toMatchObject({ code: 'E_WEIGHTS_INVALID' });
      await expect(train('cyclegan', { out: dir.file('badname'), iterations: 1, params: { a: A, b: B, ...TINY, name: '../escape' }, log: quiet })).rejects.toMatchObject({ code: 'E_PARAM' });
    } finally {
      delete process.env.ATELIER_HOME;
    }
  }, 600_000);

  it('resumes from its checkpoint with identical state: the same losses on the next steps', async () => {
    const params = { ...FIRST, a: A, b: B };
    const whole = await first();
    // The same run stopped after its checkpoint at iteration 2, then resumed.
    const out = dir.file('halves');
    const stop = new AbortController();
    const stopped = train('cyclegan', { out, iterations: 4, saveEvery: 2, seed: 3, threads: 1, params, log: quiet, signal: stop.signal, onProgress: (e) => e.type === 'step' && e.step === 2 && stop.abort() });
    await expect(stopped).rejects.toMatchObject({ code: 'E_ABORTED' });
    const resumed = await train('cyclegan', { out, iterations: 4, saveEvery: 2, seed: 3, threads: 1, params, resume: true, log: quiet });
    const a = JSON.parse(readFileSync(whole.losses, 'utf8')).records as Record<string, number>[];
    const b = JSON.parse(readFileSync(resumed.losses, 'utf8')).records as Record<string, number>[];
    expect(b.map((x) => x.iteration)).toEqual([0, 1, 2, 3]);
    // Iterations 2 and 3 ran after the resume: weights, Adam moments, image pools and samples all agree.
    for (const i of [2, 3]) for (const k of ['G_A', 'G_B', 'cycle_A', 'idt_B', 'D_A', 'D_B']) expect(b[i]![k], `${k} at ${i}`).toBeCloseTo(a[i]![k]!, 5);
  }, 600_000);
});

describe('CycleGAN bad input', () => {
  it('refuses an empty or one-image domain and a file in place of a folder, with what it expected', async () => {
    const empty = dir.file('empty');
    const one = dir.file('one');
    mkdirSync(empty);
    mkdirSync(one);
    await writeImage(noiseImage(40, 40, 7), path.join(one, 'only.png'));
    const run = (a: string) => train('cyclegan', { out: dir.file('bad'), iterations: 1, params: { a, b: B, ...TINY }, log: quiet });
    await expect(run(empty)).rejects.toMatchObject({ code: 'E_INPUT_MISSING', message: expect.stringContaining('no readable image') });
    await expect(run(one)).rejects.toMatchObject({ code: 'E_INPUT_MISSING', message: expect.stringContaining('only one readable image') });
    await expect(run(path.join(one, 'only.png'))).rejects.toMatchObject({ code: 'E_PARAM' });
    await expect(run(dir.file('nowhere'))).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
  }, 600_000);

  it('skips unreadable images among good ones and says which', async () => {
    const mixed = dir.file('mixed');
    mkdirSync(mixed);
    for (let i = 0; i < 2; i++) await writeImage(noiseImage(40, 40, 10 + i), path.join(mixed, `${i}.png`));
    writeFileSync(path.join(mixed, 'broken.png'), Buffer.from('not a png at all'));
    const warnings: string[] = [];
    const domain = await TrainingImages.loadDomain(mixed, 'A', 36, { ...quiet, warn: (m) => warnings.push(m) });
    expect(domain.count).toBe(2);
    expect(domain.skipped.map((s) => path.basename(s.file))).toEqual(['broken.png']);
    expect(warnings.join('\n')).toMatch(/domain A: skipped 1 unreadable image of 3: broken\.png \(.+\)/);
  }, 600_000);

  it('refuses to resume a checkpoint of another width, naming both', async () => {
    const out = await copyOfFirst('width');
    const wider = train('cyclegan', { out, iterations: 6, resume: true, params: { ...FIRST, a: A, b: B, width: 8, eval: 0 }, log: quiet });
    await expect(wider).rejects.toMatchObject({ code: 'E_WEIGHTS_INVALID', message: expect.stringContaining('width 4, this run has 8') });
  }, 600_000);

  it('stops with E_NUMERIC when a loss turns NaN and keeps the last good checkpoint', async () => {
    // From the first run's checkpoint at iteration 4.
    const out = await copyOfFirst('nan');
    // A learning rate of 1e30 throws the weights to ±1e30: the next activations overflow.
    const error = await train('cyclegan', { out, iterations: 10, saveEvery: 1, resume: true, params: { ...FIRST, a: A, b: B, eval: 0, lr: 1e30 }, log: quiet }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_NUMERIC', message: expect.stringMatching(/diverged at iteration \d+: /) });
    const failedAt = Number(/iteration (\d+)/.exec((error as Error).message)![1]);
    // The weights saved at the failed iteration are the ones that diverged: the loop (train/loop.ts)
    // falls back on the checkpoint before them, the last whose weights gave a finite step, and says so.
    expect((error as Error).message).toContain(`last good checkpoint (iteration ${failedAt - 1})`);
    const kept = await readCheckpoint(path.join(out, 'last.safetensors'), CycleGanTrainer.checkpointFormat);
    expect(kept.iteration).toBe(failedAt - 1);
    for (const t of kept.tensors.values()) expect(t.data.every((v) => Number.isFinite(v)), t.name).toBe(true);
  }, 600_000);
});
