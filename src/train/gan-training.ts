import { AtelierError } from '../core/errors.js';

/**
 * What the GAN recipes (CycleGAN, StarGAN) share around their steps: the published linear
 * learning-rate decay, the refusal to go on from a non-finite loss or gradient, and the check that
 * a checkpoint was written for the same architecture.
 */

/**
 * The learning rate at `iteration`: constant, then linear towards zero over the last `fraction` of
 * `iterations` — the CycleGAN code's lambda_rule per iteration instead of per epoch,
 * 1 − max(0, i + 1 − keep) / (decay + 1).
 */
export function linearDecayRate(learningRate: number, iteration: number, iterations: number, fraction: number): number {
  const keep = Math.round(iterations * (1 - fraction));
  return learningRate * (1 - Math.max(0, iteration + 1 - keep) / (iterations - keep + 1));
}

/** Throws E_NUMERIC on a non-finite loss or gradient value: nothing of the step is applied or saved. */
export function assertFiniteStep(trainer: string, iteration: number, losses: Record<string, number>, gradient: Float32Array, nets: string): void {
  const diverged = (what: string, value: number): never => {
    throw new AtelierError('E_NUMERIC', `${trainer} training diverged at iteration ${iteration}: ${what} is ${value}`, {
      hint: 'nothing of this iteration was saved; the last checkpoint in the output folder is kept: resume it with --resume and a lower --lr',
    });
  };
  for (const [k, v] of Object.entries(losses)) if (!Number.isFinite(v)) diverged(`loss ${k}`, v);
  for (let i = 0; i < gradient.length; i++) if (!Number.isFinite(gradient[i]!)) diverged(`the ${nets}' gradient`, gradient[i]!);
}

/** Refuses a checkpoint whose architecture facts (sizes, widths, domains) differ from this run's, naming both. */
export function assertSameArchitecture(mine: Record<string, string>, metadata: Record<string, string>, file: string): void {
  for (const [k, v] of Object.entries(mine)) {
    if (metadata[k] === v) continue;
    throw new AtelierError('E_WEIGHTS_INVALID', `The checkpoint was trained with ${k} ${metadata[k] ?? '(none)'}, this run has ${v}`, {
      subject: file,
      expected: Object.entries(mine).map(([a, b]) => `${a} ${b}`).join('; '),
      received: Object.keys(mine).map((a) => `${a} ${metadata[a] ?? '?'}`).join('; '),
      hint: 'resume with the settings the checkpoint was written with, or train into a new --out folder',
    });
  }
}
