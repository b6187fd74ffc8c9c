import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ProgressEvent } from '../../src/core/progress.js';
import { Adam } from '../../src/engine/optim/adam.js';
import { readSafetensors } from '../../src/engine/weights/safetensors.js';
import { optimizerState, optimizerTensors, readCheckpoint } from '../../src/train/checkpoint.js';
import { defineTrainer } from '../../src/train/definition.js';
import { getTrainer, listTrainers } from '../../src/train/index.js';
import { runTraining } from '../../src/train/loop.js';
import { tempDir } from '../helpers/fixtures.js';

/**
 * The loop every trainer runs in, driven by a tiny recipe that needs no engine: fit y = a·x + b to
 * noisy samples with Adam. Small enough to run in milliseconds, real enough to check what the loop
 * promises: the progress union's invariants, checkpoints, a resume that reproduces an
 * uninterrupted run exactly, the loss log and plot, cancellation.
 */
const line = defineTrainer({
  id: 'test-line',
  title: 'Line fit',
  summary: 'fits y = a·x + b (test only)',
  params: z.object({ lr: z.number().positive().default(0.05), failAt: z.number().int().optional(), nanAt: z.number().int().optional() }),
  async open(ctx, p) {
    const packed = { specs: [{ name: 'a', shape: [1] }, { name: 'b', shape: [1] }], offsets: [0, 1] };
    const params = new Float32Array([0, 0]);
    const adam = new Adam(2, { learningRate: p.lr });
    let iteration = 0;
    return {
      get iteration() {
        return iteration;
      },
      checkpointFormat: 'atelier-test-line-1',
      curves: [{ key: 'mse', label: 'mean squared error' }],
      curveTitle: 'line fit',
      summary: { lr: p.lr },
      async step(rng) {
        if (iteration === p.failAt) throw new Error('the data ran out');
        const xs = Array.from({ length: 16 }, () => rng.next() * 2 - 1);
        const ys = xs.map((x) => 3 * x - 1 + 0.01 * (rng.next() - 0.5));
        let mse = 0;
        const grad = [0, 0];
        xs.forEach((x, i) => {
          const r = params[0]! * x + params[1]! - ys[i]!;
          mse += (r * r) / xs.length;
          grad[0]! += (2 * r * x) / xs.length;
          grad[1]! += (2 * r) / xs.length;
        });
        adam.step(params, grad);
        iteration++;
        return { values: { mse: iteration === p.nanAt ? NaN : mse, a: params[0]!, b: params[1]! } };
      },
      async validate() {
        return { distance: Math.hypot(params[0]! - 3, params[1]! + 1) };
      },
      checkpoint() {
        return {
          tensors: [{ name: 'a', shape: [1], data: params.subarray(0, 1) }, { name: 'b', shape: [1], data: params.subarray(1, 2) }, ...optimizerTensors(packed, adam.state())],
          metadata: { adamStep: String(adam.state().step) },
        };
      },
      restore(tensors, metadata, at) {
        params[0] = tensors.get('a')!.data[0]!;
        params[1] = tensors.get('b')!.data[0]!;
        adam.restore({ step: Number(metadata.adamStep), ...optimizerState(packed, tensors, 2, 'checkpoint') });
        iteration = at;
      },
      exportWeights() {
        return { fileName: 'line.safetensors', tensors: [{ name: 'line', shape: [2], data: params.slice() }], metadata: { iterations: String(iteration) } };
      },
    };
  },
});

const dir = tempDir('atelier-train-loop-');
afterAll(() => dir.cleanup());

describe('the training loop', () => {
  it('trains, reports progress as the stylize union, and writes weights, checkpoint, losses and plot', async () => {
    const events: ProgressEvent[] = [];
    const out = dir.file('whole');
    const r = await runTraining(line, { out, iterations: 60, saveEvery: 25, seed: 7, onProgress: (e) => events.push(e) });
    expect(r.iterations).toBe(60);
    expect(r.validation!.after.distance).toBeLessThan(r.validation!.before.distance / 3);
    expect(events[0]!.type).toBe('start');
    expect(events.at(-1)).toMatchObject({ type: 'done', fraction: 1 });
    const steps = events.filter((e) => e.type === 'step');
    expect(steps).toHaveLength(60);
    expect(steps.every((e, i) => i === 0 || e.fraction >= steps[i - 1]!.fraction)).toBe(true);
    expect(steps[0]).toMatchObject({ step: 1, total: 60, label: 'train test-line' });
    expect(Object.keys((steps[0] as { values: Record<string, number> }).values)).toEqual(['mse', 'a', 'b', 'seconds']);
    const losses = JSON.parse(readFileSync(r.losses, 'utf8')) as { lr: number; records: { iteration: number; mse: number }[] };
    expect(losses.lr).toBe(0.05);
    expect(losses.records.map((x) => x.iteration)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(losses.records.at(-1)!.mse).toBeLessThan(losses.records[0]!.mse / 10);
    expect((await readSafetensors(r.weights)).get('line')!.data[0]).toBeCloseTo(steps.at(-1)!.type === 'step' ? (steps.at(-1) as { values: Record<string, number> }).values.a! : NaN, 6);
    const saved = await readCheckpoint(r.checkpoint, 'atelier-test-line-1');
    expect(saved.iteration).toBe(60);
    expect(saved.tensors.has('optimizer.m.a')).toBe(true);
    expect(readFileSync(path.join(out, 'loss-curve.svg'), 'utf8')).toContain('mean squared error');
    expect(existsSync(r.plot)).toBe(true);
  });

  it('resumes from its checkpoint to exactly where an uninterrupted run gets', async () => {
    const whole = await runTraining(line, { out: dir.file('straight'), iterations: 40, saveEvery: 10, seed: 3 });
    const out = dir.file('halves');
    await runTraining(line, { out, iterations: 20, saveEvery: 10, seed: 3 });
    const second = await runTraining(line, { out, iterations: 40, saveEvery: 10, seed: 3, resume: true });
    expect(second.iterations).toBe(40);
    const a = (await readSafetensors(whole.weights)).get('line')!.data;
    const b = (await readSafetensors(second.weights)).get('line')!.data;
    expect(Array.from(b)).toEqual(Array.from(a));
    const records = (JSON.parse(readFileSync(second.losses, 'utf8')) as { records: { iteration: number }[] }).records;
    expect(records.map((x) => x.iteration)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('refuses to resume without a checkpoint or from another trainer’s, and keeps the last checkpoint on failure', async () => {
    await expect(runTraining(line, { out: dir.file('empty'), iterations: 5, resume: true })).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
    const out = dir.file('failing');
    const events: ProgressEvent[] = [];
    await expect(runTraining(line, { out, iterations: 30, saveEvery: 5, params: { failAt: 12 }, onProgress: (e) => events.push(e) })).rejects.toMatchObject({
      code: 'E_INTERNAL',
      message: expect.stringContaining('the data ran out'),
    });
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'E_INTERNAL' });
    expect((await readCheckpoint(path.join(out, 'last.safetensors'), 'atelier-test-line-1')).iteration).toBe(10);
    await expect(readCheckpoint(path.join(out, 'last.safetensors'), 'atelier-capvst-training-1')).rejects.toMatchObject({ code: 'E_WEIGHTS_INVALID' });
  });

  it('stops at its AbortSignal and validates its own params', async () => {
    const abort = new AbortController();
    abort.abort();
    await expect(runTraining(line, { out: dir.file('aborted'), iterations: 5, signal: abort.signal })).rejects.toMatchObject({ code: 'E_ABORTED' });
    await expect(runTraining(line, { out: dir.file('bad'), iterations: 5, params: { lr: -1 } })).rejects.toMatchObject({ code: 'E_PARAM' });
    await expect(runTraining(line, { out: dir.file('bad'), iterations: 0 })).rejects.toMatchObject({ code: 'E_PARAM' });
  });
});

describe('the loop guards the last good state', () => {
  it('stops a run whose loss goes NaN with E_NUMERIC, saving nothing of it', async () => {
    const out = dir.file('nan');
    const err = await runTraining(line, { out, iterations: 30, saveEvery: 5, params: { nanAt: 13 } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_NUMERIC', message: expect.stringContaining('the mse became NaN at iteration 13; the last good checkpoint (iteration 10) is kept') });
    expect((await readCheckpoint(path.join(out, 'last.safetensors'), 'atelier-test-line-1')).iteration).toBe(10);
  });

  it('saves a checkpoint where a cancel stops it, and resumes from there', async () => {
    const out = dir.file('cancel');
    const abort = new AbortController();
    const err = await runTraining(line, {
      out,
      iterations: 40,
      saveEvery: 100,
      signal: abort.signal,
      onProgress: (e) => e.type === 'step' && e.step === 7 && abort.abort(),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_ABORTED' });
    expect((await readCheckpoint(path.join(out, 'last.safetensors'), 'atelier-test-line-1')).iteration).toBe(7);
    const resumed = await runTraining(line, { out, iterations: 40, saveEvery: 100, resume: true });
    const straight = await runTraining(line, { out: dir.file('cancel-straight'), iterations: 40, saveEvery: 100 });
    expect(Array.from((await readSafetensors(resumed.weights)).get('line')!.data)).toEqual(Array.from((await readSafetensors(straight.weights)).get('line')!.data));
  });

  it('hands the weights as they are to onPreview every n iterations and at the end', async () => {
    const seen: { iteration: number; a: number }[] = [];
    await runTraining(line, {
      out: dir.file('preview'),
      iterations: 10,
      previewEvery: 4,
      onPreview: async ({ iteration, weights }) => void seen.push({ iteration, a: (await readSafetensors(weights)).get('line')!.data[0]! }),
    });
    expect(seen.map((s) => s.iteration)).toEqual([4, 8, 10]);
    expect(seen[0]!.a).not.toBe(seen[2]!.a);
    expect(existsSync(dir.file('preview/preview-4.safetensors'))).toBe(false);
  });
});

describe('the trainer registry', () => {
  it('lists the shipped trainers by their own ids and suggests the nearest for a typo', () => {
    expect(listTrainers().map((t) => t.id)).toContain('capvst');
    expect(getTrainer('capvst').id).toBe('capvst');
    expect(() => getTrainer('capvts')).toThrow(/did you mean capvst/i);
  });
});
