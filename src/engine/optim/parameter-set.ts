import { AtelierError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import type { Graph, Tensor } from '../graph/graph.js';
import type { TensorValue } from '../runtime.js';
import type { TensorMap, WeightTensor } from '../weights/tensor.js';

/**
 * The trainable weights of one or more networks laid out back to back in one Float32Array, by
 * name and shape: what Adam updates in place, what graphs compiled with `paramsAsInputs` are fed,
 * and what checkpoints and exported weight files hold. Networks declare their tensors as
 * `ParameterSpec`s with the initialisation their paper's code uses.
 */

export type ParameterInit =
  /** N(mean, std²), e.g. CycleGAN's init_weights('normal', 0.02). */
  | { kind: 'normal'; mean?: number; std: number }
  /** U(−bound, bound), e.g. PyTorch's default conv init (bound 1/√fan_in). */
  | { kind: 'uniform'; bound: number }
  | { kind: 'constant'; value: number };

/** A tensor's place in a set: its name and shape. */
export interface ParameterShape {
  name: string;
  shape: number[];
}

export interface ParameterSpec extends ParameterShape {
  init: ParameterInit;
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export class ParameterSet<S extends ParameterShape = ParameterSpec> {
  readonly data: Float32Array;
  readonly offsets: number[];
  private readonly index: Map<string, number>;

  constructor(readonly specs: S[]) {
    this.offsets = [];
    let total = 0;
    for (const s of specs) {
      this.offsets.push(total);
      total += sizeOf(s.shape);
    }
    this.data = new Float32Array(total);
    this.index = new Map(specs.map((s, i) => [s.name, i]));
    if (this.index.size !== specs.length) throw new AtelierError('E_INTERNAL', 'Two parameters share a name');
  }

  /** Tensors given their values (e.g. a base network's weights to fine-tune), copied in, in the given order. */
  static of(specs: ParameterShape[], values: ReadonlyMap<string, Float32Array>): ParameterSet<ParameterShape> {
    const set = new ParameterSet(specs);
    specs.forEach((s, i) => set.view(i).set(values.get(s.name)!));
    return set;
  }

  /** Every tensor drawn from its spec's initialisation, in spec order, from one seeded generator. */
  static initialised(specs: ParameterSpec[], seed: number): ParameterSet<ParameterSpec> {
    const set = new ParameterSet(specs);
    const rng = new Rng(seed);
    specs.forEach((s, i) => {
      const view = set.view(i);
      const init = s.init;
      for (let k = 0; k < view.length; k++) {
        view[k] = init.kind === 'constant' ? init.value : init.kind === 'uniform' ? rng.uniform(-init.bound, init.bound) : (init.mean ?? 0) + init.std * rng.normal();
      }
    });
    return set;
  }

  get size(): number {
    return this.data.length;
  }

  private view(i: number): Float32Array {
    return this.data.subarray(this.offsets[i]!, this.offsets[i]! + sizeOf(this.specs[i]!.shape));
  }

  /** A live view of one tensor's values. */
  get(name: string): Float32Array {
    const i = this.index.get(name);
    if (i === undefined) throw new AtelierError('E_INTERNAL', `No parameter ${name}`);
    return this.view(i);
  }

  /**
   * A lookup that adds each parameter to `g` on first use (a graph holds each weight once, however
   * often a network is applied): networks are built from such a lookup.
   */
  graphParams(g: Graph, prefix = ''): (name: string) => Tensor {
    const made = new Map<string, Tensor>();
    return (name) => {
      const full = prefix + name;
      let t = made.get(full);
      if (!t) {
        const i = this.index.get(full);
        if (i === undefined) throw new AtelierError('E_INTERNAL', `No parameter ${full}`);
        t = g.param(full, this.specs[i]!.shape, this.view(i));
        made.set(full, t);
      }
      return t;
    };
  }

  /**
   * The current values as feeds of a graph compiled with `paramsAsInputs`: live views, not copies
   * (ONNX Runtime reads them during the run and keeps nothing; a run is synchronous, so nothing
   * updates them meanwhile). Copying a CycleGAN's 16 M weights cost ~40 ms per step.
   */
  feeds(): Record<string, TensorValue> {
    const out: Record<string, TensorValue> = {};
    this.specs.forEach((s, i) => (out[s.name] = { data: this.view(i), shape: s.shape }));
    return out;
  }

  /**
   * Gradients of a run's outputs `grad:NAME` gathered into one flat array in this set's layout;
   * `into` (of this set's size) is reused instead of a fresh array, whose first touch of every
   * page costs as much again as the copy.
   */
  gatherGradients(outputs: Record<string, TensorValue>, into?: Float32Array): Float32Array {
    const out = into ?? new Float32Array(this.size);
    this.specs.forEach((s, i) => out.set(outputs[`grad:${s.name}`]!.data as Float32Array, this.offsets[i]!));
    return out;
  }

  /** The tensors (live views), optionally only those under `prefix`, renamed without it. */
  tensors(prefix = ''): WeightTensor[] {
    return this.specs.flatMap((s, i) => (s.name.startsWith(prefix) ? [{ name: s.name.slice(prefix.length), shape: s.shape, data: this.view(i) }] : []));
  }

  /**
   * Copy tensors in by name (under `prefix`); every parameter must be present with its shape, or
   * the file is refused with what was expected: a checkpoint of another architecture or width.
   */
  load(tensors: TensorMap, subject: string, prefix = ''): void {
    this.specs.forEach((s, i) => {
      if (!s.name.startsWith(prefix)) return;
      const key = s.name.slice(prefix.length);
      const t = tensors.get(key);
      if (!t) {
        throw new AtelierError('E_WEIGHTS_INVALID', `The weights lack ${key}`, {
          subject,
          expected: `the tensors of this network (${this.specs.length} in all, e.g. ${this.specs[0]!.name.slice(prefix.length)})`,
          received: `${tensors.size} tensors (${[...tensors.keys()].slice(0, 3).join(', ')}, …)`,
          hint: 'the file was written for another architecture; use the same --width, --blocks and layers it was trained with',
        });
      }
      if (t.shape.length !== s.shape.length || t.shape.some((d, k) => d !== s.shape[k])) {
        throw new AtelierError('E_WEIGHTS_INVALID', `Weight ${key} has another shape`, {
          subject,
          expected: `[${s.shape.join(', ')}]`,
          received: `[${t.shape.join(', ')}]`,
          hint: 'the file was written for another width or depth; use the --width, --blocks and layers it was trained with',
        });
      }
      this.view(i).set(t.data);
    });
  }
}
