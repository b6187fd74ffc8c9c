import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { DdimSampler } from '../../../src/engine/diffusion/ddim.js';
import { DpmSolverPlusPlus2M } from '../../../src/engine/diffusion/dpm-solver.js';
import { addNoise, img2imgTimesteps, samplingTimesteps, scaledLinearSchedule, type Sampler } from '../../../src/engine/diffusion/noise-schedule.js';
import { readWeights } from '../../../src/engine/weights/read.js';
import type { TensorMap } from '../../../src/engine/weights/tensor.js';
import { tempDir } from '../../helpers/fixtures.js';
import { relativeMaxDiff, torchPython } from '../../helpers/torch-reference.js';

/**
 * The samplers against a float64 PyTorch reference written from the papers
 * (scheduler_reference.py): Stable Diffusion 1.5's scaled-linear schedule and timesteps, DDIM
 * (η = 0 and η = 0.5 with the same noise), DPM-Solver++(2M), each over a whole 4-step loop on a
 * toy noise predictor that both sides compute, and image-to-image at strength 0.5. Every state of
 * every step must agree to 1e-4 of its range.
 */

const skip = !torchPython;
if (skip) console.warn('skipping the sampler PyTorch comparison: no python3 with torch (Debian python3-torch)');
const SCRIPT = fileURLToPath(new URL('./scheduler_reference.py', import.meta.url));
const work = tempDir('atelier-samplers-');
afterAll(() => work.cleanup());
const JOB = { seed: 3, size: 64, steps: 4, eta: 0.5, strength: 0.5, out: work.file('ref.safetensors') };

/** The reference's toy noise predictor, in float64. */
function toyEps(x: Float32Array, t: number): Float32Array {
  return Float32Array.from(x, (v) => 0.5 * Math.sin(v * (1 + t / 1000)) + 0.1 * v + (0.01 * t) / 1000);
}

function run(sampler: Sampler, x: Float32Array, noise?: (i: number) => Float32Array): Float32Array[] {
  const states: Float32Array[] = [];
  sampler.timesteps.forEach((t, i) => {
    x = sampler.step(toyEps(x, t), i, x, noise?.(i));
    states.push(x);
  });
  return states;
}

function expectClose(ours: Float32Array, ref: Float32Array, what: string): void {
  const { maxDiff, range } = relativeMaxDiff(ours, ref);
  console.log(`${what}: max |ours − torch| ${maxDiff.toExponential(2)} of range ${range.toFixed(3)}`);
  expect(maxDiff, what).toBeLessThanOrEqual(1e-4 * range);
}

describe('SD 1.5 schedule and timesteps', () => {
  it('has the published end points and spacing', () => {
    const s = scaledLinearSchedule();
    expect(s.betas[0]).toBeCloseTo(0.00085, 12);
    expect(s.betas[999]).toBeCloseTo(0.012, 12);
    expect(s.alphasCumprod[999]).toBeCloseTo(0.00466, 5);
    expect(samplingTimesteps(1000, 4)).toEqual([751, 501, 251, 1]);
    expect(samplingTimesteps(1000, 25).slice(0, 3)).toEqual([961, 921, 881]);
    expect(samplingTimesteps(1000, 4, 'trailing')).toEqual([999, 749, 499, 249]);
    expect(samplingTimesteps(1000, 4, 'linspace')).toEqual([999, 666, 333, 0]);
    expect(img2imgTimesteps([751, 501, 251, 1], 0.5)).toEqual([251, 1]);
    expect(img2imgTimesteps([751, 501, 251, 1], 1)).toEqual([751, 501, 251, 1]);
  });

  it('refuses bad step counts and strengths with E_PARAM', () => {
    for (const f of [() => samplingTimesteps(1000, 0), () => samplingTimesteps(1000, 2.5), () => img2imgTimesteps([1], 0), () => img2imgTimesteps([1], 1.5)]) {
      expect(f).toThrow(AtelierError);
    }
  });

  it('DPM-Solver++ refuses steps out of order (its history would be wrong)', () => {
    const s = new DpmSolverPlusPlus2M(scaledLinearSchedule(), 4);
    const x = new Float32Array(4);
    expect(() => s.step(x, 1, x)).toThrow(/in order/);
  });
});

describe.skipIf(skip)('samplers against the PyTorch reference', () => {
  let ref: TensorMap;
  const get = (name: string) => ref.get(name)!.data;
  beforeAll(async () => {
    writeFileSync(work.file('job.json'), JSON.stringify(JOB));
    const r = spawnSync(torchPython!, [SCRIPT, work.file('job.json')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`sampler reference failed: ${r.stderr}`);
    ref = await readWeights(JOB.out);
  }, 60_000);

  it('the schedule agrees in float64', () => {
    const s = scaledLinearSchedule();
    const hi = get('acp_hi');
    const lo = get('acp_lo');
    let worst = 0;
    for (let t = 0; t < 1000; t++) worst = Math.max(worst, Math.abs(s.alphasCumprod[t]! - (hi[t]! + lo[t]!)) / s.alphasCumprod[t]!);
    expect(worst).toBeLessThan(1e-12);
    expect(Array.from(get('timesteps'))).toEqual(samplingTimesteps(1000, 4));
  });

  it('DDIM η = 0 and η = 0.5, DPM-Solver++(2M): every state of a 4-step loop on the toy denoiser', () => {
    const s = scaledLinearSchedule();
    const xT = get('x_T');
    const noise = (i: number) => get(`noise_${i}`);
    const cases: [string, Sampler, ((i: number) => Float32Array) | undefined][] = [
      ['ddim', new DdimSampler(s, 4), undefined],
      ['ddim_eta', new DdimSampler(s, 4, { eta: 0.5 }), noise],
      ['dpmpp', new DpmSolverPlusPlus2M(s, 4), undefined],
    ];
    for (const [name, sampler, z] of cases) {
      const states = run(sampler, xT, z);
      states.forEach((x, i) => expectClose(x, get(`${name}_${i}`), `${name} step ${i} (t=${sampler.timesteps[i]})`));
    }
  });

  it('image-to-image at strength 0.5: noised start and the last two DPM-Solver++ steps', () => {
    const s = scaledLinearSchedule();
    const ts = img2imgTimesteps(samplingTimesteps(1000, 4), 0.5);
    const start = addNoise(s, get('x0'), get('noise_0'), ts[0]!);
    expectClose(start, get('img2img_start'), 'img2img start');
    run(new DpmSolverPlusPlus2M(s, ts), start).forEach((x, i) => expectClose(x, get(`img2img_${i}`), `img2img step ${i}`));
  });
});
