#!/usr/bin/env node
// Where one CycleGAN generator's training pass (forward, L1 loss, gradient of every weight; the
// generator graph of a CycleGAN iteration runs six of these) spends its time, per ONNX op type
// and per node, from ONNX Runtime's own profiler. Not a benchmark (no peer): a tool for choosing
// what to optimise next. Profiling adds a few per cent to every node.
// Usage: npm run build && node bench/profile/cyclegan-generator.mjs [--size 256] [--width 64]
//   [--blocks 9] [--runs 4] [--top 25] [--threads 2]
import { option } from '../stats.js';
import { printKernelTimes, profiledRuns } from './kernel-times.mjs';

const { Graph } = await import('../../dist/engine/graph/graph.js');
const { grad } = await import('../../dist/engine/autodiff/grad.js');
const { cycleGanGenerator, cycleGanGeneratorSpecs } = await import('../../dist/engine/nets/cyclegan.js');
const { ParameterSet } = await import('../../dist/engine/optim/parameter-set.js');
const { Rng } = await import('../../dist/core/rng.js');

const size = Number(option('size', 256));
const width = Number(option('width', 64));
const blocks = Number(option('blocks', size >= 256 ? 9 : 6));
const runs = Number(option('runs', 4));
const top = Number(option('top', 25));
const threads = Number(option('threads', 2));
const config = { width, blocks };
const params = ParameterSet.initialised(cycleGanGeneratorSpecs(config), 1);
const g = new Graph();
const x = g.input('image', [1, 3, size, size]);
const target = g.input('target', [1, 3, size, size]);
const loss = g.meanAll(g.abs(g.sub(cycleGanGenerator(g, x, params.graphParams(g, ''), config), target)));
g.output('loss', loss);
const wrt = g.params;
grad(g, loss, wrt).forEach((t, i) => g.output(`grad:${wrt[i].name}`, t));

const rng = new Rng(1);
const rand = () => Float32Array.from({ length: 3 * size * size }, () => rng.uniform(-1, 1));
const feeds = { ...params.feeds(), image: { data: rand(), shape: [1, 3, size, size] }, target: { data: rand(), shape: [1, 3, size, size] } };
const profile = await profiledRuns(g, { threads, paramsAsInputs: true, memory: 'arena' }, feeds, runs);
printKernelTimes(`CycleGAN generator pass ${size}², width ${width}, ${blocks} blocks, ${threads} threads`, profile, top);
