#!/usr/bin/env node
// Where the Johnson-net training step (bench/engine.mjs's "johnson" task) spends its time, per ONNX
// op type and per node, from ONNX Runtime's own profiler. Not a benchmark (no peer): a tool for
// choosing what to optimise next. Profiling adds a few per cent to every node.
// Usage: npm run build && node bench/profile/johnson-step.mjs [--size 256] [--runs 6] [--top 25]
import { option } from '../stats.js';
import { printKernelTimes, profiledRuns } from './kernel-times.mjs';

const { Graph } = await import('../../dist/engine/graph/graph.js');
const { grad } = await import('../../dist/engine/autodiff/grad.js');
const { transformerNet, randomTransformerNetWeights } = await import('../../dist/engine/nets/transformer-net.js');
const { Rng } = await import('../../dist/core/rng.js');

const size = Number(option('size', 256));
const runs = Number(option('runs', 6));
const top = Number(option('top', 25));
const weights = randomTransformerNetWeights(1);
const g = new Graph();
const x = g.input('image', [1, 3, 'H', 'W']);
const target = g.input('target', [1, 3, 'H', 'W']);
const d = g.sub(transformerNet(g, x, weights), target);
const loss = g.meanAll(g.mul(d, d));
g.output('loss', loss);
grad(g, loss, g.params).forEach((t, i) => g.output(`grad:${g.params[i].name}`, t));

const rng = new Rng(1);
const rand = (n) => Float32Array.from({ length: n }, () => rng.uniform(0, 255));
const feeds = { image: { data: rand(3 * size * size), shape: [1, 3, size, size] }, target: { data: rand(3 * size * size), shape: [1, 3, size, size] } };
for (const p of g.params) feeds[p.name] = { data: Float32Array.from(weights.get(p.name).data), shape: p.shape };
const profile = await profiledRuns(g, { threads: 2, paramsAsInputs: true }, feeds, runs);
printKernelTimes(`Johnson step ${size}², 2 threads`, profile, top);
