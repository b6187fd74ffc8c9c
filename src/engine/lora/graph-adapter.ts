import { AtelierError } from '../../core/errors.js';
import type { FloatArray, Graph, ParamHook, Tensor } from '../graph/graph.js';
import { baseFingerprint, fanIn, type WeightedAdapter } from './adapter.js';

/**
 * LoRA inside engine graphs, through `Graph.paramHook`: every network in the engine declares its
 * weights with `Graph.param` (the fast-style nets, MicroAST, and the TFLite / GraphDef importers
 * for Magenta's and AnimeGAN's networks), so one hook adapts any of them without knowing its
 * architecture. The weight a conv then reads is W + Σᵢ sᵢ·reshape(Bᵢ·Aᵢ): with the base and the
 * adapters as initializers ONNX Runtime folds it once when the session starts (run time), and with
 * A and B as graph inputs it is what a LoRA training step differentiates.
 */

const sameShape = (p: readonly number[], q: readonly number[]) => p.length === q.length && p.every((d, i) => d === q[i]);

/** ΔW = scale·reshape(B·A, shape) as graph nodes. */
function deltaNode(g: Graph, a: Tensor, b: Tensor, shape: number[], scale: number): Tensor {
  return g.scale(g.reshape(g.matmul(b, a), shape), scale);
}

export interface RuntimeLora {
  /** Set as `graph.paramHook` (or `ImportOptions.paramHook`) before the network is built. */
  hook: ParamHook;
  /**
   * After the build: refuses a stack with a layer the network never declared (an adapter for
   * another network), and returns the adapters whose base fingerprint differs from these weights.
   */
  finish(): WeightedAdapter[];
}

/**
 * Apply a weighted stack of adapters at run time. A base weight named by an adapter layer but of
 * another shape is refused with both shapes (E_WEIGHTS_INVALID), as the build declares it.
 */
export function runtimeLora(stack: readonly WeightedAdapter[], baseName: string): RuntimeLora {
  const byName = new Map<string, { index: number; w: WeightedAdapter; layer: WeightedAdapter['adapter']['layers'][number] }[]>();
  stack.forEach((w, index) => {
    for (const layer of w.adapter.layers) {
      const list = byName.get(layer.name) ?? [];
      list.push({ index, w, layer });
      byName.set(layer.name, list);
    }
  });
  const seen = new Map<string, { name: string; shape: number[]; data: FloatArray }>();
  const hook: ParamHook = (g, name, shape, data) => {
    const list = byName.get(name);
    if (!list) return undefined;
    let weight = g.param(name, shape, data);
    for (const { index, w, layer } of list) {
      if (!sameShape(shape, layer.shape)) {
        throw new AtelierError('E_WEIGHTS_INVALID', `The LoRA ${w.source} was made for another base: ${name} is [${layer.shape.join(', ')}] in it, [${shape.join(', ')}] in ${baseName}`, {
          subject: w.source,
          expected: `${name} [${shape.join(', ')}] (the shape in ${baseName})`,
          received: `[${layer.shape.join(', ')}] (the shape in ${w.adapter.base}, the adapter's base)`,
          hint: `use it with ${w.adapter.base}`,
        });
      }
      const r = w.adapter.rank;
      const a = g.param(`${name}.lora${index}_A`, [r, fanIn(shape)], layer.a);
      const b = g.param(`${name}.lora${index}_B`, [shape[0]!, r], layer.b);
      weight = g.add(weight, deltaNode(g, a, b, shape, (w.weight * w.adapter.alpha) / r));
    }
    seen.set(name, { name, shape, data });
    return weight;
  };
  return {
    hook,
    finish() {
      for (const [name, list] of byName) {
        if (seen.has(name)) continue;
        const w = list[0]!.w;
        throw new AtelierError('E_WEIGHTS_INVALID', `The LoRA ${w.source} was made for another network: ${baseName} has no weight ${name}`, {
          subject: w.source,
          expected: `an adapter for ${baseName}`,
          received: `an adapter for ${w.adapter.base} changing ${name} [${list[0]!.layer.shape.join(', ')}]`,
          hint: `use it with ${w.adapter.base}`,
        });
      }
      return stack.filter((w) => w.adapter.baseSha256 && baseFingerprint(w.adapter.layers.map((l) => seen.get(l.name)!)) !== w.adapter.baseSha256);
    },
  };
}

/** What a training graph trains (LoRA: A and B as params, W frozen; ΔW enters through `Graph.withLowRank`). */
export type TrainableSet =
  /** LoRA pairs on these weights, base frozen: A, B as params named `<weight>.lora_A` / `.lora_B`. */
  | { kind: 'lora'; targets: ReadonlyMap<string, { a: Float32Array; b: Float32Array }>; rank: number; alpha: number }
  /** Only the weights this accepts (e.g. the instance norms' scales and shifts), the rest frozen. */
  | { kind: 'subset'; trainable: (name: string) => boolean }
  /** Every weight (full fine-tuning). */
  | { kind: 'all' };

/**
 * A hook that freezes a network for training: frozen weights become constants of the graph (so
 * ONNX Runtime can pre-pack them, and autodiff never builds their gradients), trainable ones stay
 * params (graph inputs when emitted with `paramsAsInputs`). Returns the names of the params the
 * built graph will train, in declaration order, as `trained` (filled during the build).
 */
export function trainingHook(set: TrainableSet): { hook: ParamHook | undefined; trained: string[] } {
  const trained: string[] = [];
  if (set.kind === 'all') {
    // No hook: every declared weight is a param; the caller reads `graph.params`.
    return { hook: undefined, trained };
  }
  const hook: ParamHook = (g, name, shape, data) => {
    if (set.kind === 'subset') {
      if (!set.trainable(name)) return g.constant(data, shape);
      trained.push(name);
      return g.param(name, shape, data);
    }
    const frozen = g.constant(data, shape);
    const pair = set.targets.get(name);
    if (!pair) return frozen;
    const a = g.param(`${name}.lora_A`, [set.rank, fanIn(shape)], pair.a);
    const b = g.param(`${name}.lora_B`, [shape[0]!, set.rank], pair.b);
    trained.push(a.name, b.name);
    // A conv reading it computes the update as a rank-r side branch (Graph.conv), so a step pays
    // for no full-size weight gradient; other uses read W + ΔW.
    return g.withLowRank(frozen, [{ a, b, scale: set.alpha / set.rank }]);
  };
  return { hook, trained };
}
