#!/usr/bin/env node
// Fast-style networks (Johnson et al. 2016): Atelier's imported graphs against their peers, same run,
// 2 threads each, ratios:
//  1. the 1.68 M-param TransformerNet (fst-pytorch-candy, ncnn weights) at 1024² (one pass) and 4K
//     (3840×2160, tiled), against PyTorch running the same architecture and weights
//     (test/helpers/fast_style_reference.py, written from the paper; at 4K it runs the same tiles,
//     equalTileShapes' one shape); each in a fresh process, so peak RSS (VmHWM) is that run's own;
//  2. fst-small nc16 at 256²: our graph from the .model state dict against ONNX Runtime running the
//     published ONNX export as it is (same process, interleaved);
//  3. neural.fast end to end at 1024² (runMethod) for the three widths;
//  4. time to read and build each publication's network, cold and from the session cache;
//  5. tiles against the whole image: a dev photo at 1536×1024 whole (its own norm statistics) and in
//     512² tiles sharing the statistics of a proxy (the shrunk whole image) of half its pixels (what
//     the stylizer does) and of one tile's pixels (what it did): mean and max |difference|.
// Usage: nice -n 10 node bench/fast.mjs [--runs 3] [--tile 1536] [--skip-4k] [--only 1,2,3,5]
//   short mode: nice -n 10 node bench/fast.mjs --runs 1 --skip-4k --only 1,5
//   (needs ../shared/weights and ../shared/data, python3-torch)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, option, peakMB } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const SHARED = path.resolve(root, '../shared/weights');
const THREADS = 2;
const runs = Number(option('runs', '3'));
const tile = Number(option('tile', '1536'));
const only = option('only', '1,2,3,4,5').split(',').map(Number);

/** A photo-like synthetic image, planar RGB 0–255. */
function syntheticImage(w, h) {
  const data = new Float32Array(3 * w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const u = x / w;
      const v = y / h;
      const i = y * w + x;
      data[i] = 255 * (0.2 + 0.6 * u + 0.1 * Math.sin(40 * v));
      data[w * h + i] = 255 * (0.3 + 0.4 * v + 0.1 * Math.sin(60 * u * v));
      data[2 * w * h + i] = 255 * (0.5 + 0.3 * Math.sin(25 * (u + v)));
    }
  return data;
}

// ------------------------------------------------------------------ worker: our network on one image
async function oursWorker([modelName, inputFile, w, h, runsArg, tileArg]) {
  const { fastStyleModel, readFastStyleWeights, locateInFolder } = await import('../dist/engine/nets/fast-style/models.js');
  const { FastStyleStylizer } = await import('../dist/engine/nets/fast-style/stylizer.js');
  [w, h] = [Number(w), Number(h)];
  const model = fastStyleModel(modelName);
  const t0 = performance.now();
  const stylizer = await FastStyleStylizer.create(await readFastStyleWeights(model, locateInFolder(SHARED)), model.spec, THREADS);
  const buildMs = performance.now() - t0;
  const input = new Float32Array(readFileSync(inputFile).buffer.slice(0)).map((v) => v / 255);
  const maxTilePixels = Number(tileArg) ** 2;
  const times = [];
  for (let r = 0; r < Number(runsArg); r++) {
    const t = performance.now();
    await stylizer.stylize(input, w, h, { maxTilePixels });
    times.push(performance.now() - t);
  }
  process.stdout.write(JSON.stringify({ times, peakMB: peakMB(), buildMs }) + '\n');
}

function child(args) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', ...args.map(String)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

function torch(format, weights, inputFile, w, h, extra = []) {
  const out = path.join(path.dirname(inputFile), 'torch-out.f32');
  const r = spawnSync('/usr/bin/python3', [path.join(root, 'test/helpers/fast_style_reference.py'), format, weights, inputFile, String(h), String(w), out, '--threads', String(THREADS), '--time', String(runs), ...extra], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').at(-1));
  return { times: j.seconds.map((s) => s * 1000), peakMB: j.peakRssBytes / 2 ** 20 };
}

async function main() {
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const results = { date: new Date().toISOString(), threads: THREADS, runs, tile, cpu: cpuName(), rows: [] };
  const work = mkdtempSync(path.join(tmpdir(), 'atelier-fast-bench-'));
  try {
    // 1. TransformerNet 1.68 M params vs PyTorch.
    const sizes = !only.includes(1) ? [] : [[1024, 1024], ...(process.argv.includes('--skip-4k') ? [] : [[3840, 2160]])];
    const ncnn = `${SHARED}/fst-ncnn/styletransfer.param:${SHARED}/fst-ncnn/candy.bin`;
    const { equalTileShapes, planTiles } = await import('../dist/engine/nets/capvst/tiles.js');
    for (const [w, h] of sizes) {
      const file = path.join(work, `in-${w}x${h}.f32`);
      writeFileSync(file, syntheticImage(w, h));
      const tiled = w * h > tile * tile;
      const crops = tiled ? equalTileShapes(planTiles(w, h, tile * tile, 96, 4)).tiles.map((t) => `${t.ext.x1 - t.ext.x0}x${t.ext.y1 - t.ext.y0}`) : [];
      const loadBefore = load();
      const ours = child(['fst-pytorch-candy', file, w, h, runs, tile]);
      const peer = torch('ncnn', ncnn, file, w, h, tiled ? ['--crops', crops.join(',')] : []);
      const row = {
        bench: 'transformer-net vs pytorch',
        model: 'fst-pytorch-candy (1,679,235 params)',
        size: `${w}x${h}`,
        tiles: tiled ? crops.length : 1,
        atelier_ms: median(ours.times),
        torch_ms: median(peer.times),
        speed_ratio: median(peer.times) / median(ours.times),
        atelier_peak_mb: ours.peakMB,
        torch_peak_mb: peer.peakMB,
        memory_ratio: ours.peakMB / peer.peakMB,
        atelier_runs: ours.times,
        torch_runs: peer.times,
        load_avg: `${loadBefore} → ${load()}`,
        note: tiled ? 'both run the same tiles; ours also runs the whole image shrunk to half its pixels (proxyPixels) for the shared norm statistics, an extra ~0.37x of the tiles’ work at 4K' : 'whole image, one pass each',
      };
      console.log(JSON.stringify(row));
      results.rows.push(row);
    }

    // 2. fst-small nc16 at 256²: our graph vs ONNX Runtime on the published export, interleaved.
    if (only.includes(2)) {
      const ort = (await import('onnxruntime-node')).default;
      const { Graph } = await import('../dist/engine/graph/graph.js');
      const { compile } = await import('../dist/engine/runtime.js');
      const { transformerNet } = await import('../dist/engine/nets/transformer-net.js');
      const { fastStyleModel, readFastStyleWeights, locateInFolder } = await import('../dist/engine/nets/fast-style/models.js');
      const model = fastStyleModel('fst-small16-candy');
      const g = new Graph();
      g.output('y', transformerNet(g, g.input('image', [1, 3, 'H', 'W']), await readFastStyleWeights(model, locateInFolder(SHARED)), model.spec));
      const ours = await compile(g, { threads: THREADS });
      const session = await ort.InferenceSession.create(`${SHARED}/fst-small/onnx_models/candy_nc16_256x256_onnxjs014.onnx`, { intraOpNumThreads: THREADS, interOpNumThreads: 1, executionMode: 'sequential' });
      const x = syntheticImage(256, 256);
      const feedsOrt = { [session.inputNames[0]]: new ort.Tensor('float32', x, [1, 3, 256, 256]) };
      for (let i = 0; i < 3; i++) (await ours.run({ image: { data: x, shape: [1, 3, 256, 256] } }), await session.run(feedsOrt));
      const a = [];
      const b = [];
      const loadBefore = load();
      for (let r = 0; r < 20; r++) {
        let t = performance.now();
        await ours.run({ image: { data: x, shape: [1, 3, 256, 256] } });
        a.push(performance.now() - t);
        t = performance.now();
        await session.run(feedsOrt);
        b.push(performance.now() - t);
      }
      const row = { bench: 'fst-small nc16 vs ONNX Runtime on the published ONNX', size: '256x256', atelier_ms: median(a), onnx_export_ms: median(b), speed_ratio: median(b) / median(a), atelier_runs: a, onnx_export_runs: b, load_avg: `${loadBefore} → ${load()}` };
      console.log(JSON.stringify(row));
      results.rows.push(row);
      await session.release();
    }

    // 3. neural.fast end to end at 1024² (the method as a user runs it), and 4. build times.
    if (only.includes(3) || only.includes(4)) {
      const home = path.join(work, 'home');
      process.env.ATELIER_HOME = home;
      const { pullModel } = await import('../dist/engine/store.js');
      const { runMethod } = await import('../dist/core/stylize.js');
      const { Image } = await import('../dist/core/image.js');
      const { fast } = await import('../dist/methods/neural/fast.js');
      const { fastStyleModel, readFastStyleWeights, locateInstalled } = await import('../dist/engine/nets/fast-style/models.js');
      const { FastStyleStylizer } = await import('../dist/engine/nets/fast-style/stylizer.js');
      const content = new Image(1024, 1024, 3, syntheticImage(1024, 1024).map((v) => v / 255));
      for (const name of ['fst-engstrom-udnie', 'fst-pytorch-candy', 'fst-small16-candy', 'fst-small8-candy']) {
        await pullModel(name, { home, from: SHARED, acceptLicence: true });
        const m = fastStyleModel(name);
        let t = performance.now();
        const weights = await readFastStyleWeights(m, locateInstalled(m));
        const readMs = performance.now() - t;
        t = performance.now();
        await FastStyleStylizer.create(weights, m.spec, THREADS);
        const compileColdMs = performance.now() - t;
        t = performance.now();
        await FastStyleStylizer.create(await readFastStyleWeights(m, locateInstalled(m)), m.spec, THREADS);
        const cachedMs = performance.now() - t;
        await runMethod(fast, { content, extra: {} }, { model: name, seed: 1 }, { threads: THREADS });
        const times = [];
        const loadBefore = load();
        for (let r = 0; r < runs; r++) {
          t = performance.now();
          await runMethod(fast, { content, extra: {} }, { model: name }, { threads: THREADS });
          times.push(performance.now() - t);
        }
        const row = { bench: 'neural.fast end to end', model: name, size: '1024x1024', method_ms: median(times), runs: times, read_weights_ms: readMs, build_cold_ms: compileColdMs, read_and_build_cached_ms: cachedMs, load_avg: `${loadBefore} → ${load()}` };
        console.log(JSON.stringify(row));
        results.rows.push(row);
      }
    }

    // 5. Tiles against the whole image on a dev photo.
    if (only.includes(5)) {
      const { readImage } = await import('../dist/core/io.js');
      const { resizeImage } = await import('../dist/core/resample.js');
      const { fastStyleModel, readFastStyleWeights, locateInFolder } = await import('../dist/engine/nets/fast-style/models.js');
      const { FastStyleStylizer, padded, proxyPixels } = await import('../dist/engine/nets/fast-style/stylizer.js');
      const { equalTileShapes, planTiles } = await import('../dist/engine/nets/capvst/tiles.js');
      const [W, H, maxTile] = [1536, 1024, 512 * 512];
      const photo = resizeImage(await readImage(path.resolve(root, '../shared/data/dev/content/stata.jpg')), W, H);
      const model = fastStyleModel('fst-pytorch-candy');
      const stylizer = await FastStyleStylizer.create(await readFastStyleWeights(model, locateInFolder(SHARED)), model.spec, THREADS);
      const img = padded(photo.data, W, H, 255);
      const whole = await stylizer.stylize(photo.data, W, H, { maxTilePixels: W * H });
      const plan = equalTileShapes(planTiles(W, H, maxTile, 96, 4));
      for (const [label, pixels] of [['proxy ½ the pixels (now)', proxyPixels(W * H, maxTile)], ['proxy one tile (before)', maxTile]]) {
        const t = performance.now();
        const tiled = await stylizer.runTiles(img, plan.tiles, await stylizer.proxyStatistics(img, pixels));
        const ms = performance.now() - t;
        let sum = 0;
        let max = 0;
        for (let c = 0; c < 3; c++)
          for (let i = 0; i < W * H; i++) {
            const d = Math.abs(Math.min(255, Math.max(0, tiled[c * W * H + i])) - 255 * whole[c * W * H + i]);
            sum += d;
            max = Math.max(max, d);
          }
        const row = { bench: 'tiles vs whole image', model: model.name, size: `${W}x${H}`, tiles: plan.tiles.length, tile_pixels: maxTile, proxy: label, proxy_pixels: pixels, mean_abs_diff_255: sum / (3 * W * H), mean_abs_diff_percent: (100 * sum) / (3 * W * H * 255), max_abs_diff_255: max, tiled_ms: ms };
        console.log(JSON.stringify(row));
        results.rows.push(row);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  // A partial run (--only) replaces the kinds of rows it measured and keeps the others, each row
  // dated by the run that measured it.
  const out = path.join(here, 'results', 'fast.json');
  let previous = { rows: [] };
  try {
    previous = JSON.parse(readFileSync(out, 'utf8'));
  } catch {
    // no earlier results
  }
  const measured = new Set(results.rows.map((r) => r.bench));
  const kept = previous.rows.filter((r) => !measured.has(r.bench)).map((r) => ({ measured: previous.date, ...r }));
  results.rows = [...kept, ...results.rows.map((r) => ({ ...r, measured: results.date }))];
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  console.log(`wrote ${out}`);
}

function cpuName() {
  const m = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return m ? m[1] : 'unknown';
}

if (process.argv[2] === '--worker') await oursWorker(process.argv.slice(3));
else await main();
