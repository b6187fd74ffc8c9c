import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvaluationResults } from '../../src/eval/results.js';
import { runEvaluation } from '../../src/eval/run-evaluation.js';
import { methods } from '../../src/methods/index.js';
import { writeEvalFixtures } from '../helpers/eval-fixtures.js';
import { tempDir } from '../helpers/fixtures.js';

const tmp = tempDir();
let pairsFile: string;
beforeAll(async () => {
  pairsFile = await writeEvalFixtures(tmp.dir);
});
afterAll(() => tmp.cleanup());

describe('runEvaluation', () => {
  it('stops on cancellation with results.json up to date, and --resume finishes the rest without redoing it', async () => {
    const outDir = tmp.file('interrupted');
    const base = { pairsFile, outDir, methods: [{ def: methods['color.reinhard'], params: {} }], command: 'eval' as const, groups: ['artistic'], metrics: ['ssim', 'psnr'] };
    const abort = new AbortController();
    await expect(runEvaluation({ ...base, signal: abort.signal, onResult: (_r, done) => done === 1 && abort.abort() })).rejects.toMatchObject({ code: 'E_ABORTED' });
    const partial = JSON.parse(readFileSync(path.join(outDir, 'results.json'), 'utf8')) as EvaluationResults;
    expect(partial.results).toHaveLength(1);
    const first = partial.results[0]!;

    const ran: string[] = [];
    const done = await runEvaluation({ ...base, resume: true, onProgress: (e) => e.type === 'step' && ran.push(e.label) });
    expect(done.results.map((r) => r.status)).toEqual(['ok', 'ok', 'failed']);
    // The first pair was reused as it was, not run again.
    expect(done.results[0]).toEqual(first);
    expect(ran.some((l) => l.includes(first.pair))).toBe(false);
    expect(done.aggregate['color.reinhard']).toMatchObject({ ok: 2, failed: 1 });
  });

  it('records a metric that cannot run (no weights) per result and keeps the pair', async () => {
    const saved = process.env.ATELIER_HOME;
    process.env.ATELIER_HOME = tmp.file('empty-home');
    try {
      const res = await runEvaluation({
        pairsFile,
        outDir: tmp.file('no-weights'),
        methods: [{ def: methods['color.reinhard'], params: {} }],
        command: 'eval',
        groups: ['artistic'],
        limit: 1,
        metrics: ['psnr', 'gram'],
      });
      expect(res.results[0]).toMatchObject({ status: 'ok', metrics: { psnr: expect.anything() }, metricErrors: { gram: { code: 'E_WEIGHTS_MISSING' } } });
    } finally {
      if (saved === undefined) delete process.env.ATELIER_HOME;
      else process.env.ATELIER_HOME = saved;
    }
  });
});
