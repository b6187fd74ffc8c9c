#!/usr/bin/env node
// Where the Johnson-net training step (bench/engine.mjs's "johnson" task) spends its time, per ONNX
// op type and per node, from ONNX Runtime's own profiler. Not a benchmark (no peer): a tool for
// choosing what to optimise next. Profiling adds a few per cent to every node.
// Usage: npm run build && node bench/profile/johnson-step.mjs [--size 256] [--runs 6] [--top 25]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { option } from '../stats.js';

const { Graph } = await import('../../dist/engine/graph/graph.js');
const { compile } = await import('../../dist/engine/runtime.js');
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

const dir = mkdtempSync(path.join(tmpdir(), 'atelier-profile-'));
const prefix = path.join(dir, 'step');
const runner = await compile(g, { threads: 2, paramsAsInputs: true, profile: prefix });
const rng = new Rng(1);
const rand = (n) => Float32Array.from({ length: n }, () => rng.uniform(0, 255));
const feeds = { image: { data: rand(3 * size * size), shape: [1, 3, size, size] }, target: { data: rand(3 * size * size), shape: [1, 3, size, size] } };
for (const p of g.params) feeds[p.name] = { data: Float32Array.from(weights.get(p.name).data), shape: p.shape };
const walls = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  await runner.run(feeds);
  walls.push(performance.now() - t0);
}
const events = JSON.parse(readFileSync(runner.endProfiling(), 'utf8'));
rmSync(dir, { recursive: true, force: true });

// The first run warms ORT up; count the rest.
const runStarts = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').map((e) => e.ts).sort((a, b) => a - b);
const from = runStarts[1] ?? 0;
const counted = Math.max(1, runStarts.length - 1);
const byOp = new Map();
const byNode = new Map();
for (const e of events) {
  if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < from) continue;
  const op = e.args.op_name;
  byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
  const shapes = (e.args.input_type_shape ?? []).map((s) => JSON.stringify(Object.values(s)[0])).join(' ');
  const key = `${op} ${shapes}`;
  const prev = byNode.get(key) ?? { us: 0, count: 0 };
  byNode.set(key, { us: prev.us + e.dur, count: prev.count + 1 });
}
const ms = (us) => (us / counted / 1000).toFixed(2).padStart(7);
const total = [...byOp.values()].reduce((a, b) => a + b, 0);
console.log(`Johnson step ${size}², 2 threads: ${walls.slice(1).map((w) => w.toFixed(0)).join(', ')} ms per run (profiled); kernels ${ms(total)} ms per run`);
console.log('\nper op type (ms per run):');
for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us)}  ${op}`);
console.log('\nper op and input shapes (ms per run, nodes):');
for (const [key, v] of [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, top)) console.log(`${ms(v.us)}  ${String(v.count / counted).padStart(3)}×  ${key}`);
