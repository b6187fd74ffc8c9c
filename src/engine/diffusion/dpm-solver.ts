import { AtelierError } from '../../core/errors.js';
import { samplingTimesteps, type NoiseSchedule, type Sampler } from './noise-schedule.js';

/**
 * DPM-Solver++(2M) (Lu, Zhou, Bao, Chen, Li, Zhu 2022, "DPM-Solver++: Fast Solver for Guided
 * Sampling of Diffusion Probabilistic Models", algorithm 2): a second-order multistep solver of
 * the diffusion ODE in the data-prediction form. With α_t = √ᾱ_t, σ_t = √(1 − ᾱ_t),
 * λ_t = log(α_t / σ_t), h_i = λ_{t_i} − λ_{t_{i−1}} and the data prediction
 * x̂_0 = (x_t − σ_t ε) / α_t at each visited time:
 *   first step:   x_{t_i} = (σ_{t_i} / σ_{t_{i−1}}) x − α_{t_i} (e^{−h_i} − 1) x̂_0(i−1)
 *   later steps:  the same with D = (1 + 1/(2r)) x̂_0(i−1) − 1/(2r) x̂_0(i−2), r = h_{i−1} / h_i.
 * The solver visits the sampler's timesteps and ends at t = 0 (as DDIM does here), so every step,
 * the last included, has the same form and finite λ.
 */
export class DpmSolverPlusPlus2M implements Sampler {
  readonly timesteps: readonly number[];
  private previousX0: Float32Array | undefined;
  private previousH: number | undefined;
  private lastIndex = -1;

  constructor(
    private readonly schedule: NoiseSchedule,
    steps: number | readonly number[],
    options: { spacing?: 'leading' | 'trailing' | 'linspace'; offset?: number } = {},
  ) {
    this.timesteps = typeof steps === 'number' ? samplingTimesteps(schedule.alphasCumprod.length, steps, options.spacing, options.offset) : [...steps];
  }

  private lambda(t: number): { alpha: number; sigma: number; lambda: number } {
    const a = this.schedule.alphasCumprod[t]!;
    const alpha = Math.sqrt(a);
    const sigma = Math.sqrt(1 - a);
    return { alpha, sigma, lambda: Math.log(alpha) - Math.log(sigma) };
  }

  step(eps: Float32Array, index: number, x: Float32Array): Float32Array {
    const t = this.timesteps[index];
    if (t === undefined || index !== this.lastIndex + 1) {
      throw new AtelierError('E_INTERNAL', `DPM-Solver++ steps must run in order: got step ${index} after ${this.lastIndex}`);
    }
    this.lastIndex = index;
    const s = this.lambda(t);
    const next = this.lambda(this.timesteps[index + 1] ?? 0);
    const h = next.lambda - s.lambda;
    const x0 = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) x0[i] = (x[i]! - s.sigma * eps[i]!) / s.alpha;
    const keep = next.sigma / s.sigma;
    const push = -next.alpha * Math.expm1(-h);
    const out = new Float32Array(x.length);
    if (this.previousX0 === undefined) {
      for (let i = 0; i < x.length; i++) out[i] = keep * x[i]! + push * x0[i]!;
    } else {
      const r = this.previousH! / h;
      const c0 = 1 + 1 / (2 * r);
      const c1 = 1 / (2 * r);
      const prev = this.previousX0;
      for (let i = 0; i < x.length; i++) out[i] = keep * x[i]! + push * (c0 * x0[i]! - c1 * prev[i]!);
    }
    this.previousX0 = x0;
    this.previousH = h;
    return out;
  }
}
