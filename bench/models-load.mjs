#!/usr/bin/env node
// Time to load (and, where a network is defined, build) every model of the manifest through the
// model store, cold (a fresh process: nothing parsed, nothing compiled) and again in the same
// process (the session cache: ONNX Runtime sessions are cached by graph hash, the OS page cache
// is warm). Models are installed first from ../shared/weights (`--from`, licences accepted: a
// benchmark is research use) into scratch/bench-models.
//
//   node bench/models-load.mjs [NAME ...]        (`npm run build` first; default: every model with files in ../shared)
//
// Each format's reader is one entry of LOADERS; a model with an engine network has a BUILDERS
// entry (read + map + compile, as its method builds it): every fst-* network (whole-image graph),
// magenta-multistyle, magenta-arbitrary (predictor + fp16 transfer), whitebox-cartoon (dr),
// animeganv2-hayao (imported graphs compiled at 512²), microast (its four graphs), vgg19-relu3_1
// and wct-cd16x (every encoder/decoder level) and lpips-squeeze. A model whose format has no
// loader here is listed as skipped, never timed as zero.
// Short mode: name a few models, e.g. `node bench/models-load.mjs fst-pytorch-candy microast wct-cd16x`.
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
const BUILD_SIDE = 512;

/** An imported TFLite / GraphDef network: parse (cached per file), import and compile at `shapes`. */
async function importedBuild(model, file, shapes, options = {}) {
  const { ImportedNetwork } = await dist('engine/nets/imported-network.js');
  const t0 = performance.now();
  const net = await ImportedNetwork.load(model.file(file), options, THREADS);
  const t1 = performance.now();
  await net.at(shapes);
  return { readMs: t1 - t0, buildMs: performance.now() - t1 };
}

/** A per-style fast network: read its published files into the TransformerNet's weights, compile the whole-image graph. */
async function fastStyleBuild(name) {
  const { fastStyleModel, readFastStyleWeights, locateInstalled } = await dist('engine/nets/fast-style/models.js');
  const { FastStyleStylizer } = await dist('engine/nets/fast-style/stylizer.js');
  const m = fastStyleModel(name);
  const t0 = performance.now();
  const weights = await readFastStyleWeights(m, locateInstalled(m));
  const t1 = performance.now();
  await FastStyleStylizer.create(weights, m.spec, THREADS);
  return { readMs: t1 - t0, buildMs: performance.now() - t1 };
}

/** Every encoder/decoder level of a WCT cascade (vgg19: 3 levels, cd16x: 5), read and compiled. */
async function wctBuild(network) {
  const { WCT_LEVELS, WCT_MODELS, wctLevelSpec, wctEncoder, wctDecoder } = await dist('engine/nets/wct-autoencoders.js');
  const { readModelFile } = await dist('engine/nets/model-files.js');
  const { Graph } = await dist('engine/graph/graph.js');
  const { compile } = await dist('engine/runtime.js');
  let readMs = 0;
  let buildMs = 0;
  for (let level = 1; level <= WCT_LEVELS[network]; level++) {
    const spec = wctLevelSpec(network, level);
    let t = performance.now();
    const [ew, dw] = await Promise.all([readModelFile(WCT_MODELS[network], spec.encoderFile), readModelFile(WCT_MODELS[network], spec.decoderFile)]);
    readMs += performance.now() - t;
    t = performance.now();
    const ge = new Graph();
    ge.output('features', wctEncoder(ge, ge.input('image', [1, 3, 'H', 'W']), ew, network, level));
    const gd = new Graph();
    gd.output('image', wctDecoder(gd, gd.input('features', [1, spec.channels, 'h', 'w']), dw, network, level));
    // Cached sessions (the runtime's cache by graph hash): a second build in the process reuses them.
    await Promise.all([compile(ge, { threads: THREADS, memory: 'lean' }), compile(gd, { threads: THREADS, memory: 'lean' })]);
    buildMs += performance.now() - t;
  }
  return { readMs, buildMs };
}

const BUILDERS = {
  'magenta-multistyle': async (model) => {
    const { MULTISTYLE } = await dist('engine/nets/magenta-multistyle.js');
    return importedBuild(model, MULTISTYLE.file, { [MULTISTYLE.input]: [1, BUILD_SIDE, BUILD_SIDE, 3], [MULTISTYLE.styleInput]: [MULTISTYLE.styles] }, { outputs: [MULTISTYLE.output] });
  },
  'magenta-arbitrary': async (model) => {
    // The predictor (256², as trained) and the default fp16 transfer network at BUILD_SIDE².
    const { ARBITRARY } = await dist('engine/nets/magenta-arbitrary.js');
    const s = ARBITRARY.predictor.size;
    const a = await importedBuild(model, ARBITRARY.predictor.file, { [ARBITRARY.predictor.input]: [1, s, s, 3] });
    const b = await importedBuild(model, ARBITRARY.transfer.fp16.file, { [ARBITRARY.contentInput]: [1, BUILD_SIDE, BUILD_SIDE, 3], [ARBITRARY.vectorInput]: [1, 1, 1, ARBITRARY.dims] });
    return { readMs: a.readMs + b.readMs, buildMs: a.buildMs + b.buildMs };
  },
  'whitebox-cartoon': async (model) => {
    const { CARTOON_VARIANTS } = await dist('engine/nets/gan-stylizer-models.js');
    const v = CARTOON_VARIANTS.dr;
    return importedBuild(model, v.file, { [v.input]: [1, BUILD_SIDE, BUILD_SIDE, 3] });
  },
  'animeganv2-hayao': async (model) => {
    const { ANIME_HAYAO } = await dist('engine/nets/gan-stylizer-models.js');
    return importedBuild(model, ANIME_HAYAO.file, { [ANIME_HAYAO.input]: [1, BUILD_SIDE, BUILD_SIDE, 3] });
  },
  async microast() {
    const { MICROAST_MODEL, MICROAST_FILES } = await dist('engine/nets/microast.js');
    const { readModelFile } = await dist('engine/nets/model-files.js');
    const { MicroAstStylizer } = await dist('engine/nets/microast-stylizer.js');
    const t0 = performance.now();
    const parts = Object.keys(MICROAST_FILES);
    const maps = await Promise.all(parts.map((p) => readModelFile(MICROAST_MODEL, MICROAST_FILES[p])));
    const t1 = performance.now();
    // Its sessions are uncached (the method keeps the built stylizer instead), so the second build compiles again.
    await MicroAstStylizer.create(Object.fromEntries(parts.map((p, i) => [p, maps[i]])), THREADS);
    return { readMs: t1 - t0, buildMs: performance.now() - t1 };
  },
  'vgg19-relu3_1': () => wctBuild('vgg19'),
  'wct-cd16x': () => wctBuild('cd16x'),
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

for (const prefix of ['fst-engstrom-', 'fst-pytorch-', 'fst-small16-', 'fst-small8-']) {
  const { FAST_STYLE_MODELS } = await dist('engine/nets/fast-style/models.js');
  for (const m of FAST_STYLE_MODELS) if (m.name.startsWith(prefix)) BUILDERS[m.name] = () => fastStyleBuild(m.name);
}

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
