#!/usr/bin/env node
// Where one CycleGAN training iteration (the generators' step graph and the discriminators' step
// graph of src/train/recipes/cyclegan-trainer.ts, the bench's bench/cyclegan-step.mjs iteration
// minus the Adam updates in JS) spends its time, per ONNX op type and per node with its input
// shapes, from ONNX Runtime's own profiler; the Adam updates are timed apart. Not a benchmark (no
// peer): a tool for choosing what to optimise. bench/cyclegan_profile_torch.py prints PyTorch's
// profile of the same iteration.
// Usage: npm run build && node bench/profile/cyclegan-step.mjs [--size 256] [--width 64]
//   [--blocks 9] [--runs 3] [--top 30] [--threads 1]
import { option } from '../stats.js';
import { printKernelTimes, profiledRuns } from './kernel-times.mjs';

const { cycleGanGraphs, CycleGanTrainer } = await import('../../dist/train/recipes/cyclegan-trainer.js');
const { patchGanSpecs } = await import('../../dist/engine/nets/cyclegan.js');
const { ParameterSet } = await import('../../dist/engine/optim/parameter-set.js');
const { Adam } = await import('../../dist/engine/optim/adam.js');
const { Rng } = await import('../../dist/core/rng.js');

const size = Number(option('size', 256));
const width = Number(option('width', 64));
const blocks = Number(option('blocks', size >= 256 ? 9 : 6));
const runs = Number(option('runs', 3));
const top = Number(option('top', 30));
const threads = Number(option('threads', 1));
const o = { size, generator: { width, blocks }, discriminator: { width, layers: 3 }, lossWeights: { cycleA: 10, cycleB: 10, identity: 0.5 } };
const generators = ParameterSet.initialised(CycleGanTrainer.generatorSpecs(o), 1);
const discriminators = ParameterSet.initialised([...patchGanSpecs(o.discriminator, 'D_A.'), ...patchGanSpecs(o.discriminator, 'D_B.')], 2);
const { generatorGraph, discriminatorGraph } = cycleGanGraphs(o, generators, discriminators);
const rng = new Rng(1);
const image = () => ({ data: Float32Array.from({ length: 3 * size * size }, () => rng.uniform(-1, 1)), shape: [1, 3, size, size] });
const [realA, realB, fakeA, fakeB] = [image(), image(), image(), image()];
const { nchwcBlockSize } = await import('../../dist/engine/runtime.js');
// As the trainer compiles them; --plain-convs keeps every conv im2col + GEMM (the old lowering).
const compileOptions = { threads, paramsAsInputs: true, cache: false, memory: 'arena', nchwcBlock: process.argv.includes('--plain-convs') ? 0 : await nchwcBlockSize() };
const title = `${size}², width ${width}, ${blocks} blocks, ${threads} thread(s)`;
const gen = await profiledRuns(generatorGraph, compileOptions, { ...generators.feeds(), ...discriminators.feeds(), realA, realB }, runs);
printKernelTimes(`CycleGAN generators' step ${title}`, gen, top);
const dis = await profiledRuns(discriminatorGraph, compileOptions, { ...discriminators.feeds(), realA, realB, fakeA, fakeB }, runs);
printKernelTimes(`\nCycleGAN discriminators' step ${title}`, dis, top);
const adam = new Adam(generators.size + discriminators.size, { learningRate: 2e-4, beta1: 0.5, beta2: 0.999 });
const params = new Float32Array(generators.size + discriminators.size);
const gradient = params.map(() => rng.uniform(-1e-3, 1e-3));
const t0 = performance.now();
for (let i = 0; i < runs; i++) adam.step(params, gradient);
console.log(`\nAdam over ${params.length} weights: ${((performance.now() - t0) / runs).toFixed(0)} ms per step`);
