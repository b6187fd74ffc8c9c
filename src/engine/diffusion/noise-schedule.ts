import { AtelierError } from '../../core/errors.js';

/**
 * The forward-noising schedule of a discrete diffusion model (Ho et al. 2020): β_t for
 * t = 0 … T−1 and ᾱ_t = Π_{s ≤ t} (1 − β_s), so that x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε.
 *
 * Stable Diffusion 1.x trains with the "scaled linear" schedule: β linear in √β from
 * √0.00085 to √0.012 over T = 1000 steps (the v1-inference.yaml of CompVis/stable-diffusion:
 * linear_start 0.00085, linear_end 0.012, timesteps 1000; the diffusers scheduler_config.json of
 * runwayml/stable-diffusion-v1-5: beta_schedule "scaled_linear", steps_offset 1).
 *
 * Everything is computed in float64: ᾱ near t = T is ~0.005 and the samplers divide by its root.
 */

export interface NoiseSchedule {
  betas: Float64Array;
  alphasCumprod: Float64Array;
}

export const SD15_SCHEDULE = { betaStart: 0.00085, betaEnd: 0.012, trainSteps: 1000, stepsOffset: 1 } as const;

export function scaledLinearSchedule(betaStart: number = SD15_SCHEDULE.betaStart, betaEnd: number = SD15_SCHEDULE.betaEnd, trainSteps: number = SD15_SCHEDULE.trainSteps): NoiseSchedule {
  const betas = new Float64Array(trainSteps);
  const alphasCumprod = new Float64Array(trainSteps);
  const a = Math.sqrt(betaStart);
  const b = Math.sqrt(betaEnd);
  let product = 1;
  for (let t = 0; t < trainSteps; t++) {
    const root = trainSteps === 1 ? a : a + ((b - a) * t) / (trainSteps - 1);
    betas[t] = root * root;
    product *= 1 - betas[t]!;
    alphasCumprod[t] = product;
  }
  return { betas, alphasCumprod };
}

/**
 * Which training timesteps a sampler of `steps` steps visits, from the noisiest down.
 * - 'leading' (Stable Diffusion 1.5's config and the DDIM paper's uniform skip): every ⌊T/steps⌋-th
 *   step from 0, plus `offset` (1 for SD 1.5, so 4 steps visit 751, 501, 251, 1);
 * - 'trailing': every T/steps-th step counted back from T − 1 (reaches the noisiest step exactly);
 * - 'linspace': `steps` points spread evenly over [0, T − 1], rounded.
 */
export function samplingTimesteps(trainSteps: number, steps: number, spacing: 'leading' | 'trailing' | 'linspace' = 'leading', offset: number = SD15_SCHEDULE.stepsOffset): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > trainSteps) {
    throw new AtelierError('E_PARAM', 'The number of sampling steps is out of range', {
      expected: `an integer from 1 to ${trainSteps}`,
      received: `${steps}`,
    });
  }
  let ts: number[];
  if (spacing === 'leading') {
    const ratio = Math.floor(trainSteps / steps);
    ts = Array.from({ length: steps }, (_, i) => Math.min(trainSteps - 1, i * ratio + offset)).reverse();
  } else if (spacing === 'trailing') {
    const ratio = trainSteps / steps;
    ts = Array.from({ length: steps }, (_, i) => Math.round(trainSteps - i * ratio) - 1);
  } else {
    ts = Array.from({ length: steps }, (_, i) => Math.round(((trainSteps - 1) * (steps - 1 - i)) / Math.max(1, steps - 1)));
  }
  return ts;
}

/**
 * Image-to-image (SDEdit, Meng et al. 2022): with `strength` s in (0, 1], only the last
 * ⌊steps · s⌋ timesteps are run (at least one), starting from the input's latent noised to the
 * first of them.
 */
export function img2imgTimesteps(timesteps: readonly number[], strength: number): number[] {
  if (!(strength > 0 && strength <= 1)) {
    throw new AtelierError('E_PARAM', 'The image-to-image strength is out of range', { expected: 'a number in (0, 1]', received: `${strength}` });
  }
  const run = Math.min(timesteps.length, Math.max(1, Math.floor(timesteps.length * strength)));
  return timesteps.slice(timesteps.length - run);
}

/** x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε (the forward process in one jump). */
export function addNoise(schedule: NoiseSchedule, x0: Float32Array, noise: Float32Array, t: number): Float32Array {
  const a = schedule.alphasCumprod[t]!;
  const sa = Math.sqrt(a);
  const sn = Math.sqrt(1 - a);
  const out = new Float32Array(x0.length);
  for (let i = 0; i < x0.length; i++) out[i] = sa * x0[i]! + sn * noise[i]!;
  return out;
}

/** A sampler's state machine: `step` takes the model's ε at `timesteps[index]` and returns x at the next. */
export interface Sampler {
  readonly timesteps: readonly number[];
  step(eps: Float32Array, index: number, x: Float32Array, noise?: Float32Array): Float32Array;
}
