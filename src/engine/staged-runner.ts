import { AtelierError, throwIfAborted } from '../core/errors.js';
import type { Graph, Tensor } from './graph/graph.js';
import { planStages, type GraphStage } from './graph/stages.js';
import { compile, type Runner, type SessionOptions, type TensorValue } from './runtime.js';

/**
 * A graph run as a sequence of ONNX Runtime sessions, one per stage (`graph/stages.ts`): the same
 * arithmetic as one session, with a progress report and a chance to stop between stages. One
 * session's run holds the thread until the whole network is done (seconds for a megapixel image),
 * so without stages a cancel waits for it and a progress bar stands still.
 */

export interface StagedRunOptions {
  signal?: AbortSignal;
  /** Told after each stage: stages done, of how many. */
  onStage?: (done: number, total: number) => void;
}

export class StagedRunner {
  private constructor(
    private readonly stages: { stage: GraphStage; runner: Runner }[],
    /** The graph's outputs by name: the value each is. */
    private readonly outputs: Map<string, string>,
    /** For each value crossing a cut, the last stage that reads it (freed after that stage). */
    private readonly lastReader: Map<string, number>,
  ) {}

  /** Compile `g`'s `outputs` (by name) in at most `count` stages. */
  static async compile(g: Graph, outputs: readonly string[], count: number, options: SessionOptions = {}): Promise<StagedRunner> {
    const tensors = outputs.map((name) => {
      const t = g.outputs.get(name);
      if (!t) throw new AtelierError('E_INTERNAL', `Graph has no output ${name}`);
      return [name, t] as [string, Tensor];
    });
    const stages = planStages(
      g,
      tensors.map(([, t]) => t),
      count,
    );
    // Sessions of their own (not the shared cache, which a network's stages would crowd out), released with the runner.
    const runners = await Promise.all(stages.map((stage) => compile(g, { ...options, cache: false, stage })));
    const lastReader = new Map<string, number>();
    stages.forEach((s, k) => s.fed.forEach((t) => lastReader.set(t.name, k)));
    return new StagedRunner(
      stages.map((stage, k) => ({ stage, runner: runners[k]! })),
      new Map(tensors.map(([name, t]) => [name, t.name])),
      lastReader,
    );
  }

  get stageCount(): number {
    return this.stages.length;
  }

  /** Run every stage on `feeds` (the graph's inputs); returns the graph's outputs by name. */
  async run(feeds: Record<string, TensorValue>, o: StagedRunOptions = {}): Promise<Record<string, TensorValue>> {
    const values = new Map<string, TensorValue>(Object.entries(feeds));
    for (let k = 0; k < this.stages.length; k++) {
      throwIfAborted(o.signal);
      const { stage, runner } = this.stages[k]!;
      const made = await runner.run(Object.fromEntries(values), stage.results.map((t) => t.name));
      for (const [name, v] of Object.entries(made)) values.set(name, v);
      // Values no later stage reads are dropped at once: only what crosses the next cut stays.
      for (const t of stage.fed) if (this.lastReader.get(t.name) === k && ![...this.outputs.values()].includes(t.name)) values.delete(t.name);
      o.onStage?.(k + 1, this.stages.length);
    }
    const out: Record<string, TensorValue> = {};
    for (const [name, value] of this.outputs) out[name] = values.get(value)!;
    return out;
  }

  async release(): Promise<void> {
    await Promise.all(this.stages.map((s) => s.runner.release()));
  }
}
