import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { Graph, type Tensor } from '../../src/engine/graph/graph.js';
import { COST_PER_SECOND, graphCost, MAX_STAGES, planStages, STAGE_SECONDS, stageCountFor } from '../../src/engine/graph/stages.js';
import { compile } from '../../src/engine/runtime.js';
import { StagedRunner } from '../../src/engine/staged-runner.js';

/**
 * A graph cut into stages runs to the same result as in one session, reports each stage and stops
 * between stages when cancelled. The net has what the imported networks have: a stride-2 encoder,
 * a U-Net skip that crosses every cut, norms, a transposed-conv decoder, and a weight-only branch.
 */
function unet(size: number): { g: Graph; out: Tensor } {
  const rng = new Rng(7);
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => rng.uniform(-s, s));
  const g = new Graph();
  const x = g.input('image', [1, 3, size, size]);
  const conv = (h: Tensor, cin: number, cout: number, stride = 1) =>
    g.relu(g.conv(h, g.param(`w${rng.int(1e9)}`, [cout, cin, 3, 3], rand(cout * cin * 9, 0.4)), g.param(`b${rng.int(1e9)}`, [cout], rand(cout, 0.1)), { pad: 1, stride }));
  const e1 = conv(x, 3, 8);
  const e2 = conv(e1, 8, 16, 2);
  let h = e2;
  for (let i = 0; i < 4; i++) h = g.add(h, conv(h, 16, 16));
  const up = g.convTranspose(h, g.param('up', [16, 8, 2, 2], rand(16 * 8 * 4, 0.3)), undefined, { stride: 2 });
  // A weight-only branch (folded by ONNX Runtime), read by the last stage.
  const bias = g.mul(g.param('scale', [1, 8, 1, 1], rand(8, 1)), g.scalar(0.5));
  const joined = g.add(g.concat([up, e1], 1), g.concat([bias, bias], 1));
  const out = g.sigmoid(g.conv(joined, g.param('head', [3, 16, 3, 3], rand(3 * 16 * 9, 0.3)), undefined, { pad: 1 }));
  g.output('y', out);
  return { g, out };
}

describe('a graph run in stages', () => {
  const size = 32;
  const image = Float32Array.from({ length: 3 * size * size }, (_, i) => Math.sin(i * 0.37) * 0.5 + 0.5);
  const feeds = { image: { data: image, shape: [1, 3, size, size] } };

  it('plans stages of about equal cost whose crossing values include the skip', () => {
    const { g, out } = unet(size);
    const stages = planStages(g, [out], 4);
    expect(stages).toHaveLength(4);
    expect(stages.reduce((a, s) => a + s.share, 0)).toBeCloseTo(1, 6);
    for (const s of stages) expect(s.share).toBeLessThan(0.6);
    // The skip (e1, made in the first stage) is fed to the last.
    expect(stages.at(-1)!.fed.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]!.fed).toHaveLength(0);
    // Every fed value is some earlier stage's result.
    stages.forEach((s, k) => s.fed.forEach((t) => expect(stages.slice(0, k).some((p) => p.results.includes(t))).toBe(true)));
    // No cut between a conv and the activation ONNX Runtime would fuse into it.
    for (const s of stages.slice(0, -1)) for (const t of s.results) expect(t.producer!.op).not.toBe('conv');
  });

  it('gives the one-session result, with a report after each stage', async () => {
    const { g } = unet(size);
    const whole = (await (await compile(g, { threads: 1 })).run(feeds)).y!.data as Float32Array;
    const runner = await StagedRunner.compile(unet(size).g, ['y'], 4, { threads: 1 });
    const reports: number[] = [];
    const staged = (await runner.run(feeds, { onStage: (done) => reports.push(done) })).y!.data as Float32Array;
    // One report per stage: the share of the estimated cost done so far, rising to exactly 1.
    expect(reports).toHaveLength(runner.stageCount);
    expect(runner.stageCount).toBe(4);
    reports.forEach((r, i) => expect(r).toBeGreaterThan(i > 0 ? reports[i - 1]! : 0));
    expect(reports.at(-1)).toBe(1);
    const shares = planStages(unet(size).g, [unet(size).out], 4).map((s) => s.share);
    expect(reports[0]).toBeCloseTo(shares[0]!, 9);
    expect(staged.length).toBe(whole.length);
    let diff = 0;
    for (let i = 0; i < whole.length; i++) diff = Math.max(diff, Math.abs(whole[i]! - staged[i]!));
    expect(diff).toBeLessThan(1e-5);
    await runner.release();
  });

  it("'auto' leaves a graph worth less than a stage whole, with one report at the end", async () => {
    const { g, out } = unet(size);
    // A 32² toy is far below a second of work: one stage, the graph compiled as it is.
    expect(stageCountFor(graphCost(g, [out]))).toBe(1);
    expect(stageCountFor(COST_PER_SECOND * STAGE_SECONDS * 10)).toBe(MAX_STAGES);
    expect(stageCountFor(COST_PER_SECOND * STAGE_SECONDS * 2)).toBe(Math.min(2, MAX_STAGES));
    const whole = (await (await compile(g, { threads: 1 })).run(feeds)).y!.data as Float32Array;
    const runner = await StagedRunner.compile(unet(size).g, ['y'], 'auto', { threads: 1 });
    expect(runner.stageCount).toBe(1);
    const reports: number[] = [];
    const y = (await runner.run(feeds, { onStage: (done) => reports.push(done) })).y!.data as Float32Array;
    expect(reports).toEqual([1]);
    expect(Array.from(y)).toEqual(Array.from(whole));
    await runner.release();
  });

  it('stops between stages when its signal fires', async () => {
    const runner = await StagedRunner.compile(unet(size).g, ['y'], 4, { threads: 1 });
    const abort = new AbortController();
    let ran = 0;
    const err = await runner
      .run(feeds, {
        signal: abort.signal,
        onStage: (done) => {
          ran++;
          if (ran === 2) abort.abort(new Error('stop'));
        },
      })
      .catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('E_ABORTED');
    expect(ran).toBe(2);
    await runner.release();
  });
});
