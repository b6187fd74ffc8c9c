#!/usr/bin/env node
// Where one CycleGAN generator's training pass (forward, L1 loss, gradient of every weight; the
// generator graph of a CycleGAN iteration runs six of these) spends its time, per ONNX op type
// and per node, from ONNX Runtime's own profiler. Not a benchmark (no peer): a tool for choosing
// what to optimise next. Profiling adds a few per cent to every node.
// Usage: npm run build && node bench/profile/cyclegan-generator.mjs [--size 256] [--width 64]
//   [--blocks 9] [--runs 4] [--top 25] [--threads 2]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { option } from '../stats.js';

const { Graph } = await import('../../dist/engine/graph/graph.js');
const { compile } = await import('../../dist/engine/runtime.js');
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

const dir = mkdtempSync(path.join(tmpdir(), 'atelier-profile-'));
const prefix = path.join(dir, 'step');
const runner = await compile(g, { threads, paramsAsInputs: true, memory: 'arena', profile: prefix });
const rng = new Rng(1);
const rand = () => Float32Array.from({ length: 3 * size * size }, () => rng.uniform(-1, 1));
const feeds = { ...params.feeds(), image: { data: rand(), shape: [1, 3, size, size] }, target: { data: rand(), shape: [1, 3, size, size] } };
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
const ms = (us) => (us / counted / 1000).toFixed(2).padStart(8);
const total = [...byOp.values()].reduce((a, b) => a + b, 0);
const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
console.log(`CycleGAN generator pass ${size}², width ${width}, ${blocks} blocks, ${threads} threads: ${walls.slice(1).map((w) => w.toFixed(0)).join(', ')} ms per run (profiled); kernels ${ms(total)} ms per run`);
console.log('\nper op type (ms per run):');
for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us)} ${pct(us)}  ${op}`);
console.log('\nper op and input shapes (ms per run, nodes):');
for (const [key, v] of [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, top)) console.log(`${ms(v.us)} ${pct(v.us)}  ${String(v.count / counted).padStart(3)}×  ${key}`);
