import { AtelierError, throwIfAborted } from '../core/errors.js';
import type { Graph, Tensor } from './graph/graph.js';
import { lowerGraph } from './graph/lower.js';
import { graphCost, MAX_CUT_SHARE, planStages, stageCountFor, type GraphStage } from './graph/stages.js';
import { compile, type Runner, type SessionOptions, type TensorValue } from './runtime.js';
import { SwitchedRunner } from './switched-runner.js';

/**
 * A graph run stage by stage (`graph/stages.ts`), one ONNX Runtime run per stage of a single
 * session that holds them all (`switched-runner.ts`): the same arithmetic as the whole graph,
 * with a progress report and a chance to stop between stages. One run holds the thread until it
 * is done (seconds for a megapixel image), so without stages a cancel waits for it and a progress
 * bar stands still. Values crossing a cut come out to JS and are fed back to the stages that read them.
 */

export interface StagedRunOptions {
  signal?: AbortSignal;
  /** Told after each stage: the share of the estimated cost done so far (0–1]. */
  onStage?: (done: number) => void;
}

export class StagedRunner {
  private constructor(
    private readonly stages: readonly GraphStage[],
    /** Each stage a part of one session (`s0`, `s1`, …), or the whole graph as `s0` when not cut. */
    private readonly runner: SwitchedRunner | Runner,
    /** The graph's outputs by name: the value each is. */
    private readonly outputs: Map<string, string>,
    /** For each value crossing a cut, the last stage that reads it (dropped after that stage). */
    private readonly lastReader: Map<string, number>,
  ) {}

  /**
   * Compile `g`'s `outputs` (by name) in at most `count` stages, all in one session
   * (`switched-runner.ts`); 'auto': as many as its estimated cost is worth (`stageCountFor`), cut
   * only where a cut costs at most `MAX_CUT_SHARE` of the run. One stage compiles the graph as it is.
   */
  static async compile(g: Graph, outputs: readonly string[], count: number | 'auto', options: SessionOptions = {}): Promise<StagedRunner> {
    const tensors = outputs.map((name) => {
      const t = g.outputs.get(name);
      if (!t) throw new AtelierError('E_INTERNAL', `Graph has no output ${name}`);
      return [name, t] as [string, Tensor];
    });
    const roots = tensors.map(([, t]) => t);
    const stages = count === 'auto' ? planStages(g, roots, stageCountFor(graphCost(g, roots)), { maxCutShare: MAX_CUT_SHARE }) : planStages(g, roots, count);
    // A session of its own (not the shared cache, where a large one would crowd the others out), released with the runner.
    if (stages.length === 1) {
      const runner = await compile(g, { ...options, cache: false, outputs: tensors.map(([name]) => name) });
      return new StagedRunner(stages, runner, new Map(tensors.map(([name]) => [name, name])), new Map());
    }
    const runner = await SwitchedRunner.compile(
      stages.map((stage, k) => ({ name: `s${k}`, graph: lowerGraph(g, { stage }).onnx })),
      options,
    );
    const lastReader = new Map<string, number>();
    stages.forEach((s, k) => s.fed.forEach((t) => lastReader.set(t.name, k)));
    return new StagedRunner(stages, runner, new Map(tensors.map(([name, t]) => [name, t.name])), lastReader);
  }

  get stageCount(): number {
    return this.stages.length;
  }

  /** Run every stage on `feeds` (the graph's inputs); returns the graph's outputs by name. */
  async run(feeds: Record<string, TensorValue>, o: StagedRunOptions = {}): Promise<Record<string, TensorValue>> {
    if (!(this.runner instanceof SwitchedRunner)) {
      throwIfAborted(o.signal);
      const out = await this.runner.run(feeds, [...this.outputs.keys()]);
      o.onStage?.(1);
      return out;
    }
    const values = new Map<string, TensorValue>(Object.entries(feeds));
    const kept = new Set(this.outputs.values());
    let done = 0;
    for (let k = 0; k < this.stages.length; k++) {
      throwIfAborted(o.signal);
      const stage = this.stages[k]!;
      const made = await this.runner.run(`s${k}`, Object.fromEntries(values), stage.results.map((t) => t.name));
      for (const [name, v] of Object.entries(made)) values.set(name, v);
      // Values no later stage reads are dropped at once: only what crosses the next cut stays.
      for (const t of stage.fed) if (this.lastReader.get(t.name) === k && !kept.has(t.name)) values.delete(t.name);
      done += stage.share;
      o.onStage?.(k === this.stages.length - 1 ? 1 : done);
    }
    const out: Record<string, TensorValue> = {};
    for (const [name, value] of this.outputs) out[name] = values.get(value)!;
    return out;
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}
