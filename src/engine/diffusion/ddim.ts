import { AtelierError } from '../../core/errors.js';
import { samplingTimesteps, type NoiseSchedule, type Sampler } from './noise-schedule.js';

/**
 * DDIM (Song, Meng, Ermon 2021, "Denoising Diffusion Implicit Models", eq. 12): from x_t and the
 * model's noise estimate ε at t, the clean estimate x̂_0 = (x_t − √(1−ᾱ_t) ε) / √ᾱ_t, then
 *   x_prev = √ᾱ_prev · x̂_0 + √(1 − ᾱ_prev − σ²) · ε + σ · z,
 *   σ = η · √((1 − ᾱ_prev) / (1 − ᾱ_t)) · √(1 − ᾱ_t / ᾱ_prev),
 * deterministic at η = 0. "prev" is the next timestep the sampler visits; after the last one it
 * is t = 0 (ᾱ_0, Stable Diffusion 1.5's `set_alpha_to_one: false`).
 */
export class DdimSampler implements Sampler {
  readonly timesteps: readonly number[];
  readonly eta: number;

  constructor(
    private readonly schedule: NoiseSchedule,
    steps: number | readonly number[],
    options: { eta?: number; spacing?: 'leading' | 'trailing' | 'linspace'; offset?: number } = {},
  ) {
    this.timesteps = typeof steps === 'number' ? samplingTimesteps(schedule.alphasCumprod.length, steps, options.spacing, options.offset) : [...steps];
    this.eta = options.eta ?? 0;
  }

  /** ᾱ of the point the step at `index` lands on. */
  private alphaAfter(index: number): number {
    const next = this.timesteps[index + 1];
    return this.schedule.alphasCumprod[next ?? 0]!;
  }

  step(eps: Float32Array, index: number, x: Float32Array, noise?: Float32Array): Float32Array {
    const t = this.timesteps[index];
    if (t === undefined) throw new AtelierError('E_INTERNAL', `DDIM step ${index} is past the last of ${this.timesteps.length}`);
    const a = this.schedule.alphasCumprod[t]!;
    const aPrev = this.alphaAfter(index);
    const sigma = this.eta * Math.sqrt((1 - aPrev) / (1 - a)) * Math.sqrt(1 - a / aPrev);
    if (sigma > 0 && (!noise || noise.length !== x.length)) {
      throw new AtelierError('E_INTERNAL', 'DDIM with η > 0 needs fresh noise of the latent\'s size at every step');
    }
    const sa = Math.sqrt(a);
    const sn = Math.sqrt(1 - a);
    const saPrev = Math.sqrt(aPrev);
    const dir = Math.sqrt(Math.max(0, 1 - aPrev - sigma * sigma));
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const e = eps[i]!;
      const x0 = (x[i]! - sn * e) / sa;
      out[i] = saPrev * x0 + dir * e + (sigma > 0 ? sigma * noise![i]! : 0);
    }
    return out;
  }
}
