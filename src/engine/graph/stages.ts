import { AtelierError } from '../../core/errors.js';
import type { Graph, Node, Tensor } from './graph.js';

/**
 * A graph cut into stages run one after another (each one run of a session): between two stages a
 * run can report progress and stop when cancelled, which one ONNX Runtime call cannot (it holds the
 * thread until the whole network has run). Stages follow the graph's node order (the order it was
 * built in, a topological one) and are cut at equal shares of an estimated cost (multiply-adds of
 * convolutions and products, `VALUE_COST` per value written). What crosses a cut is every value an
 * earlier stage made that a later one reads (a U-Net's skips included); values computed from
 * weights alone are left to each stage that reads them (ONNX Runtime folds them anyway).
 */

export interface GraphStage {
  /** Values this stage is fed: made by earlier stages. */
  fed: Tensor[];
  /** Values this stage makes that later stages (or the graph's outputs) read. */
  results: Tensor[];
  /** Its share of the estimated cost of the whole graph. */
  share: number;
}

/**
 * What a value written costs beside one multiply-add: elementwise ops, pads, norms and copies are
 * bound by memory traffic, convolutions by arithmetic that runs many multiply-adds per cycle, and
 * stages run in lean sessions fault their activations in afresh each run. At 30 to 1 the first
 * stage of Magenta's multi-style net, White-box and Magenta's arbitrary transfer net at 1024² took
 * 1.0–1.25× its share of the time (at 10 to 1 the multi-style net's first third took 2.35×).
 */
const VALUE_COST = 30;

/** Multiply-adds of a node, roughly, plus its values written: what its run time follows. */
function nodeCost(n: Node): number {
  const out = n.outputs[0]!;
  const elements = VALUE_COST * out.shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1);
  if (n.op === 'conv' || n.op === 'convTranspose') {
    // Weights [out, in/groups, kh, kw] (conv) or [in, out/groups, kh, kw] (transposed): each output value sums over one filter.
    const w = n.inputs[1]!.shape.map((d) => (typeof d === 'number' ? d : 1));
    const perValue = n.op === 'conv' ? w[1]! * w[2]! * w[3]! : (w[0]! * w[2]! * w[3]!) / Math.max(1, w[1]!);
    return elements + (elements / VALUE_COST) * perValue;
  }
  if (n.op === 'matmul') {
    const a = n.inputs[0]!.shape;
    const k = a[a.length - 1];
    return elements + (elements / VALUE_COST) * (typeof k === 'number' ? k : 1);
  }
  return elements;
}

/**
 * What one value crossing a cut costs, in the unit of `nodeCost`: ONNX Runtime writes it out of its
 * blocked layout, the Node binding copies it into a fresh JS buffer (faulted in afresh each run once
 * it is over glibc's 32 MB mmap threshold), and the next stage reorders it back. Measured on
 * White-box 1024² in two stages (one session, one thread): the 56 M values crossing its one cut
 * (the U-Net's skips at full and half resolution, and the bottleneck) cost 0.39 s of CPU, 7 ns
 * each, about 350 units at `COST_PER_SECOND`.
 */
const CROSSING_COST = 350;
/** The most one cut may cost in an automatic plan, as a share of the run's estimated cost. */
export const MAX_CUT_SHARE = 0.025;

/** Ops whose output ONNX Runtime fuses into the activation or sum that reads it: a cut after one loses that fusion. */
const FUSED_INTO_NEXT = new Set<string>(['conv', 'convTranspose', 'matmul']);

interface Work {
  /** The nodes the outputs need, not computable from weights alone, in graph order. */
  nodes: Node[];
  costs: number[];
  total: number;
  fixed: Set<number>;
}

function workOf(g: Graph, outputs: readonly Tensor[]): Work {
  // Values known from weights alone, and the nodes the outputs need.
  const fixed = new Set<number>();
  for (const t of g.tensors) if (t.kind === 'constant' || t.kind === 'param') fixed.add(t.id);
  for (const n of g.nodes) if (n.inputs.length > 0 && n.inputs.every((t) => fixed.has(t.id))) for (const o of n.outputs) fixed.add(o.id);
  const needed = new Set<number>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (needed.has(t.id)) continue;
    needed.add(t.id);
    if (t.producer) stack.push(...t.producer.inputs);
  }
  const nodes = g.nodes.filter((n) => n.outputs.some((o) => needed.has(o.id)) && !n.outputs.every((o) => fixed.has(o.id)));
  const costs = nodes.map(nodeCost);
  return { nodes, costs, total: costs.reduce((a, b) => a + b, 0), fixed };
}

/**
 * The estimated cost of computing `outputs`: multiply-adds plus `VALUE_COST` per value written
 * (the unit of `COST_PER_SECOND`).
 */
export function graphCost(g: Graph, outputs: readonly Tensor[]): number {
  return workOf(g, outputs).total;
}

/**
 * Estimated cost one thread gets through in a second: ONNX Runtime's single-session runs on this
 * project's host (AMD EPYC, one thread, CPU time): White-box 512² is 3.7e10 units in 0.67–0.69 s,
 * AnimeGAN 512² 1.4e11 in 2.7–2.9 s. A rough figure: it only decides how many stages a run is cut into.
 */
export const COST_PER_SECOND = 5e10;
/**
 * One-thread seconds a stage aims at, and the most stages a run is cut into: each cut costs what
 * crosses it (`CROSSING_COST`; White-box 512² in one session, 2 stages +5 % CPU, 4 stages +9 %),
 * so a run is cut only where a stage would still take a second and a half, into 3 at most.
 */
export const STAGE_SECONDS = 1.5;
export const MAX_STAGES = 3;

/** How many stages a run of this estimated cost is cut into (1: not cut). */
export function stageCountFor(cost: number): number {
  return Math.max(1, Math.min(MAX_STAGES, Math.round(cost / (COST_PER_SECOND * STAGE_SECONDS))));
}

/**
 * Cut `g` (as far as `outputs` need it) into at most `count` stages of about equal cost. Fewer
 * come back when the graph has fewer nodes worth a stage, or, with `maxCutShare`, where a cut would
 * cost more than that share of the whole run (`CROSSING_COST` per value crossing it).
 */
export function planStages(g: Graph, outputs: readonly Tensor[], count: number, o: { maxCutShare?: number } = {}): GraphStage[] {
  // Each cut costs: every value crossing it is reordered out of ORT's blocked layout, copied out
  // of one session, into the next and reordered back, and a conv cut from its activation or sum
  // runs both unfused. So cuts go where the least crosses (a U-Net's full-resolution skip crosses
  // every cut whatever, a bottleneck's small values cost little) and never right after a conv.
  if (!(count >= 1)) throw new AtelierError('E_INTERNAL', `A graph is cut into at least one stage, not ${count}`);
  const { nodes: work, costs, total: sum, fixed } = workOf(g, outputs);
  const total = sum || 1;
  // What crossing a cut after node i costs: the values made at or before i and read after it
  // (each is copied out of one session and into the next).
  const lastRead = new Map<number, number>();
  work.forEach((n, i) => n.inputs.forEach((t) => lastRead.set(t.id, i)));
  for (const t of outputs) lastRead.set(t.id, work.length);
  const live = new Float64Array(work.length + 1);
  work.forEach((n, i) => {
    for (const o of n.outputs) {
      const end = lastRead.get(o.id);
      if (end === undefined || end <= i) continue;
      const size = o.shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1);
      live[i] += size;
      live[end] -= size;
    }
  });
  for (let i = 1; i < live.length; i++) live[i] += live[i - 1]!;
  // Cut near each k/count of the cost, where the least crosses: within a third of a stage's
  // cost either side (stages within about 2× of each other; progress reports each stage's share
  // of the cost, so an uneven cut does not mislead the time left).
  const before = new Float64Array(work.length);
  costs.reduce((acc, c, i) => (before[i] = acc + c), 0);
  const cuts: number[] = [];
  for (let k = 1; k < count; k++) {
    const target = (total * k) / count;
    const reach = total / count / 3;
    let best = -1;
    for (let i = (cuts.at(-1) ?? -1) + 1; i < work.length - 1; i++) {
      if (before[i]! < target - reach) continue;
      if (before[i]! > target + reach) break;
      if (FUSED_INTO_NEXT.has(work[i]!.op)) continue;
      if (best < 0 || live[i]! < live[best]! || (live[i] === live[best] && Math.abs(before[i]! - target) < Math.abs(before[best]! - target))) best = i;
    }
    // A cut dearer than its share of the budget is not made: the run keeps fewer, bigger stages.
    if (best >= 0 && live[best]! * CROSSING_COST <= (o.maxCutShare ?? Infinity) * total) cuts.push(best);
  }
  const stageOf = new Map<number, number>();
  let stage = 0;
  work.forEach((n, i) => {
    stageOf.set(n.id, stage);
    if (cuts[stage] === i) stage++;
  });
  const used = Math.max(...stageOf.values()) + 1;
  const stages: GraphStage[] = Array.from({ length: used }, () => ({ fed: [], results: [], share: 0 }));
  work.forEach((n, i) => (stages[stageOf.get(n.id)!]!.share += costs[i]! / total));
  // A value crosses from the stage that made it to each later stage that reads it.
  const crossing = new Map<number, { tensor: Tensor; from: number; readers: Set<number> }>();
  const cross = (t: Tensor, reader: number) => {
    if (fixed.has(t.id) || !t.producer) return;
    const from = stageOf.get(t.producer.id);
    if (from === undefined || from === reader) return;
    let c = crossing.get(t.id);
    if (!c) crossing.set(t.id, (c = { tensor: t, from, readers: new Set() }));
    c.readers.add(reader);
  };
  for (const n of work) for (const t of n.inputs) cross(t, stageOf.get(n.id)!);
  for (const t of outputs) cross(t, used);
  for (const c of crossing.values()) {
    if (c.tensor.shape.some((d) => typeof d !== 'number')) {
      throw new AtelierError('E_INTERNAL', `A graph with sizes given at run time cannot be cut into stages (${c.tensor.name})`);
    }
    stages[c.from]!.results.push(c.tensor);
    for (const r of c.readers) if (r < used) stages[r]!.fed.push(c.tensor);
  }
  return stages;
}
