import { AtelierError } from '../../core/errors.js';
import type { Graph, Tensor } from '../graph/graph.js';
import { BACKWARD_RULES } from './rules.js';

/**
 * Reverse-mode automatic differentiation over the builder's ops. `grad` appends the backward graph
 * to `g` (so forward values are shared, not recomputed) and returns, for each tensor in `wrt`, a
 * tensor holding d(loss)/d(that tensor). `loss` must have one element.
 */
export function grad(g: Graph, loss: Tensor, wrt: Tensor[]): Tensor[] {
  if (loss.shape.some((d) => d !== 1)) {
    throw new AtelierError('E_ENGINE', `The loss must be a single number`, { received: `${loss}` });
  }
  // Nodes that lie on a path from some `wrt` to the loss.
  const fromWrt = new Set(wrt.map((t) => t.id));
  for (const n of g.nodes) if (n.inputs.some((t) => fromWrt.has(t.id))) for (const o of n.outputs) fromWrt.add(o.id);
  if (!fromWrt.has(loss.id)) {
    return wrt.map((t) => g.scale(t, 0));
  }
  const toLoss = new Set([loss.id]);
  const lastNode = loss.producer!.id;
  for (let i = lastNode; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (n.outputs.some((o) => toLoss.has(o.id))) for (const t of n.inputs) toLoss.add(t.id);
  }

  const grads = new Map<number, Tensor>();
  const accumulate = (t: Tensor, gt: Tensor) => {
    const prev = grads.get(t.id);
    grads.set(t.id, prev ? g.add(prev, gt) : gt);
  };
  accumulate(loss, g.constant(new Array(1).fill(1), loss.shape as number[]));

  for (let i = lastNode; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (!n.outputs.some((o) => fromWrt.has(o.id) && toLoss.has(o.id))) continue;
    const gys = n.outputs.map((o) => grads.get(o.id));
    if (gys.every((x) => x === undefined)) continue;
    const rule = BACKWARD_RULES[n.op];
    if (!rule) {
      const what = n.op === 'onnx' ? `ONNX op ${String(n.attrs.opType)}` : `op ${n.op}`;
      throw new AtelierError('E_ENGINE', `No backward rule for ${what}`, { hint: 'differentiate a graph built from the named builder ops' });
    }
    const gxs = rule(g, n, gys);
    n.inputs.forEach((t, k) => {
      const gx = gxs[k];
      if (gx && fromWrt.has(t.id) && toLoss.has(t.id)) accumulate(t, gx);
    });
  }
  return wrt.map((t) => grads.get(t.id) ?? g.scale(t, 0));
}
