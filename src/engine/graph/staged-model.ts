import type { Graph } from './graph.js';
import { lowerGraph } from './lower.js';
import { attr, encodeModel, rawBytes, type OnnxGraph, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './onnx-model.js';
import type { GraphStage } from './stages.js';

/**
 * Every stage of a cut graph (`stages.ts`) in ONE ONNX model: stage k is the `then` branch of an If
 * taken when the int64 input `STAGE_INPUT` is k; the other Ifs take an empty `else`. One run
 * computes one stage, so a caller still reports and stops between stages, but every stage runs in
 * the same session: one memory arena reused by all of them (sessions of their own each kept their
 * own peak, or, freed after each run, faulted every activation in afresh: +18–47 % CPU on White-box).
 *
 * Names: a value made by one stage and read by a later one leaves its stage as the If output
 * `out:NAME` and comes back as the graph input `in:NAME`; a run of stage k is fed the `in:` values
 * it reads and is given stand-ins (zeros, never read) for the others. Each stage's own constants
 * and temporaries are prefixed with the stage, so the branches never share a name.
 */

export const STAGE_INPUT = 'stage';
export const fedName = (name: string): string => `in:${name}`;
export const resultName = (name: string): string => `out:${name}`;

export interface StagedModel {
  bytes: Uint8Array;
  /** Every input of the model: the graph's inputs the stages read, the `in:` values, then `STAGE_INPUT`. */
  inputs: OnnxValueInfo[];
  /** For each input but `STAGE_INPUT`, the graph value it takes (an `in:` input's value made by a stage). */
  valueOf: Map<string, string>;
}

export function emitStagedModel(g: Graph, stages: readonly GraphStage[]): StagedModel {
  const outerInputs = new Map<string, OnnxValueInfo>();
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  const outputs: OnnxValueInfo[] = [];
  const valueOf = new Map<string, string>();
  stages.forEach((stage, k) => {
    const { onnx } = lowerGraph(g, { stage });
    const fed = new Set(stage.fed.map((t) => t.name));
    const local = (name: string) => (name === '' ? name : fed.has(name) ? fedName(name) : /^_[cl]\d+$/.test(name) ? `_s${k}${name}` : name);
    for (const i of onnx.inputs) {
      const name = local(i.name);
      if (!outerInputs.has(name)) outerInputs.set(name, { ...i, name });
      valueOf.set(name, i.name);
    }
    const then: OnnxGraph = {
      name: `stage${k}`,
      nodes: onnx.nodes.map((n) => ({ ...n, inputs: n.inputs.map(local), outputs: n.outputs.map(local) })),
      initializers: onnx.initializers.map((t) => ({ ...t, name: local(t.name) })),
      inputs: [],
      outputs: onnx.outputs,
    };
    // The branch not taken: empty values of the same type and rank (an If's branches must agree on both).
    const empty: OnnxGraph = {
      name: `skip${k}`,
      nodes: onnx.outputs.map((o) => ({
        op: 'Constant',
        inputs: [],
        outputs: [`_s${k}_empty_${o.name}`],
        attrs: { value: attr.t({ name: '', dtype: o.dtype, dims: (o.dims ?? [0]).map(() => 0), raw: new Uint8Array(0) }) },
      })),
      initializers: [],
      inputs: [],
      outputs: onnx.outputs.map((o) => ({ ...o, name: `_s${k}_empty_${o.name}`, dims: (o.dims ?? [0]).map(() => 0) })),
    };
    const index = `_s${k}_index`;
    const taken = `_s${k}_taken`;
    initializers.push({ name: index, dtype: 'int64', dims: [], raw: rawBytes(BigInt64Array.of(BigInt(k))) });
    nodes.push({ op: 'Equal', inputs: [STAGE_INPUT, index], outputs: [taken] });
    nodes.push({
      op: 'If',
      inputs: [taken],
      outputs: onnx.outputs.map((o) => resultName(o.name)),
      attrs: { then_branch: attr.g(then), else_branch: attr.g(empty) },
    });
    for (const o of onnx.outputs) outputs.push({ name: resultName(o.name), dtype: o.dtype });
  });
  const inputs = [...outerInputs.values(), { name: STAGE_INPUT, dtype: 'int64' as const, dims: [] }];
  const bytes = encodeModel({ name: 'atelier-staged', nodes, initializers, inputs, outputs });
  return { bytes, inputs, valueOf };
}
