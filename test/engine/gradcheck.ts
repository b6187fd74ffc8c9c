import { Rng } from '../../src/core/rng.js';
import { grad } from '../../src/engine/autodiff/grad.js';
import { Graph, type Tensor } from '../../src/engine/graph/graph.js';
import type { EmitOptions } from '../../src/engine/graph/lower.js';
import { compile, type TensorValue } from '../../src/engine/runtime.js';
import { evaluate, type Nd } from './reference.js';

/**
 * Gradient check: the engine's backward graph (ORT, float32) against central differences of the
 * float64 reference interpreter. The loss is Σ y·R with a fixed random R, so every output element
 * contributes. Returns the worst error relative to the largest gradient of that tensor.
 */
export interface CheckResult {
  worst: number;
  perTensor: Record<string, number>;
}

export async function gradientCheck(
  build: (g: Graph) => Tensor,
  feedShapes: Record<string, number[]>,
  options: { seed?: number; samples?: number; lo?: number; hi?: number; lowering?: EmitOptions } = {},
): Promise<CheckResult> {
  const rng = new Rng(options.seed ?? 3);
  const lo = options.lo ?? -1;
  const hi = options.hi ?? 1;
  const g = new Graph();
  const y = build(g);
  const fixedShape = y.shape.every((d) => typeof d === 'number');
  const feeds: Record<string, Nd> = {};
  for (const t of g.inputs) {
    const shape = feedShapes[t.name]!;
    const n = shape.reduce((a, b) => a * b, 1);
    feeds[t.name] = { data: Float64Array.from({ length: n }, () => rng.uniform(lo, hi)), shape };
  }
  // y's run-time shape, from the reference, sizes the random weights R.
  const yShape = evaluate(g, y, feeds).shape;
  const rValues = Array.from({ length: yShape.reduce((a, b) => a * b, 1) }, () => rng.uniform(-1, 1));
  const r = g.constant(rValues, yShape);
  const yr = fixedShape ? y : g.reshapeLike(y, r);
  const loss = g.sumAll(g.mul(yr, r));
  const wrt = [...g.inputs, ...g.params];
  const grads = grad(g, loss, wrt);
  wrt.forEach((t, i) => g.output(`grad_${t.name}`, grads[i]!));
  // `lowering` can make the params graph inputs (as training graphs do): they are fed their values.
  const runner = await compile(g, { threads: 1, ...options.lowering });
  const ortFeeds: Record<string, TensorValue> = {};
  for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = { data: Float32Array.from(v.data), shape: v.shape };
  if (options.lowering?.paramsAsInputs) for (const t of g.params) ortFeeds[t.name] = { data: g.data.get(t.id) as Float32Array, shape: t.shape as number[] };
  const analytic = await runner.run(ortFeeds);

  const perTensor: Record<string, number> = {};
  const eps = 1e-6;
  for (const t of wrt) {
    const base: Nd =
      t.kind === 'input' ? feeds[t.name]! : { data: Float64Array.from(g.data.get(t.id) as Float32Array), shape: t.shape as number[] };
    const a = analytic[`grad_${t.name}`]!;
    if (a.data.length !== base.data.length) throw new Error(`gradient of ${t.name} has ${a.data.length} values, expected ${base.data.length}`);
    const count = Math.min(base.data.length, options.samples ?? 24);
    const picks = base.data.length <= count ? Array.from({ length: count }, (_, i) => i) : Array.from({ length: count }, () => rng.int(base.data.length));
    let maxRef = 0;
    let maxErr = 0;
    for (const k of picks) {
      const orig = base.data[k]!;
      const at = (v: number) => {
        const data = base.data.slice();
        data[k] = v;
        return evaluate(g, loss, { ...feeds, [t.name]: { data, shape: base.shape } }).data[0]!;
      };
      const numeric = (at(orig + eps) - at(orig - eps)) / (2 * eps);
      maxRef = Math.max(maxRef, Math.abs(numeric));
      maxErr = Math.max(maxErr, Math.abs(numeric - Number(a.data[k])));
    }
    perTensor[t.name] = maxErr / Math.max(maxRef, 1e-3);
  }
  return { worst: Math.max(...Object.values(perTensor)), perTensor };
}
