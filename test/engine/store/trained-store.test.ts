import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runMethod } from '../../../src/core/stylize.js';
import { trainedFastMetadata } from '../../../src/engine/nets/fast-style/trained.js';
import { PYTORCH_EXAMPLES_NET, randomTransformerNetWeights } from '../../../src/engine/nets/transformer-net.js';
import { addTrainedModel, knownModelNames, listModels, modelStatus, removeModel } from '../../../src/engine/store.js';
import { claimTrainedModel, listTrainedModels, resolveTrainedModel } from '../../../src/engine/store/trained.js';
import type { ModelEntry } from '../../../src/engine/store/manifest.js';
import { writeSafetensors } from '../../../src/engine/weights/safetensors.js';
import { fast } from '../../../src/methods/neural/fast.js';
import { gradientImage, meanAbsDiff, tempDir } from '../../helpers/fixtures.js';
import { runCli } from '../../helpers/cli.js';

/**
 * One store for models made here: what the CLI trainers used to write into
 * `<home>/trained/<kind>/NAME.safetensors` moves into `models/NAME/` (with `trained.json`) the first
 * time the store is read, byte for byte, under a legal and free name that keeps the old one as
 * `formerName`; a move cut short is finished, never duplicated; a process moving them keeps others
 * out. Methods then find the model by either name, and a model of another kind is refused by name.
 */

const tmp = tempDir('atelier-trained-store-');
const saved = process.env.ATELIER_HOME;
let home: string;
let n = 0;
const spec = { ...PYTORCH_EXAMPLES_NET, width: 8 };
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

beforeEach(() => {
  home = tmp.file(`home${n++}`);
  process.env.ATELIER_HOME = home;
});
afterEach(() => {
  if (saved === undefined) delete process.env.ATELIER_HOME;
  else process.env.ATELIER_HOME = saved;
});
afterAll(() => tmp.cleanup());

/** A file of the old CLI store, and a copy of it kept outside the home to compare with. */
async function legacy(kind: string, name: string, write: (file: string) => Promise<void>): Promise<{ file: string; copy: string }> {
  const file = path.join(home, 'trained', kind, `${name}.safetensors`);
  mkdirSync(path.dirname(file), { recursive: true });
  await write(file);
  const copy = tmp.file(`copy-${n}-${kind}-${name}.safetensors`);
  copyFileSync(file, copy);
  return { file, copy };
}

const fastNet = (seed: number) => (file: string) => writeSafetensors(file, randomTransformerNetWeights(seed, spec).values(), { metadata: trainedFastMetadata(spec, 7, { source: 'atelier train fast', styles: '/x/udnie.jpg' }) });
const tinyFile = (metadata: Record<string, string>) => (file: string) => writeSafetensors(file, [{ name: 't', shape: [2], data: Float32Array.of(1, 2) }], { metadata });

function entryOf(name: string): ModelEntry {
  return JSON.parse(readFileSync(path.join(home, 'models', name, 'trained.json'), 'utf8')) as ModelEntry;
}

describe('models made here: one store', () => {
  it('moves the old CLI store into models/NAME/ at first use, losing nothing, and methods find them by old and new names', async () => {
    const udnie = await legacy('fast', 'Udnie.v2', fastNet(3));
    const lora = await legacy('lora', 'stripes', tinyFile({ base: 'fst-small8-candy', rank: '2', alpha: '2', steps: '5' }));
    const gan = await legacy('cyclegan', 'stripes', tinyFile({ architecture: 'cyclegan-resnet', a: 'photo', b: 'toon', iterations: '40' }));
    const clash = await legacy('fast', 'taken', fastNet(4));
    const broken = await legacy('multistyle', 'broken', async (file) => writeFileSync(file, 'not safetensors'));
    // A model a server job made already has the name "taken".
    const other = tmp.file(`server-${n}.safetensors`);
    await tinyFile({})(other);
    await addTrainedModel('taken', { description: 'made by a server job', network: 'capvst', trained: { trainer: 'capvst', iterations: 3, createdAt: '2026-12-01T00:00:00Z', job: 'j1' }, files: [{ path: 'capvst.safetensors', from: other }] });

    // First use: any read of the store.
    const names = knownModelNames();
    expect(names).toEqual(expect.arrayContaining(['udnie-v2', 'stripes', 'stripes-lora', 'taken', 'taken-fast', 'broken']));
    expect(existsSync(path.join(home, 'trained'))).toBe(false);
    const moved: [string, string, string, { copy: string }][] = [
      ['udnie-v2', 'fast', 'fast.safetensors', udnie],
      // Two kinds had a "stripes": the first in the old folders' order keeps it.
      ['stripes', 'cyclegan', 'cyclegan.safetensors', gan],
      ['stripes-lora', 'lora', 'adapter.safetensors', lora],
      ['taken-fast', 'fast', 'fast.safetensors', clash],
      ['broken', 'multistyle', 'multistyle.safetensors', broken],
    ];
    for (const [name, kind, file, { copy }] of moved) {
      const entry = entryOf(name);
      expect(entry.network, name).toBe(kind);
      expect(sha(path.join(home, 'models', name, file)), name).toBe(sha(copy));
      expect(entry.files[0]!.sha256).toBe(sha(copy));
      expect(entry.trained!.migratedFrom).toMatch(new RegExp(`^trained/${kind}/`));
      expect(modelStatus(name).installed).toBe(true);
    }
    expect(entryOf('udnie-v2').trained).toMatchObject({ trainer: 'fast', iterations: 7, formerName: 'Udnie.v2', use: { method: 'neural.fast', param: 'model' } });
    expect(entryOf('stripes-lora').trained).toMatchObject({ trainer: 'lora', iterations: 5, formerName: 'stripes', use: { method: 'neural.fast', param: 'lora', params: { model: 'fst-small8-candy' } } });
    expect(entryOf('stripes').trained).toMatchObject({ trainer: 'cyclegan', iterations: 40 });
    expect(entryOf('stripes').trained!.formerName).toBeUndefined();
    expect(entryOf('taken-fast').trained!.formerName).toBe('taken');
    // The server's model kept its name and its files.
    expect(entryOf('taken')).toMatchObject({ network: 'capvst', trained: { job: 'j1' } });
    expect(sha(path.join(home, 'models', 'taken', 'capvst.safetensors'))).toBe(sha(other));

    // By kind, by new name and by the old one.
    expect(listTrainedModels('fast')).toEqual(['taken-fast', 'udnie-v2']);
    expect(resolveTrainedModel('fast', 'udnie-v2')).toBe(path.join(home, 'models', 'udnie-v2', 'fast.safetensors'));
    expect(resolveTrainedModel('fast', 'Udnie.v2')).toBe(path.join(home, 'models', 'udnie-v2', 'fast.safetensors'));
    expect(resolveTrainedModel('cyclegan', 'stripes')).toBe(path.join(home, 'models', 'stripes', 'cyclegan.safetensors'));
    expect(resolveTrainedModel('lora', 'stripes-lora')).toBe(path.join(home, 'models', 'stripes-lora', 'adapter.safetensors'));
    // Another kind's model by name: refused, naming both kinds.
    expect(() => resolveTrainedModel('fast', 'stripes')).toThrow(expect.objectContaining({ code: 'E_PARAM', message: expect.stringMatching(/"stripes" is a cyclegan model .*not a fast model/) }));
    // The adapter's old name still reaches it: the lora kind looks past the cyclegan model that has it now.
    expect(resolveTrainedModel('lora', 'stripes')).toBe(path.join(home, 'models', 'stripes-lora', 'adapter.safetensors'));
    expect(() => resolveTrainedModel('fast', 'nothing-here')).toThrow(expect.objectContaining({ code: 'E_WEIGHTS_MISSING', expected: expect.stringContaining('taken-fast, udnie-v2') }));

    // neural.fast runs the moved network exactly as it ran the old file.
    const content = gradientImage(24, 20);
    const byName = await runMethod(fast, { content, extra: {} }, { model: 'udnie-v2' });
    const byOldName = await runMethod(fast, { content, extra: {} }, { model: 'Udnie.v2' });
    const byFile = await runMethod(fast, { content, extra: {} }, { model: udnie.copy });
    expect(meanAbsDiff(byName.image, byFile.image)).toBe(0);
    expect(meanAbsDiff(byOldName.image, byFile.image)).toBe(0);

    // Names are one namespace now: a training may not claim a name another kind holds.
    await expect(claimTrainedModel('fast', 'stripes')).rejects.toMatchObject({ code: 'E_OUTPUT_EXISTS', message: expect.stringContaining('a cyclegan model') });
    // And removing one is the store's ordinary rm.
    expect((await removeModel('taken-fast')).removed).toBe(true);
    expect(listTrainedModels('fast')).toEqual(['udnie-v2']);
  }, 120_000);

  it('finishes a move cut short without a duplicate, and waits while another live process is moving', async () => {
    const a = await legacy('fast', 'first', fastNet(5));
    expect(knownModelNames()).toContain('first');
    // Cut short after the folder was in place: the old file is back (the unlink never happened).
    mkdirSync(path.dirname(a.file), { recursive: true });
    copyFileSync(a.copy, a.file);
    const before = readdirSync(path.join(home, 'models')).filter((d) => !d.startsWith('.'));
    expect(knownModelNames()).toContain('first');
    expect(readdirSync(path.join(home, 'models')).filter((d) => !d.startsWith('.'))).toEqual(before);
    expect(existsSync(a.file)).toBe(false);

    // Another live process holds the move: nothing moves (and nothing breaks) until it is gone.
    const b = await legacy('fast', 'second', fastNet(6));
    const sleeper = spawn('sleep', ['30']);
    const lock = path.join(home, 'models', '.locks', 'legacy-trained.lock');
    try {
      writeFileSync(lock, String(sleeper.pid));
      expect(knownModelNames()).not.toContain('second');
      expect(existsSync(b.file)).toBe(true);
    } finally {
      sleeper.kill();
    }
    await new Promise((r) => sleeper.once('exit', r));
    expect(knownModelNames()).toContain('second');
    expect(existsSync(lock)).toBe(false);
    expect(sha(path.join(home, 'models', 'second', 'fast.safetensors'))).toBe(sha(b.copy));
  }, 60_000);

  it('`atelier models list` and `models info` show models made here with how they were made', async () => {
    await legacy('fast', 'cli-net', fastNet(7));
    const served = tmp.file(`served-${n}.safetensors`);
    await fastNet(8)(served);
    await addTrainedModel('served-net', {
      description: 'Fast style network trained here on 1 style image',
      network: 'fast',
      trained: { trainer: 'fast', iterations: 12, createdAt: '2026-12-02T10:00:00Z', job: 'job-42', use: { method: 'neural.fast', param: 'model' }, params: { width: 'small8' } },
      files: [{ path: 'served-net.safetensors', from: served }],
    });
    const env = { ATELIER_HOME: home };
    const list = runCli(['models', 'list'], { env });
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/Made here/);
    expect(list.stdout).toMatch(/cli-net\s+fast\s+.*\n\s+made by atelier train fast \(CLI\), 7 iterations, .*moved from trained\/fast\/cli-net\.safetensors/);
    expect(list.stdout).toMatch(/served-net\s+fast\s+.*\n\s+made by server training job job-42 \(fast\), 12 iterations, 2026-12-02/);
    expect(list.stdout).toMatch(/run with: atelier transfer --method neural\.fast --model served-net/);
    const json = JSON.parse(runCli(['models', 'list', '--json'], { env }).stdout) as { name: string; network: string; trained?: { trainer: string; job?: string } }[];
    expect(json.filter((m) => m.trained).map((m) => `${m.network}/${m.name}/${m.trained!.job ?? 'cli'}`)).toEqual(['fast/cli-net/cli', 'fast/served-net/job-42']);
    const info = runCli(['models', 'info', 'served-net'], { env });
    expect(info.stdout).toMatch(/made by:\s+server training job job-42/);
    expect(info.stdout).toMatch(/trained with: width=small8/);
    expect(listModels().filter((s) => s.entry.trained).map((s) => s.name)).toEqual(['cli-net', 'served-net']);
  }, 120_000);
});
