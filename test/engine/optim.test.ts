import { describe, expect, it } from 'vitest';
import { Adam } from '../../src/engine/optim/adam.js';
import { Lbfgs } from '../../src/engine/optim/lbfgs.js';

/** Rosenbrock in n/2 pairs: minimum 0 at all ones, a curved valley that defeats plain descent. */
function rosenbrock(x: Float32Array) {
  let loss = 0;
  const grad = new Float32Array(x.length);
  for (let i = 0; i < x.length; i += 2) {
    const a = x[i]!;
    const b = x[i + 1]!;
    loss += 100 * (b - a * a) ** 2 + (1 - a) ** 2;
    grad[i] = -400 * a * (b - a * a) - 2 * (1 - a);
    grad[i + 1] = 200 * (b - a * a);
  }
  return Promise.resolve({ loss, grad });
}

describe('L-BFGS', () => {
  it('minimises Rosenbrock to near zero with a monotone loss', async () => {
    const x = Float32Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? -1.2 : 1));
    const opt = new Lbfgs(x, rosenbrock);
    let last = (await opt.evaluation()).loss;
    for (let i = 0; i < 100; i++) {
      const s = await opt.step();
      expect(s.loss).toBeLessThanOrEqual(last + 1e-9);
      last = s.loss;
      if (!s.progressed) break;
    }
    expect(last).toBeLessThan(1e-6);
    for (const v of x) expect(v).toBeCloseTo(1, 2);
  });

  it('solves a badly scaled quadratic in few iterations', async () => {
    const scales = [1, 10, 100, 1000];
    const f = (x: Float32Array) => {
      let loss = 0;
      const grad = new Float32Array(x.length);
      x.forEach((v, i) => {
        loss += 0.5 * scales[i]! * (v - i) ** 2;
        grad[i] = scales[i]! * (v - i);
      });
      return Promise.resolve({ loss, grad });
    };
    const x = new Float32Array(4);
    const opt = new Lbfgs(x, f);
    for (let i = 0; i < 15; i++) if (!(await opt.step()).progressed) break;
    expect(Array.from(x).map((v) => Math.round(v * 1000) / 1000)).toEqual([0, 1, 2, 3]);
  });
});

describe('Adam', () => {
  it('first step moves each parameter by the learning rate against the gradient sign (torch.optim.Adam)', () => {
    const p = new Float32Array([1, 1, 1]);
    new Adam(3, { learningRate: 0.1 }).step(p, [3, -0.5, 1e-3]);
    expect(p[0]).toBeCloseTo(0.9, 6);
    expect(p[1]).toBeCloseTo(1.1, 6);
    expect(p[2]).toBeCloseTo(0.9, 4);
  });
  it('converges on a quadratic', () => {
    const p = new Float32Array([5, -3]);
    const adam = new Adam(2, { learningRate: 0.1 });
    for (let i = 0; i < 500; i++) adam.step(p, [2 * (p[0]! - 1), 2 * (p[1]! + 2)]);
    expect(p[0]).toBeCloseTo(1, 2);
    expect(p[1]).toBeCloseTo(-2, 2);
  });
});
