import { AtelierError } from '../core/errors.js';
import type { OnnxGraph, OnnxValueInfo } from './graph/onnx-model.js';
import { emitSwitchedModel, PART_INPUT, partInput, partOutput, standInShape } from './graph/switched-model.js';
import { compile, type Runner, type SessionOptions, type TensorValue } from './runtime.js';

/**
 * Several graphs compiled into one ONNX Runtime session (`graph/switched-model.ts`), run one at a
 * time by name: one memory arena for all of them, one session to open. What a caller runs in
 * pieces (a network cut where it needs whole-image statistics, the stages of a graph) gets the
 * arena's reuse without a session, and an arena, per piece.
 */

/** One part of a switched session, run like a session of its own (feeds and outputs by its own names). */
export interface PartRunner {
  run(feeds: Record<string, TensorValue>, fetches?: string[]): Promise<Record<string, TensorValue>>;
}

export class SwitchedRunner {
  /** Zero stand-ins for the inputs a run does not read, by type and shape (never touched: not resident). */
  private readonly standIns = new Map<string, TensorValue>();

  private constructor(
    private readonly runner: Runner,
    private readonly parts: ReadonlyMap<string, { index: number; inputs: OnnxValueInfo[]; outputs: string[] }>,
    private readonly inputs: readonly OnnxValueInfo[],
  ) {}

  /** Compile the parts (graphs lowered with `lowerGraph`, outputs with their shapes) into one uncached session. */
  static async compile(parts: readonly { name: string; graph: OnnxGraph }[], options: SessionOptions = {}): Promise<SwitchedRunner> {
    const model = emitSwitchedModel(parts);
    // A session of its own (not the shared cache, where a large one would crowd the others out), released with the runner.
    const runner = await compile({ bytes: model.bytes, inputs: model.inputs.map((i) => i.name), outputs: model.outputs }, { ...options, cache: false });
    const index = new Map(
      parts.map(({ name, graph }, k) => [name, { index: k, inputs: graph.inputs.map((i) => ({ ...i })), outputs: graph.outputs.map((o) => o.name) }] as const),
    );
    return new SwitchedRunner(runner, index, model.inputs);
  }

  /** Run part `name` on `feeds` (its inputs by its own names); returns its outputs (or those in `fetches`). */
  async run(name: string, feeds: Record<string, TensorValue>, fetches?: readonly string[]): Promise<Record<string, TensorValue>> {
    const part = this.parts.get(name);
    if (!part) {
      throw new AtelierError('E_ENGINE', `No graph named ${name} in this switched session`, {
        expected: [...this.parts.keys()].join(', '),
        received: name,
      });
    }
    const all: Record<string, TensorValue> = { [PART_INPUT]: { data: BigInt64Array.of(BigInt(part.index)), shape: [] } };
    for (const i of this.inputs) if (i.name !== PART_INPUT) all[i.name] = this.standIn(i);
    for (const i of part.inputs) {
      const v = feeds[i.name];
      if (!v) {
        throw new AtelierError('E_ENGINE', `Missing input ${i.name} for the graph ${name}`, {
          expected: `feeds for ${part.inputs.map((x) => x.name).join(', ')}`,
          received: Object.keys(feeds).join(', ') || 'no feeds',
        });
      }
      all[partInput(name, i.name)] = v;
    }
    const wanted = fetches ?? part.outputs;
    const made = await this.runner.run(
      all,
      wanted.map((o) => partOutput(name, o)),
    );
    const out: Record<string, TensorValue> = {};
    for (const o of wanted) out[o] = made[partOutput(name, o)]!;
    return out;
  }

  /** Part `name` as a runner of its own. */
  part(name: string): PartRunner {
    return { run: (feeds, fetches) => this.run(name, feeds, fetches) };
  }

  private standIn(i: OnnxValueInfo): TensorValue {
    const shape = standInShape(i);
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
