import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs test/helpers/torch_style_nets.py (PyTorch references of the WCT autoencoders and MicroAST,
 * written from the papers) and torch_imported_nets.py (the networks imported from TFLite / GraphDef
 * files, on weights exported by Atelier's readers) on raw float32 inputs. `torchPython` is undefined when no Python with
 * torch is installed (Debian's python3-torch); `sharedWeights` when ../shared/weights is absent.
 */

function findTorchPython(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return undefined;
}

export const torchPython = findTorchPython();
const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const shared = path.resolve(root, '..', 'shared', 'weights');
export const sharedWeights = existsSync(path.join(shared, 'README.md')) ? shared : undefined;
const SCRIPT = fileURLToPath(new URL('./torch_style_nets.py', import.meta.url));
const IMPORTED_SCRIPT = fileURLToPath(new URL('./torch_imported_nets.py', import.meta.url));

export interface TorchJob {
  kind: 'wct-encoder' | 'wct-decoder' | 'microast' | 'universal' | 'style-distance';
  levels?: number[];
  transform?: 'wct' | 'adain';
  network?: 'vgg19' | 'cd16x';
  level?: number;
  dir: string;
  input: { data: Float32Array; shape: number[] };
  style?: { data: Float32Array; shape: number[] };
  alpha?: number;
  threads?: number;
  repeat?: number;
}

export interface TorchResult {
  data: Float32Array;
  shape: number[];
  seconds: number;
  peakMB: number;
}

export function runTorchReference(job: TorchJob, workDir: string): TorchResult {
  const input = path.join(workDir, 'input.f32');
  const style = path.join(workDir, 'style.f32');
  const output = path.join(workDir, 'output.f32');
  writeFileSync(input, job.input.data);
  if (job.style) writeFileSync(style, job.style.data);
  const spec = {
    kind: job.kind,
    network: job.network,
    level: job.level,
    levels: job.levels,
    transform: job.transform,
    dir: job.dir,
    input,
    shape: job.input.shape,
    ...(job.style && { style, styleShape: job.style.shape }),
    alpha: job.alpha ?? 1,
    output,
    threads: job.threads ?? 1,
    repeat: job.repeat ?? 1,
  };
  const jobFile = path.join(workDir, 'job.json');
  writeFileSync(jobFile, JSON.stringify(spec));
  const r = spawnSync(torchPython!, [SCRIPT, jobFile], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`torch reference failed: ${r.stderr}`);
  const meta = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { shape: number[]; seconds: number; peakMB: number };
  const buf = readFileSync(output);
  return { data: new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4), ...meta };
}

export interface ImportedTorchJob {
  kind: 'multistyle' | 'arbitrary' | 'cartoon' | 'anime';
  /** safetensors file(s) of the network's weights (engine/import/foreign-weights.ts); arbitrary: predictor and transfer. */
  weights: string | { predictor: string; transfer: string };
  input: { data: Float32Array; shape: number[] };
  /** arbitrary: the 256² style image. */
  style?: Float32Array;
  /** multistyle: the 26 style weights. */
  styleNum?: number[];
}

/** Runs the jobs in one Python process (torch is imported once); outputs in [0, 1], not clipped. */
export function runImportedTorchReference(jobs: ImportedTorchJob[], workDir: string): TorchResult[] {
  const specs = jobs.map((job, i) => {
    const input = path.join(workDir, `input${i}.f32`);
    writeFileSync(input, job.input.data);
    const style = path.join(workDir, `style${i}.f32`);
    if (job.style) writeFileSync(style, job.style);
    return { kind: job.kind, weights: job.weights, input, shape: job.input.shape, ...(job.style && { style }), ...(job.styleNum && { styleNum: job.styleNum }), output: path.join(workDir, `output${i}.f32`), threads: 1 };
  });
  const jobFile = path.join(workDir, 'jobs.json');
  writeFileSync(jobFile, JSON.stringify(specs));
  const r = spawnSync(torchPython!, [IMPORTED_SCRIPT, jobFile], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`torch reference failed: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return specs.map((s, i) => {
    const meta = JSON.parse(lines[i]!) as { shape: number[]; seconds: number; peakMB: number };
    const buf = readFileSync(s.output);
    return { data: new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4), ...meta };
  });
}

/** max |a − b| over the range of b (the reference). */
export function relativeMaxDiff(a: Float32Array, b: Float32Array): { maxDiff: number; range: number } {
  let maxDiff = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < b.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    lo = Math.min(lo, b[i]!);
    hi = Math.max(hi, b[i]!);
  }
  return { maxDiff, range: hi - lo };
}
