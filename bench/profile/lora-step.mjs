#!/usr/bin/env node
// Where a fast-network fine-tuning step (train/recipes/fast-style-finetuner.ts's graph: the base,
// the real VGG-19 to relu3_1, Gram/content/TV losses, backward to what trains) spends its time, per
// ONNX op type, for full fine-tuning and LoRA r4 side by side, from ONNX Runtime's profiler. Not a
// benchmark: a tool for finding what a LoRA step still pays for (bench/lora-step.mjs measures it).
// Needs ../shared (the base and the VGG) and a build.
// Usage: node bench/profile/lora-step.mjs [--base fst-small16-candy] [--size 128] [--batch 2] [--runs 3] [--top 12]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { option } from '../stats.js';

const { Graph } = await import('../../dist/engine/graph/graph.js');
const { compile } = await import('../../dist/engine/runtime.js');
const { grad } = await import('../../dist/engine/autodiff/grad.js');
const { transformerNet, transformerNetShapes } = await import('../../dist/engine/nets/transformer-net.js');
const { fastStyleModel, locateInFolder, readFastStyleWeights } = await import('../../dist/engine/nets/fast-style/models.js');
const { readStateDict } = await import('../../dist/engine/nets/model-files.js');
const { trainingHook } = await import('../../dist/engine/lora/graph-adapter.js');
const { chooseTargets, initialPair } = await import('../../dist/engine/lora/targets.js');
const { perceptualLoss } = await import('../../dist/engine/losses/perceptual.js');
const { Rng } = await import('../../dist/core/rng.js');

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = path.resolve(here, '..', '..', '..', 'shared', 'weights');
const baseName = option('base', 'fst-small16-candy');
const size = Number(option('size', 128));
const batch = Number(option('batch', 2));
const runs = Number(option('runs', 3));
const top = Number(option('top', 12));
const model = fastStyleModel(baseName);
const base = await readFastStyleWeights(model, locateInFolder(shared));
const vgg = await readStateDict(path.join(shared, 'vgg19-relu3_1', 'vgg_normalised_conv3_1.pth'));
const shapes = transformerNetShapes(model.spec);
const rng = new Rng(1);
const lora = { kind: 'lora', targets: new Map(chooseTargets(shapes, undefined, 4).map((n) => [n, initialPair(shapes.get(n), 4, rng)])), rank: 4, alpha: 4 };
const content = Float32Array.from({ length: batch * 3 * size * size }, () => rng.next());

async function profile(name, set) {
  const g = new Graph();
  const { hook, trained } = trainingHook(set);
  g.paramHook = hook;
  const x = g.input('content', [batch, 3, size, size]);
  const y = g.scale(transformerNet(g, g.scale(x, 255), base, model.spec), 1 / 255);
  const params = set.kind === 'all' ? [...g.params] : g.params.filter((p) => trained.includes(p.name));
  g.paramHook = (gg, _n, shape, data) => gg.constant(data, shape);
  const grams = Object.fromEntries([['relu1_1', 64], ['relu2_1', 128], ['relu3_1', 256]].map(([t, c]) => [t, g.constant(new Float32Array(c * c).fill(1e-3), [1, c, c])]));
  const terms = perceptualLoss(g, y, x, { vgg, contentTaps: ['relu3_1'], styleTaps: ['relu1_1', 'relu2_1', 'relu3_1'], weights: { content: 1, style: 1e4, tv: 1e-2 } }, grams);
  g.output('loss', terms.total);
  grad(g, terms.total, params).forEach((t, i) => g.output(`grad:${params[i].name}`, t));
  const dir = mkdtempSync(path.join(tmpdir(), 'atelier-profile-'));
  const runner = await compile(g, { threads: 2, paramsAsInputs: true, cache: false, optimization: 'extended', profile: path.join(dir, 'step') });
  const feeds = { content: { data: content, shape: [batch, 3, size, size] } };
  for (const p of params) feeds[p.name] = { data: Float32Array.from(g.data.get(p.id)), shape: p.shape };
  for (let i = 0; i < runs + 1; i++) await runner.run(feeds);
  const events = JSON.parse(readFileSync(runner.endProfiling(), 'utf8'));
  rmSync(dir, { recursive: true, force: true });
  const starts = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').map((e) => e.ts).sort((a, b) => a - b);
  const byOp = new Map();
  const byNode = new Map();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < (starts[1] ?? 0)) continue;
    byOp.set(e.args.op_name, (byOp.get(e.args.op_name) ?? 0) + e.dur);
    const key = `${e.args.op_name} ${(e.args.input_type_shape ?? []).map((s) => JSON.stringify(Object.values(s)[0])).join(' ')}`;
    byNode.set(key, (byNode.get(key) ?? 0) + e.dur);
  }
  if (process.argv.includes('--nodes')) for (const [k, v] of [...byNode].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${name} ${(v / runs / 1000).toFixed(1).padStart(8)} ms  ${k}`);
  const total = [...byOp.values()].reduce((a, b) => a + b, 0) / runs / 1000;
  return { name, total, byOp: new Map([...byOp].map(([k, v]) => [k, v / runs / 1000])) };
}

const results = [await profile('full', { kind: 'all' }), await profile('lora-r4', lora)];
console.log(`${baseName}, ${batch}×${size}², 2 threads: kernel time per step ${results.map((r) => `${r.name} ${r.total.toFixed(0)} ms`).join(', ')}`);
const ops = [...new Set(results.flatMap((r) => [...r.byOp.keys()]))].sort((a, b) => (results[0].byOp.get(b) ?? 0) - (results[0].byOp.get(a) ?? 0));
for (const op of ops.slice(0, top)) console.log(`${op.padEnd(22)} ${results.map((r) => (r.byOp.get(op) ?? 0).toFixed(1).padStart(9)).join(' ')}`);
