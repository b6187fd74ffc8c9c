import { AtelierError } from '../../core/errors.js';

/**
 * Adam (Kingma & Ba 2015) on a flat Float32Array, updated in place; the same update as
 * torch.optim.Adam (bias-corrected moments, eps added outside the square root).
 */
export interface AdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** L2 penalty added to the gradient (torch's weight_decay). */
  weightDecay?: number;
}

export class Adam {
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private t = 0;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;

  constructor(
    size: number,
    private readonly options: AdamOptions,
  ) {
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
  }

  get steps(): number {
    return this.t;
  }

  /** Step count and moments (live arrays), for training checkpoints. */
  state(): { step: number; m: Float32Array; v: Float32Array } {
    return { step: this.t, m: this.m, v: this.v };
  }

  /** Resume from a `state()` of an optimiser over the same parameters. */
  restore(state: { step: number; m: ArrayLike<number>; v: ArrayLike<number> }): void {
    if (state.m.length !== this.m.length || state.v.length !== this.v.length) {
      throw new AtelierError('E_INTERNAL', 'Adam state does not fit the optimiser', {
        expected: `${this.m.length} parameters`,
        received: `${state.m.length}`,
      });
    }
    this.t = state.step;
    this.m.set(state.m);
    this.v.set(state.v);
  }

  /** One update of `params` (in place) from `grad`. */
  step(params: Float32Array, grad: ArrayLike<number>, learningRate = this.options.learningRate): void {
    this.t++;
    const { beta1, beta2, eps, m, v } = this;
    const decay = this.options.weightDecay ?? 0;
    const c1 = 1 - beta1 ** this.t;
    const invC2 = 1 / Math.sqrt(1 - beta2 ** this.t);
    const stepSize = learningRate / c1;
    const a1 = 1 - beta1;
    const a2 = 1 - beta2;
    // Each element read once and written once (re-reading m[i] after writing it costs a third).
    const n = params.length;
    for (let i = 0; i < n; i++) {
      const p = params[i]!;
      const gi = grad[i]! + decay * p;
      const mi = beta1 * m[i]! + a1 * gi;
      const vi = beta2 * v[i]! + a2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      params[i] = p - (stepSize * mi) / (Math.sqrt(vi) * invC2 + eps);
    }
  }
}
