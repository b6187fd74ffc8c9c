import { attr, encodeModel, rawBytes, type OnnxGraph, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './onnx-model.js';

/**
 * Several graphs in ONE ONNX model, one of them computed per run: part k is the `then` branch of an
 * If taken when the int64 input `PART_INPUT` is k, every other If takes an empty `else`. One session
 * then holds them all, and its one memory arena serves each in turn: sessions of their own would
 * each keep their own arena's peak (or, freed after each run, fault every activation in afresh).
 * Used for the stages of one graph (`staged-runner.ts`) and for networks run in pieces (MicroAST).
 *
 * Names: everything of part p is prefixed `p/` (its inputs too, which the branch reads from the
 * outer graph), so the branches never share a name; part p's output `y` leaves as `p:y`. A run of
 * one part is given stand-ins for the other parts' inputs (`standInShape`: never read).
 */

export const PART_INPUT = 'part';
export const partInput = (part: string, name: string): string => `${part}/${name}`;
export const partOutput = (part: string, name: string): string => `${part}:${name}`;

export interface SwitchedModel {
  bytes: Uint8Array;
  /** Every input: each part's own (`partInput` names, with their declared types and dims), then `PART_INPUT`. */
  inputs: OnnxValueInfo[];
  /** Every output (`partOutput` names). */
  outputs: string[];
}

export function emitSwitchedModel(parts: readonly { name: string; graph: OnnxGraph }[]): SwitchedModel {
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  const inputs: OnnxValueInfo[] = [];
  const outputs: OnnxValueInfo[] = [];
  parts.forEach(({ name: p, graph }, k) => {
    const local = (name: string) => (name === '' ? name : partInput(p, name));
    for (const i of graph.inputs) inputs.push({ ...i, name: local(i.name) });
    const then: OnnxGraph = {
      name: `${p}`,
      nodes: graph.nodes.map((n) => ({ ...n, inputs: n.inputs.map(local), outputs: n.outputs.map(local) })),
      initializers: graph.initializers.map((t) => ({ ...t, name: local(t.name) })),
      inputs: [],
      outputs: graph.outputs.map((o) => ({ ...o, name: local(o.name) })),
    };
    // The branch not taken: empty values of the same type and rank (an If's branches must agree on both).
    const emptyDims = (o: OnnxValueInfo) => (o.dims ?? [0]).map(() => 0);
    const empty: OnnxGraph = {
      name: `${p}-skipped`,
      nodes: graph.outputs.map((o) => ({
        op: 'Constant',
        inputs: [],
        outputs: [`${p}/skipped:${o.name}`],
        attrs: { value: attr.t({ name: '', dtype: o.dtype, dims: emptyDims(o), raw: new Uint8Array(0) }) },
      })),
      initializers: [],
      inputs: [],
      outputs: graph.outputs.map((o) => ({ ...o, name: `${p}/skipped:${o.name}`, dims: emptyDims(o) })),
    };
    const index = `${p}/index`;
    const taken = `${p}/taken`;
    initializers.push({ name: index, dtype: 'int64', dims: [], raw: rawBytes(BigInt64Array.of(BigInt(k))) });
    nodes.push({ op: 'Equal', inputs: [PART_INPUT, index], outputs: [taken] });
    nodes.push({ op: 'If', inputs: [taken], outputs: graph.outputs.map((o) => partOutput(p, o.name)), attrs: { then_branch: attr.g(then), else_branch: attr.g(empty) } });
    for (const o of graph.outputs) outputs.push({ name: partOutput(p, o.name), dtype: o.dtype });
  });
  inputs.push({ name: PART_INPUT, dtype: 'int64', dims: [] });
  const bytes = encodeModel({ name: 'atelier-switched', nodes, initializers, inputs, outputs });
  return { bytes, inputs, outputs: outputs.map((o) => o.name) };
}

/** The shape of a stand-in for an input a run does not read: declared sizes, 1 for symbolic ones. */
export function standInShape(i: OnnxValueInfo): number[] {
  return (i.dims ?? []).map((d) => (typeof d === 'number' ? d : 1));
}
