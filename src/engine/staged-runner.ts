import { AtelierError, throwIfAborted } from '../core/errors.js';
import type { Graph, Tensor } from './graph/graph.js';
import type { OnnxValueInfo } from './graph/onnx-model.js';
import { emitStagedModel, resultName, STAGE_INPUT } from './graph/staged-model.js';
import { graphCost, MAX_CUT_SHARE, planStages, stageCountFor, type GraphStage } from './graph/stages.js';
import { compile, type Runner, type SessionOptions, type TensorValue } from './runtime.js';

/**
 * A graph run stage by stage (`graph/stages.ts`), one ONNX Runtime run per stage of a single
 * session that holds them all (`graph/staged-model.ts`): the same arithmetic as the whole graph,
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
  /** Zero stand-ins for the `in:` values a stage does not read, by shape and type (never touched: not resident). */
  private readonly standIns = new Map<string, TensorValue>();

  private constructor(
    private readonly stages: readonly GraphStage[],
    private readonly runner: Runner,
    private readonly inputs: readonly OnnxValueInfo[],
    /** For each input but the stage index, the value it takes. */
    private readonly valueOf: ReadonlyMap<string, string>,
    /** The graph's outputs by name: the value each is. */
    private readonly outputs: Map<string, string>,
    /** For each value crossing a cut, the last stage that reads it (dropped after that stage). */
    private readonly lastReader: Map<string, number>,
  ) {}

  /**
   * Compile `g`'s `outputs` (by name) in at most `count` stages, all in one session
   * (`graph/staged-model.ts`); 'auto': as many as its estimated cost is worth (`stageCountFor`), cut
   * only where a cut costs at most `MAX_CUT_SHARE` of the run.
   * One stage compiles the graph as it is.
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
      return new StagedRunner(stages, runner, [], new Map(), new Map(tensors.map(([name]) => [name, name])), new Map());
    }
    const model = emitStagedModel(g, stages);
    const outputNames = stages.flatMap((s) => s.results.map((t) => resultName(t.name)));
    const runner = await compile({ bytes: model.bytes, inputs: model.inputs.map((i) => i.name), outputs: outputNames }, { ...options, cache: false });
    const lastReader = new Map<string, number>();
    stages.forEach((s, k) => s.fed.forEach((t) => lastReader.set(t.name, k)));
    return new StagedRunner(stages, runner, model.inputs, model.valueOf, new Map(tensors.map(([name, t]) => [name, t.name])), lastReader);
  }

  get stageCount(): number {
    return this.stages.length;
  }

  /** Run every stage on `feeds` (the graph's inputs); returns the graph's outputs by name. */
  async run(feeds: Record<string, TensorValue>, o: StagedRunOptions = {}): Promise<Record<string, TensorValue>> {
    if (this.stages.length === 1) {
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
      const stageFeeds: Record<string, TensorValue> = { [STAGE_INPUT]: { data: BigInt64Array.of(BigInt(k)), shape: [] } };
      for (const i of this.inputs) {
        if (i.name === STAGE_INPUT) continue;
        stageFeeds[i.name] = values.get(this.valueOf.get(i.name)!) ?? this.standIn(i);
      }
      const made = await this.runner.run(
        stageFeeds,
        stage.results.map((t) => resultName(t.name)),
      );
      for (const t of stage.results) values.set(t.name, made[resultName(t.name)]!);
      // Values no later stage reads are dropped at once: only what crosses the next cut stays.
      for (const t of stage.fed) if (this.lastReader.get(t.name) === k && !kept.has(t.name)) values.delete(t.name);
      done += stage.share;
      o.onStage?.(k === this.stages.length - 1 ? 1 : done);
    }
    const out: Record<string, TensorValue> = {};
    for (const [name, value] of this.outputs) out[name] = values.get(value)!;
    return out;
  }

  private standIn(i: OnnxValueInfo): TensorValue {
    const shape = (i.dims ?? []).map((d) => (typeof d === 'number' ? d : 1));
    const key = `${i.dtype} ${shape.join('x')}`;
    let v = this.standIns.get(key);
    if (!v) {
      const n = shape.reduce((a, d) => a * d, 1);
      const data = i.dtype === 'float64' ? new Float64Array(n) : i.dtype === 'int64' ? new BigInt64Array(n) : new Float32Array(n);
      this.standIns.set(key, (v = { data, shape }));
    }
    return v;
  }

  async release(): Promise<void> {
    this.standIns.clear();
    await this.runner.release();
  }
}
