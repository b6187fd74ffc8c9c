import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AtelierError } from '../../../src/core/errors.js';
import type { ProgressEvent } from '../../../src/core/progress.js';
import { runMethod } from '../../../src/core/stylize.js';
import { tinyClipCheckpoint, tinyClipTokenizer } from '../../../src/engine/nets/clip/random-checkpoint.js';
import { encodeSafetensors } from '../../../src/engine/weights/safetensors.js';
import { clipstyler } from '../../../src/methods/neural/clipstyler.js';
import { gradientImage, noiseImage, tempDir } from '../../helpers/fixtures.js';
import { installSharedModel, sharedWeightsPresent, SHARED_WEIGHTS_SKIP } from '../../helpers/shared-models.js';

const quick = { prompt: 'a watercolor painting', iterations: 4, crops: 3, cropSize: 16 };

function stepValues(events: ProgressEvent[]) {
  return events.filter((e): e is Extract<ProgressEvent, { type: 'step' }> => e.type === 'step' && e.values !== undefined && 'loss' in e.values).map((e) => e.values!);
}

async function withHome<T>(home: string, body: () => Promise<T>): Promise<T> {
  const saved = process.env.ATELIER_HOME;
  process.env.ATELIER_HOME = home;
  try {
    return await body();
  } finally {
    if (saved === undefined) delete process.env.ATELIER_HOME;
    else process.env.ATELIER_HOME = saved;
  }
}

describe('neural.clipstyler', () => {
  it('reports the loss curve with its four terms at every step, and changes the image', async () => {
    const events: ProgressEvent[] = [];
    const content = noiseImage(48, 40, 4);
    const r = await runMethod(clipstyler, { content }, { ...quick, weights: 'random', seed: 2 }, { onProgress: (e) => events.push(e), threads: 2 });
    const values = stepValues(events);
    expect(values.length).toBe(quick.iterations + 1);
    for (const v of values) {
      expect(Object.keys(v)).toEqual(expect.arrayContaining(['loss', 'patch', 'dir', 'content', 'tv']));
      expect(Math.abs(v.loss! - (v.patch! + v.dir! + v.content! + v.tv!))).toBeLessThan(1e-5 * v.loss!);
    }
    expect(r.meta.weights).toMatch(/^random/);
    expect(r.meta.workingSize).toBe('48×40');
    expect(r.meta.contentLayers).toEqual(['conv3_1']);
    let diff = 0;
    for (let i = 0; i < content.data.length; i++) diff = Math.max(diff, Math.abs(r.image.data[i]! - content.data[i]!));
    expect(diff).toBeGreaterThan(0.05);
  }, 120_000);

  it('works at sides rounded down to a multiple of 8 and returns the content size', async () => {
    const r = await runMethod(clipstyler, { content: gradientImage(45, 37) }, { ...quick, iterations: 1, weights: 'random' }, { threads: 2 });
    expect(r.meta.workingSize).toBe('40×32');
    expect([r.image.width, r.image.height]).toEqual([45, 37]);
  }, 60_000);

  it('refuses an empty or overlong prompt with E_PARAM', async () => {
    for (const prompt of ['', '   ', 'x'.repeat(301)]) {
      const err = await runMethod(clipstyler, { content: gradientImage(32, 32) }, { ...quick, prompt, weights: 'random' }).catch((e: unknown) => e);
      expect((err as AtelierError).code, String(prompt)).toBe('E_PARAM');
    }
  });

  it('without CLIP installed fails with E_WEIGHTS_MISSING naming `atelier models pull clip-vit-b32`', async () => {
    const home = tempDir('atelier-home-');
    try {
      const err = await withHome(home.dir, () => runMethod(clipstyler, { content: gradientImage(32, 32) }, quick).catch((e: unknown) => e));
      expect((err as AtelierError).code).toBe('E_WEIGHTS_MISSING');
      expect((err as AtelierError).message).toContain('atelier models pull clip-vit-b32');
      expect((err as AtelierError).message).toContain('--weights random');
    } finally {
      home.cleanup();
    }
  });

  it.skipIf(!sharedWeightsPresent)(`runs the installed path: a tiny CLIP installed as clip-vit-b32 in a test store, the real VGG (${sharedWeightsPresent ? 'shared' : SHARED_WEIGHTS_SKIP})`, async () => {
    const home = tempDir('atelier-home-');
    try {
      // The published layout and file names with tiny random values, placed where the store keeps
      // clip-vit-b32 (as homeWithSharedModels links shared files): only a test store ever holds this.
      const dir = path.join(home.dir, 'models', 'clip-vit-b32');
      mkdirSync(dir, { recursive: true });
      const tokenizer = tinyClipTokenizer();
      writeFileSync(path.join(dir, 'model.safetensors'), encodeSafetensors([...tinyClipCheckpoint(9, tokenizer.vocabSize).values()]));
      writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify(Object.fromEntries(tokenizer.vocabulary())));
      writeFileSync(path.join(dir, 'merges.txt'), '#version: 0.2\n');
      await installSharedModel('vgg19-relu3_1', { home: home.dir });
      const events: ProgressEvent[] = [];
      const r = await withHome(home.dir, () => runMethod(clipstyler, { content: noiseImage(40, 32, 3) }, { ...quick, iterations: 2 }, { onProgress: (e) => events.push(e), threads: 2 }));
      expect(r.meta.weights).toBe('clip-vit-b32 + vgg19-relu3_1');
      expect(stepValues(events).length).toBe(3);
    } finally {
      home.cleanup();
    }
  }, 120_000);
});
