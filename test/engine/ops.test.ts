import { describe, expect, it } from 'vitest';
import { BACKWARD_RULES } from '../../src/engine/autodiff/rules.js';
import { Graph } from '../../src/engine/graph/graph.js';
import { LOWERED_OPS } from '../../src/engine/graph/lower.js';
import { OP_NAMES } from '../../src/engine/graph/ops.js';
import { INTERPRETER } from './reference.js';

/**
 * Every op of the builder has a lowering, a backward rule (or null where autodiff refuses it on
 * purpose) and a reference interpreter case. The compiler already requires this of the typed
 * tables; this checks the tables as they are at run time (a cast or a stray key cannot slip by).
 */
describe('engine ops', () => {
  it('are listed once each', () => {
    expect(new Set(OP_NAMES).size).toBe(OP_NAMES.length);
  });

  it('each have a lowering, a backward rule and an interpreter case', () => {
    expect([...LOWERED_OPS].sort()).toEqual([...OP_NAMES].sort());
    expect(Object.keys(BACKWARD_RULES).sort()).toEqual([...OP_NAMES].sort());
    for (const op of OP_NAMES) expect(BACKWARD_RULES[op] === null ? op : typeof BACKWARD_RULES[op]).toBe(op === 'onnx' ? 'onnx' : 'function');
    expect(Object.keys(INTERPRETER).sort()).toEqual(OP_NAMES.filter((op) => op !== 'onnx').sort());
  });

  it('are each recorded by a builder method, and the builder records no other', () => {
    const g = new Graph();
    const x = g.input('x', [1, 4, 6, 6]);
    const sized = g.input('sized', [1, 4, 'H', 'W']); // run-time sizes: elementCount is an op, not a constant
    const w = g.param('w', [4, 4, 3, 3], new Float32Array(144));
    const s = g.param('s', [4], new Float32Array(4).fill(1));
    const m = g.reshape(x, [4, 36]);
    const parts = g.split(x, 1, [2, 2]);
    const y = [
      g.conv(x, w, undefined, { pad: 1 }),
      g.convTranspose(x, w, undefined, { stride: 2, pad: 1, outputPadding: 1 }),
      g.pad(x, [1, 1, 1, 1], 'reflect'),
      g.maxPool(x, { kernel: 2 }),
      g.avgPool(x, { kernel: 2 }),
      g.depthToSpace(x, 2),
      g.resize(x, 2),
      g.instanceNorm(x, s, s),
      g.relu(x),
      g.leakyRelu(x),
      g.tanh(x),
      g.sigmoid(x),
      g.erf(x),
      g.exp(x),
      g.log(x),
      g.sqrt(x),
      g.neg(x),
      g.abs(x),
      g.atLeast(x, 0.5),
      g.add(x, x),
      g.sub(x, x),
      g.mul(x, x),
      g.div(x, x),
      g.concat(parts, 1),
      g.slice(x, [2], [0], [3]),
      g.reverseTaps(w),
      g.reshapeLike(m, x),
      g.transpose(m, [1, 0]),
      g.gather(m, 1, g.int64([3, 0, 3])),
      g.matmul(m, g.transpose(m, [1, 0])),
      g.reduceSum(x, [2]),
      g.reduceMean(x, [2]),
      g.elementCount(sized, [2, 3]),
      g.softmax(x, 1),
      ...g.onnx('Shape', [x], [{ shape: [4], dtype: 'int64' }]),
    ];
    expect(y.length).toBeGreaterThan(0);
    const recorded = new Set(g.nodes.map((n) => n.op));
    expect(OP_NAMES.filter((op) => !recorded.has(op))).toEqual([]);
    expect([...recorded].sort()).toEqual([...OP_NAMES].sort());
  });
});
