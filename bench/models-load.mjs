#!/usr/bin/env node
// Time to load (and, where a network is defined, build) every model of the manifest through the
// model store, cold (a fresh process: nothing parsed, nothing compiled) and again in the same
// process (the session cache: ONNX Runtime sessions are cached by graph hash, the OS page cache
// is warm). Models are installed first from ../shared/weights (`--from`, licences accepted: a
// benchmark is research use) into scratch/bench-models.
//
//   node bench/models-load.mjs [NAME ...]        (`npm run build` first; default: every model with files in ../shared)
//
// Each format's reader is one entry of LOADERS; a model with an engine network adds a BUILDERS
// entry (read + map + compile). Lanes owning a format or network fill in theirs; a model whose
// format has no loader here is listed as skipped, never timed as zero.
// Writes bench/results/models-load.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dist, HOME, installFromShared, shared, THREADS } from './model-bench-setup.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

/** format → read every file of that format of an installed model; returns how many numbers were read. */
const LOADERS = {
  async pth(files) {
    const { readPth } = await dist('engine/weights/pth.js');
    let n = 0;
    for (const f of files) for (const t of (await readPth(f.absolute)).values()) n += t.data.length;
    return n;
  },
  async onnx(files) {
    const { readOnnx } = await dist('engine/weights/onnx.js');
    let n = 0;
    for (const f of files) for (const t of (await readOnnx(f.absolute)).graph.initializers.values()) n += t.values.length;
    return n;
  },
  async hdf5(files) {
    const { readKerasHdf5 } = await dist('engine/weights/keras-hdf5.js');
    let n = 0;
    for (const f of files) for (const t of (await readKerasHdf5(f.absolute)).tensors.values()) n += t.data.length;
    return n;
  },
  async tflite(files) {
    const { readTflite } = await dist('engine/weights/tflite.js');
    let n = 0;
    for (const f of files) for (const sg of (await readTflite(f.absolute)).subgraphs) n += sg.tensors.length;
    return n; // tensors, not numbers: the TFLite reader keeps constant buffers as views and decodes on use
  },
  async graphdef(files) {
    const { readGraphDef } = await dist('engine/weights/graphdef.js');
    let n = 0;
    for (const f of files) n += (await readGraphDef(f.absolute)).nodes.length;
    return n; // nodes
  },
  async deeplearnjs(files) {
    const { readDeeplearnCheckpoint } = await dist('engine/weights/deeplearnjs.js');
    const manifest = files.find((f) => f.path === 'manifest.json');
    let n = 0;
    for (const t of (await readDeeplearnCheckpoint(path.dirname(manifest.absolute))).values()) n += t.data.length;
    return n;
  },
  async ncnn(files) {
    const { readNcnnModel } = await dist('engine/weights/ncnn.js');
    const param = files.find((f) => f.path.endsWith('.param'));
    const bin = files.find((f) => f.path.endsWith('.bin'));
    const model = await readNcnnModel(param.absolute, bin.absolute);
    return model.layers.length; // layers
  },
};

/**
 * model name → read its files, map the weights, build and compile its engine network (the figure
 * the issue asks for); returns { readMs, buildMs }. Replaces the format loaders for that model.
 */
const BUILDERS = {
  async 'lpips-squeeze'(model) {
    const { readKerasHdf5 } = await dist('engine/weights/keras-hdf5.js');
    const { readPth } = await dist('engine/weights/pth.js');
    const { squeezeTrunkFromKeras, lpipsSqueezeDistance } = await dist('engine/nets/lpips-squeeze.js');
    const { Graph } = await dist('engine/graph/graph.js');
    const { compile } = await dist('engine/runtime.js');
    const t0 = performance.now();
    const keras = await readKerasHdf5(model.fileOf('hdf5'));
    const heads = await readPth(model.file('v0.1/squeeze.pth'));
    const t1 = performance.now();
    const trunk = squeezeTrunkFromKeras(keras);
    const g = new Graph();
    const a = g.input('a', [1, 3, 'H', 'W']);
    const b = g.input('b', [1, 3, 'H', 'W']);
    g.output('d', lpipsSqueezeDistance(g, a, b, trunk, heads).total);
    await compile(g, { threads: THREADS, memory: 'lean' });
    return { readMs: t1 - t0, buildMs: performance.now() - t1 };
  },
};

if (process.argv[2] === '--case') {
  console.log(JSON.stringify(await runCase(process.argv[3])));
  process.exit(0);
}

/** In a fresh process: load (and build) twice; the first is cold, the second from the session cache. */
async function runCase(name) {
  const { modelFiles } = await dist('engine/store.js');
  const model = modelFiles(name);
  const formats = [...new Set(model.files.map((f) => f.format))].filter((f) => f !== 'jpeg');
  const missing = formats.filter((f) => !LOADERS[f]);
  if (missing.length > 0) return { name, skipped: `no loader for ${missing.join(', ')} in bench/models-load.mjs` };
  const once = async () => {
    const t0 = performance.now();
    if (BUILDERS[name]) {
      const { readMs, buildMs } = await BUILDERS[name](model);
      return { readMs, buildMs, totalMs: performance.now() - t0 };
    }
    let values = 0;
    for (const format of formats) values += await LOADERS[format](model.files.filter((f) => f.format === format));
    return { readMs: performance.now() - t0, totalMs: performance.now() - t0, values };
  };
  const cold = await once();
  const cached = await once();
  return { name, formats, bytes: model.files.reduce((s, f) => s + f.size, 0), built: Boolean(BUILDERS[name]), cold, cached };
}

const { loadManifest } = await dist('engine/store/manifest.js');
const wanted = process.argv.slice(2);
const names = wanted.length > 0 ? wanted : loadManifest().models.filter((m) => m.files.every((f) => f.url?.startsWith('https://raw.githubusercontent.com/'))).map((m) => m.name);
const results = [];
console.log(`models-load: ${names.length} models, ${THREADS} threads; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
for (const name of names) {
  await installFromShared(name, { variants: 'all' });
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--case', name], { encoding: 'utf8', env: { ...process.env, ATELIER_HOME: HOME } });
  if (r.status !== 0) {
    results.push({ name, error: r.stderr.trim().split('\n').slice(-3).join(' ') });
    console.log(`${name.padEnd(28)} FAILED ${results.at(-1).error}`);
    continue;
  }
  const c = JSON.parse(r.stdout.trim().split('\n').at(-1));
  c.load = loadavg()[0];
  results.push(c);
  if (c.skipped) console.log(`${name.padEnd(28)} skipped: ${c.skipped}`);
  else {
    console.log(
      `${name.padEnd(28)} ${c.formats.join('+').padEnd(14)} ${(c.bytes / 1e6).toFixed(1).padStart(5)} MB  cold ${c.cold.totalMs.toFixed(0).padStart(6)} ms (read ${c.cold.readMs.toFixed(0)}${c.built ? `, build ${c.cold.buildMs.toFixed(0)}` : ''})  session cache ${c.cached.totalMs.toFixed(0).padStart(6)} ms${c.built ? ` (read ${c.cached.readMs.toFixed(0)}, build ${c.cached.buildMs.toFixed(0)})` : ''}${c.built ? '  [read+build+compile]' : '  [read]'}  load ${c.load.toFixed(1)}`,
    );
  }
}
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results', 'models-load.json'), JSON.stringify({ threads: THREADS, date: new Date().toISOString(), results }, null, 2) + '\n');
