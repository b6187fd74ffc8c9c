import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ParameterSpec } from '../../src/engine/optim/parameter-set.js';

/**
 * Runs test/helpers/torch_gan_reference.py: one CycleGAN or StarGAN training step's losses and
 * parameter gradients in PyTorch (float64), from the same parameters and inputs as the engine's.
 */
const SCRIPT = fileURLToPath(new URL('./torch_gan_reference.py', import.meta.url));

export interface TorchGanJob {
  kind: 'cyclegan' | 'stargan';
  config: Record<string, number>;
  params: { specs: ParameterSpec[]; data: Float32Array };
  inputs: Record<string, { data: Float32Array; shape: number[] }>;
}

export function runTorchGanStep(python: string, job: TorchGanJob, dir: string): { losses: Record<string, number>; gradients: Float32Array } {
  const paramsFile = path.join(dir, 'params.f32');
  writeFileSync(paramsFile, Buffer.from(job.params.data.buffer, job.params.data.byteOffset, job.params.data.byteLength));
  const inputs: Record<string, { file: string; shape: number[] }> = {};
  for (const [name, v] of Object.entries(job.inputs)) {
    const file = path.join(dir, `${name}.f32`);
    writeFileSync(file, Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength));
    inputs[name] = { file, shape: v.shape };
  }
  const out = path.join(dir, 'torch-out');
  const jobFile = path.join(dir, 'job.json');
  writeFileSync(jobFile, JSON.stringify({ kind: job.kind, config: job.config, params: job.params.specs.map((s) => ({ name: s.name, shape: s.shape })), paramsFile, inputs, out }));
  const r = spawnSync(python, [SCRIPT, jobFile], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`torch reference failed: ${r.stderr}`);
  const buf = readFileSync(`${out}.f32`);
  return {
    losses: JSON.parse(readFileSync(`${out}.json`, 'utf8')) as Record<string, number>,
    gradients: new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4).slice(),
  };
}

/**
 * The worst error of `a` against `b` per parameter tensor, relative to that tensor's largest
 * reference gradient, or to a thousandth of the largest of all where a tensor's true gradient is
 * zero (a conv bias just before an instance norm: the norm removes it).
 */
export function worstRelativeError(specs: ParameterSpec[], a: Float32Array, b: Float32Array): { worst: number; at: string } {
  const floor = 1e-3 * b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  let at = 0;
  let worst = 0;
  let where = '';
  for (const s of specs) {
    const n = s.shape.reduce((x, y) => x * y, 1);
    let maxRef = 0;
    let maxErr = 0;
    for (let i = at; i < at + n; i++) {
      maxRef = Math.max(maxRef, Math.abs(b[i]!));
      maxErr = Math.max(maxErr, Math.abs(a[i]! - b[i]!));
    }
    const rel = maxErr / Math.max(maxRef, floor);
    if (rel > worst) {
      worst = rel;
      where = s.name;
    }
    at += n;
  }
  return { worst, at: where };
}
