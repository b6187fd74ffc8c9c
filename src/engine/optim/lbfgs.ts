/**
 * L-BFGS (Nocedal 1980; Liu & Nocedal 1989) with a strong-Wolfe line search (Nocedal & Wright,
 * Numerical Optimization, algorithms 3.5–3.6), minimising a function of a flat Float32Array.
 * Gatys et al. optimise pixels with it. Vectors are stored as float32; dot products accumulate in
 * float64.
 */

export interface Evaluation {
  loss: number;
  grad: Float32Array;
}

export type Objective<E extends Evaluation = Evaluation> = (x: Float32Array) => Promise<E>;

export interface LbfgsOptions {
  /** Correction pairs kept (memory: 2 × history × size floats). */
  history?: number;
  /** Function evaluations allowed per line search. */
  maxLineSearch?: number;
  /** Stop when the gradient's largest component falls below this. */
  gradientTolerance?: number;
}

export interface LbfgsStep {
  loss: number;
  /** Function evaluations this iteration took. */
  evaluations: number;
  /** False when no further progress is possible (converged or line search failed). */
  progressed: boolean;
}

const C1 = 1e-4;
const C2 = 0.9;

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export class Lbfgs<E extends Evaluation = Evaluation> {
  private readonly s: Float32Array[] = [];
  private readonly y: Float32Array[] = [];
  private readonly rho: number[] = [];
  private current: E | undefined;
  private iterations = 0;
  private readonly history: number;
  private readonly maxLineSearch: number;
  private readonly tolerance: number;

  /** `x` is updated in place as the optimisation proceeds. */
  constructor(
    readonly x: Float32Array,
    private readonly objective: Objective<E>,
    options: LbfgsOptions = {},
  ) {
    this.history = options.history ?? 10;
    this.maxLineSearch = options.maxLineSearch ?? 20;
    this.tolerance = options.gradientTolerance ?? 1e-7;
  }

  /** The loss and gradient at the current x (evaluated on first use). */
  async evaluation(): Promise<E> {
    this.current ??= await this.objective(this.x);
    return this.current;
  }

  async step(): Promise<LbfgsStep> {
    const start = await this.evaluation();
    let evaluations = this.iterations === 0 ? 1 : 0;
    const g = start.grad;
    let gmax = 0;
    for (let i = 0; i < g.length; i++) gmax = Math.max(gmax, Math.abs(g[i]!));
    if (gmax <= this.tolerance) return { loss: start.loss, evaluations, progressed: false };

    let d = this.direction(g);
    let slope = dot(g, d);
    if (!(slope < 0)) {
      // Not a descent direction (curvature pairs went stale): restart from steepest descent.
      this.s.length = this.y.length = this.rho.length = 0;
      d = this.direction(g);
      slope = dot(g, d);
    }
    let l1 = 0;
    for (let i = 0; i < g.length; i++) l1 += Math.abs(g[i]!);
    const initial = this.iterations === 0 ? Math.min(1, 1 / l1) : 1;
    const x0 = this.x.slice();
    const found = await this.lineSearch(x0, start, d, slope, initial);
    evaluations += found.evaluations;
    this.iterations++;
    if (!found.accepted || found.step === 0) {
      this.x.set(x0);
      return { loss: start.loss, evaluations, progressed: false };
    }
    // x already holds x0 + step·d from the last evaluation at `found.step`.
    this.setX(x0, d, found.step);
    const sk = new Float32Array(g.length);
    const yk = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) {
      sk[i] = found.step * d[i]!;
      yk[i] = found.evaluation.grad[i]! - g[i]!;
    }
    const ys = dot(yk, sk);
    if (ys > 1e-10) {
      this.s.push(sk);
      this.y.push(yk);
      this.rho.push(1 / ys);
      if (this.s.length > this.history) {
        this.s.shift();
        this.y.shift();
        this.rho.shift();
      }
    }
    this.current = found.evaluation;
    return { loss: found.evaluation.loss, evaluations, progressed: found.evaluation.loss < start.loss };
  }

  /** −H·g by the two-loop recursion, H₀ scaled by sᵀy / yᵀy. */
  private direction(g: Float32Array): Float32Array {
    const q = Float32Array.from(g);
    const k = this.s.length;
    const alpha = new Array<number>(k);
    for (let i = k - 1; i >= 0; i--) {
      alpha[i] = this.rho[i]! * dot(this.s[i]!, q);
      const yi = this.y[i]!;
      for (let j = 0; j < q.length; j++) q[j] = q[j]! - alpha[i]! * yi[j]!;
    }
    if (k > 0) {
      const gamma = dot(this.s[k - 1]!, this.y[k - 1]!) / dot(this.y[k - 1]!, this.y[k - 1]!);
      for (let j = 0; j < q.length; j++) q[j] = q[j]! * gamma;
    }
    for (let i = 0; i < k; i++) {
      const beta = this.rho[i]! * dot(this.y[i]!, q);
      const si = this.s[i]!;
      for (let j = 0; j < q.length; j++) q[j] = q[j]! + (alpha[i]! - beta) * si[j]!;
    }
    for (let j = 0; j < q.length; j++) q[j] = -q[j]!;
    return q;
  }

  private setX(x0: Float32Array, d: Float32Array, step: number): void {
    for (let i = 0; i < x0.length; i++) this.x[i] = x0[i]! + step * d[i]!;
  }

  private async lineSearch(
    x0: Float32Array,
    start: E,
    d: Float32Array,
    slope0: number,
    initial: number,
  ): Promise<{ step: number; evaluation: E; evaluations: number; accepted: boolean }> {
    let evaluations = 0;
    const at = async (step: number) => {
      this.setX(x0, d, step);
      evaluations++;
      const e = await this.objective(this.x);
      return { step, e, slope: dot(e.grad, d) };
    };
    type Point = { step: number; e: E; slope: number };
    let best: Point = { step: 0, e: start, slope: slope0 };
    const consider = (p: Point) => {
      if (Number.isFinite(p.e.loss) && p.e.loss < best.e.loss) best = p;
    };
    const done = (p: Point) => ({ step: p.step, evaluation: p.e, evaluations, accepted: true });
    const fallback = () => ({ step: best.step, evaluation: best.e, evaluations, accepted: best.step > 0 });

    let prev: Point = best;
    let step = initial;
    let lo: Point | undefined;
    let hi: Point | undefined;
    for (let i = 0; i < this.maxLineSearch; i++) {
      const p = await at(step);
      consider(p);
      if (!Number.isFinite(p.e.loss) || p.e.loss > start.loss + C1 * step * slope0 || (i > 0 && p.e.loss >= prev.e.loss)) {
        lo = prev;
        hi = p;
        break;
      }
      if (Math.abs(p.slope) <= -C2 * slope0) return done(p);
      if (p.slope >= 0) {
        lo = p;
        hi = prev;
        break;
      }
      prev = p;
      step *= 2;
    }
    if (!lo || !hi) return fallback();
    // Zoom between lo (satisfies sufficient decrease) and hi.
    while (evaluations < this.maxLineSearch) {
      const a = Math.min(lo.step, hi.step);
      const b = Math.max(lo.step, hi.step);
      let trial = cubicMinimum(lo, hi);
      if (!Number.isFinite(trial) || trial <= a + 0.1 * (b - a) || trial >= b - 0.1 * (b - a)) trial = (a + b) / 2;
      const p = await at(trial);
      consider(p);
      if (!Number.isFinite(p.e.loss) || p.e.loss > start.loss + C1 * trial * slope0 || p.e.loss >= lo.e.loss) {
        hi = p;
      } else {
        if (Math.abs(p.slope) <= -C2 * slope0) return done(p);
        if (p.slope * (hi.step - lo.step) >= 0) hi = lo;
        lo = p;
      }
      if (Math.abs(hi.step - lo.step) < 1e-9 * Math.max(1, lo.step)) break;
    }
    return fallback();
  }
}

/** Minimiser of the cubic through two points with their slopes. */
function cubicMinimum(p: { step: number; e: Evaluation; slope: number }, q: { step: number; e: Evaluation; slope: number }): number {
  const d1 = p.slope + q.slope - (3 * (p.e.loss - q.e.loss)) / (p.step - q.step);
  const disc = d1 * d1 - p.slope * q.slope;
  if (disc < 0) return NaN;
  const d2 = Math.sign(q.step - p.step) * Math.sqrt(disc);
  return q.step - (q.step - p.step) * ((q.slope + d2 - d1) / (q.slope - p.slope + 2 * d2));
}
