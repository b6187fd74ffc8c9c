#!/usr/bin/env node
// One training step of a fast-style network, LoRA against full fine-tuning and conditional-norm-only
// training, same run, same graph apart from what trains (train/recipes/fast-style-finetuner.ts):
// the base's forward, the real VGG-19 to relu3_1 on output and content, Gram style + relu3_1
// content + TV losses, backward to what trains, Adam. Kinds run round-robin (one step each per
// round, after a warm-up step) so load drifts hit them alike; medians over the rounds, and each
// kind's ratio to full fine-tuning, in wall time and in this process's CPU time. Needs ../shared (the base and the VGG) and a build (npm run build).
// Usage: node bench/lora-step.mjs [--base fst-small16-candy (fst-pytorch-candy: the full width)] [--size 256] [--batch 2] [--rounds 5] [--threads 2]
// Writes bench/results/lora-step.json (lora-step-<base>.json for another --base).
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, option } from './stats.js';
import { Rng } from '../dist/core/rng.js';
import { fastStyleModel, locateInFolder, readFastStyleWeights } from '../dist/engine/nets/fast-style/models.js';
import { readStateDict } from '../dist/engine/nets/model-files.js';
import { transformerNetShapes } from '../dist/engine/nets/transformer-net.js';
import { chooseTargets, initialPair } from '../dist/engine/lora/targets.js';
import { FastStyleFinetuner } from '../dist/train/recipes/fast-style-finetuner.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = path.resolve(here, '..', '..', 'shared', 'weights');
const baseName = option('base', 'fst-small16-candy');
const size = Number(option('size', '256'));
const batch = Number(option('batch', '2'));
const rounds = Number(option('rounds', '5'));
const threads = Number(option('threads', '2'));

const model = fastStyleModel(baseName);
const base = await readFastStyleWeights(model, locateInFolder(shared));
const vgg = await readStateDict(path.join(shared, 'vgg19-relu3_1', 'vgg_normalised_conv3_1.pth'));
const shapes = transformerNetShapes(model.spec);
// A plausible style target (its values do not change the cost of a step).
const grams = [64, 128, 256].map((c) => Float32Array.from({ length: c * c }, (_, i) => (i % (c + 1) === 0 ? 1e-2 : 1e-4)));
const loraSet = (rank, patterns) => {
  const rng = new Rng(1);
  const targets = chooseTargets(shapes, patterns, rank);
  return { kind: 'lora', targets: new Map(targets.map((n) => [n, initialPair(shapes.get(n), rank, rng)])), rank, alpha: rank };
};
const kinds = {
  full: { kind: 'all' },
  'norm-only': { kind: 'subset', trainable: (n) => /(^|\.)in\d\.(weight|bias)$/.test(n) },
  'lora-r4': loraSet(4),
  'lora-r8': loraSet(8),
  'lora-r4-res': loraSet(4, ['res*']),
};
const tuners = {};
for (const [name, set] of Object.entries(kinds)) {
  const t0 = performance.now();
  tuners[name] = await FastStyleFinetuner.create(base, model.spec, vgg, grams, { size, batch, weights: { content: 1, style: 1e4, tv: 1e-2 }, learningRate: 1e-4, threads, set });
  console.error(`${name}: ${tuners[name].parameterCount} trainable parameters, graphs built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
const rng = new Rng(7);
const content = Float32Array.from({ length: batch * 3 * size * size }, () => rng.next());
for (const t of Object.values(tuners)) await t.step(content); // warm-up
const times = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
// CPU time of this process (ONNX Runtime's threads included) per step: what a step costs, and
// much less disturbed than wall time by other processes on a loaded machine.
const cpuTimes = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
const loads = [loadavg()[0]];
for (let r = 0; r < rounds; r++) {
  for (const [name, t] of Object.entries(tuners)) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await t.step(content);
    times[name].push((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpuTimes[name].push((c.user + c.system) / 1e6);
  }
  loads.push(loadavg()[0]);
  console.error(`round ${r + 1}/${rounds}: ${Object.entries(times).map(([k, v]) => `${k} ${v.at(-1).toFixed(2)} s`).join(', ')} (load ${loadavg()[0].toFixed(1)})`);
}
const full = median(times.full);
const fullCpu = median(cpuTimes.full);
const result = {
  benchmark: 'one training step: LoRA vs full fine-tuning vs norm-only (same run, round-robin)',
  base: baseName,
  size,
  batch,
  threads,
  rounds,
  loadAverage: { start: loads[0], end: loads.at(-1), max: Math.max(...loads) },
  kinds: Object.fromEntries(
    Object.entries(tuners).map(([k, t]) => [k, { trainableParameters: t.parameterCount, medianSeconds: +median(times[k]).toFixed(3), ratioToFull: +(median(times[k]) / full).toFixed(3), medianCpuSeconds: +median(cpuTimes[k]).toFixed(3), cpuRatioToFull: +(median(cpuTimes[k]) / fullCpu).toFixed(3), seconds: times[k].map((s) => +s.toFixed(3)), cpuSeconds: cpuTimes[k].map((s) => +s.toFixed(3)) }]),
  ),
};
console.log(JSON.stringify(result, null, 1));
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results', baseName === 'fst-small16-candy' ? 'lora-step.json' : `lora-step-${baseName}.json`), JSON.stringify(result, null, 1) + '\n');
