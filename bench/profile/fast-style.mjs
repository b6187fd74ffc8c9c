#!/usr/bin/env node
// Where a published fast-style network's inference (neural.fast's whole-image graph) spends its
// time, per ONNX op type and per node, from ONNX Runtime's own profiler, plus the achieved conv
// throughput (the network's multiply-adds over the run's wall time). Not a benchmark (no peer): a
// tool for choosing what to optimise next. Profiling adds a few per cent to every node.
// Usage: npm run build && nice -n 10 node bench/profile/fast-style.mjs [--model fst-pytorch-candy] [--size 512] [--runs 2] [--top 20]
// (needs ../shared/weights)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { option } from '../stats.js';

const { fastStyleModel, readFastStyleWeights, locateInFolder } = await import('../../dist/engine/nets/fast-style/models.js');
const { transformerNet } = await import('../../dist/engine/nets/transformer-net.js');
const { Graph } = await import('../../dist/engine/graph/graph.js');
const { compile } = await import('../../dist/engine/runtime.js');

const shared = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/weights');
const size = Number(option('size', 512));
const runs = Number(option('runs', 2));
const top = Number(option('top', 20));
const model = fastStyleModel(option('model', 'fst-pytorch-candy'));

/** Multiply-adds of the engine's graph for this spec at size² (conv layers only; upsampling convs as their 4 phases at the lower resolution, the same count). */
function macs(spec, side) {
  const p = side * side;
  const [c1, c2, c3] = [spec.width, 2 * spec.width, 4 * spec.width];
  const up = spec.upsampling === 'transposed-conv' ? 16 : 36; // 4 phases × (2×2 or 3×3) taps per input pixel
  return 81 * 3 * c1 * p + (9 * c1 * c2 * p) / 4 + (9 * c2 * c3 * p) / 16 + (10 * 9 * c3 * c3 * p) / 16 + (up * c3 * c2 * p) / 16 + (up * c2 * c1 * p) / 4 + 81 * c1 * 3 * p;
}

const g = new Graph();
g.output('y', transformerNet(g, g.input('image', [1, 3, 'H', 'W']), await readFastStyleWeights(model, locateInFolder(shared)), model.spec));
const dir = mkdtempSync(path.join(tmpdir(), 'atelier-prof-'));
try {
  const runner = await compile(g, { threads: 2, profile: path.join(dir, 'fast') });
  const x = new Float32Array(3 * size * size).map((_, i) => 128 + 60 * Math.sin(i / 5000));
  await runner.run({ image: { data: x, shape: [1, 3, size, size] } });
  let wall = 0;
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    await runner.run({ image: { data: x, shape: [1, 3, size, size] } });
    wall += performance.now() - t;
  }
  const trace = JSON.parse(readFileSync(runner.endProfiling(), 'utf8'));
  const byNode = new Map();
  let total = 0;
  for (const e of trace) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const key = `${e.args.op_name}\t${e.name.replace('_kernel_time', '')}\t${e.args.output_type_shape ? JSON.stringify(e.args.output_type_shape.map((o) => Object.values(o)[0])) : ''}`;
    byNode.set(key, (byNode.get(key) ?? 0) + e.dur);
    total += e.dur;
  }
  const byOp = new Map();
  for (const [k, v] of byNode) byOp.set(k.split('\t')[0], (byOp.get(k.split('\t')[0]) ?? 0) + v);
  const ms = wall / runs;
  const gmac = macs(model.spec, size) / 1e9;
  console.log(`${model.name} at ${size}², 2 threads: ${ms.toFixed(0)} ms a run, ${gmac.toFixed(1)} GMAC = ${((2 * gmac) / (ms / 1000)).toFixed(1)} GFLOP/s achieved`);
  console.log('per op type: ' + [...byOp].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${((100 * v) / total).toFixed(1)} %`).join(', '));
  console.log(`top ${top} nodes (share of node time; includes the untimed first run):`);
  for (const [k, v] of [...byNode].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
