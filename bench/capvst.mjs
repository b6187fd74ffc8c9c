#!/usr/bin/env node
// CAP-VSTNet inference, Atelier (ONNX Runtime graphs + cWCT in float64) vs PyTorch CPU (Debian
// python3-torch, bench/capvst_torch.py: the same network written from the paper), same random
// weights, same input images, 2 threads each, same run. One stylisation = forward(content),
// forward(style), cWCT, inverse. Each measurement runs in a fresh process so peak RSS (VmHWM) is
// that task's own; Atelier's graph compilation is reported apart (PyTorch has none). Times are
// medians over --runs runs (Atelier's sessions are first warmed up on a 256² crop; PyTorch's
// first run is timed as it comes). The outputs of both at the comparison size are compared pixel by pixel.
// Usage: node bench/capvst.mjs [--runs 3] [--mode photoreal] [--compare 1280x720]
//          [--sizes 1024x576,2048x1152,3840x2160] [--torch-sizes 1024x576] [--tile 768] [--memory fast|lean]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, option, peakMB } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const THREADS = 2;
const args = process.argv.slice(2);
const parseSize = (s) => s.split('x').map(Number);

/** A smooth synthetic photo-like image (gradients, ripples, a little noise), planar RGB. */
function syntheticImage(w, h, seed) {
  const data = new Float32Array(3 * w * h);
  let x32 = seed >>> 0;
  const noise = () => ((x32 = (Math.imul(x32, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.05;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = x / w;
      const v = y / h;
      const i = y * w + x;
      data[i] = Math.min(1, Math.max(0, 0.2 + 0.6 * u + 0.1 * Math.sin(9 * v + seed) + noise()));
      data[w * h + i] = Math.min(1, Math.max(0, 0.3 + 0.4 * v + 0.1 * Math.sin(13 * u * v + seed) + noise()));
      data[2 * w * h + i] = Math.min(1, Math.max(0, 0.5 + 0.3 * Math.sin(5 * (u + v) + seed) + noise()));
    }
  }
  return data;
}

// ---------------------------------------------------------------- Atelier worker
async function atelierWorker([mode, contentFile, w, h, styleFile, sw, sh, runs, tile, memory, outFile]) {
  const { randomCapVstWeights } = await import('../dist/engine/nets/capvst/state-dict.js');
  const { CapVstStylizer } = await import('../dist/engine/nets/capvst/stylizer.js');
  const { Image } = await import('../dist/core/image.js');
  [w, h, sw, sh, runs, tile] = [w, h, sw, sh, runs, tile].map(Number);
  const content = new Image(w, h, 3, new Float32Array(readFileSync(contentFile).buffer.slice(0)));
  const style = new Image(sw, sh, 3, new Float32Array(readFileSync(styleFile).buffer.slice(0)));
  const t0 = performance.now();
  const stylizer = await CapVstStylizer.create(randomCapVstWeights(mode, 1), THREADS, { memory });
  const compileMs = performance.now() - t0;
  const options = { alpha: 1, maxTilePixels: tile * tile };
  // Warm the sessions up on a small image (the first run of an ORT session allocates).
  await stylizer.stylize(content.crop(0, 0, Math.min(256, w), Math.min(256, h)), [{ image: style, weight: 1 }], options);
  const times = [];
  let out;
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    out = await stylizer.stylize(content, [{ image: style, weight: 1 }], options);
    times.push(performance.now() - t);
  }
  if (outFile !== '-') writeFileSync(outFile, out.data.map((v) => Math.min(1, Math.max(0, v))));
  process.stdout.write(JSON.stringify({ times_ms: times, compile_ms: compileMs, peak_rss_mb: peakMB() }) + '\n');
}

if (args[0] === '--worker') {
  await atelierWorker(args.slice(1));
  process.exit(0);
}

// ---------------------------------------------------------------- driver
const mode = option('mode', 'photoreal');
const runs = Number(option('runs', '3'));
const tile = Number(option('tile', '768'));
const memory = option('memory', 'fast');
const compare = parseSize(option('compare', '1280x720'));
const sizes = option('sizes', '1024x576,2048x1152,3840x2160').split(',').filter(Boolean).map(parseSize);
const torchSizes = new Set(option('torch-sizes', '1024x576').split(',').filter(Boolean));
const python = '/usr/bin/python3';

const tmp = mkdtempSync(path.join(tmpdir(), 'atelier-bench-capvst-'));
try {
  // The same random weights for both, written in state-dict order.
  const { randomCapVstWeights } = await import('../dist/engine/nets/capvst/state-dict.js');
  const { parameterSpecs } = await import('../dist/engine/nets/capvst/architecture.js');
  const weights = randomCapVstWeights(mode, 1);
  const specs = parameterSpecs(weights.layout);
  let offset = 0;
  const index = { data: path.join(tmp, 'weights.f32'), tensors: [] };
  const chunks = [];
  for (const s of specs) {
    index.tensors.push({ name: s.name, shape: s.shape, offset });
    const d = weights.tensors.get(s.name);
    chunks.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    offset += d.length;
  }
  writeFileSync(index.data, Buffer.concat(chunks));
  writeFileSync(path.join(tmp, 'weights.json'), JSON.stringify(index));

  const [sw, sh] = compare; // the style at the published working size
  const styleFile = path.join(tmp, 'style.f32');
  writeFileSync(styleFile, syntheticImage(sw, sh, 7));

  const rows = [];
  const runAtelier = (w, h, n, outFile) => {
    const contentFile = path.join(tmp, `content-${w}x${h}.f32`);
    writeFileSync(contentFile, syntheticImage(w, h, 3));
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', mode, contentFile, w, h, styleFile, sw, sh, n, tile, memory, outFile].map(String), { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`atelier worker failed at ${w}x${h}: ${r.stderr}`);
    return { ...JSON.parse(r.stdout.trim().split('\n').at(-1)), contentFile };
  };
  const runTorch = (w, h, n, contentFile, outFile) => {
    const r = spawnSync(python, [path.join(here, 'capvst_torch.py'), path.join(tmp, 'weights.json'), mode, contentFile, h, w, styleFile, sh, sw, n, THREADS, outFile].map(String), { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`torch failed at ${w}x${h}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1));
  };

  // Comparison size: both, several runs, outputs compared.
  const [cw, ch] = compare;
  const aOut = path.join(tmp, 'atelier.f32');
  const tOut = path.join(tmp, 'torch.f32');
  const a = runAtelier(cw, ch, runs, aOut);
  const t = runTorch(cw, ch, runs, a.contentFile, tOut);
  const av = new Float32Array(readFileSync(aOut).buffer.slice(0));
  const tv = new Float32Array(readFileSync(tOut).buffer.slice(0));
  let maxDiff = 0;
  let sumDiff = 0;
  for (let i = 0; i < av.length; i++) {
    const d = Math.abs(av[i] - tv[i]);
    maxDiff = Math.max(maxDiff, d);
    sumDiff += d;
  }
  rows.push({ size: `${cw}x${ch}`, atelier_ms: median(a.times_ms), torch_ms: median(t.times_ms), atelier_runs: a.times_ms, torch_runs: t.times_ms, compile_ms: a.compile_ms, atelier_peak_mb: a.peak_rss_mb, torch_peak_mb: t.peak_rss_mb, output_max_abs_diff: maxDiff, output_mean_abs_diff: sumDiff / av.length });

  for (const [w, h] of sizes) {
    const n = w * h > 2e6 ? 1 : Math.max(1, Math.min(runs, 2));
    const ra = runAtelier(w, h, n, '-');
    const row = { size: `${w}x${h}`, atelier_ms: median(ra.times_ms), atelier_runs: ra.times_ms, compile_ms: ra.compile_ms, atelier_peak_mb: ra.peak_rss_mb };
    if (torchSizes.has(`${w}x${h}`)) {
      const rt = runTorch(w, h, 1, ra.contentFile, '-');
      Object.assign(row, { torch_ms: median(rt.times_ms), torch_runs: rt.times_ms, torch_peak_mb: rt.peak_rss_mb });
    }
    rows.push(row);
  }

  const fmt = (v, d = 0) => (v === undefined ? '—' : v.toFixed(d));
  console.log(`CAP-VSTNet ${mode} inference (forward content + style, cWCT, inverse), style ${sw}x${sh}, ${THREADS} threads, tile ≤ ${tile}², ORT memory ${memory}`);
  console.log('size        atelier ms  torch ms  speed-up  atelier peak MB  torch peak MB  compile ms');
  for (const r of rows) {
    const speedup = r.torch_ms ? r.torch_ms / r.atelier_ms : undefined;
    console.log(
      `${r.size.padEnd(11)} ${fmt(r.atelier_ms).padStart(10)}  ${fmt(r.torch_ms).padStart(8)}  ${fmt(speedup, 2).padStart(8)}  ${fmt(r.atelier_peak_mb).padStart(15)}  ${fmt(r.torch_peak_mb).padStart(13)}  ${fmt(r.compile_ms).padStart(10)}`,
    );
  }
  console.log(`outputs at ${cw}x${ch}: max |atelier − torch| = ${maxDiff.toExponential(2)}, mean ${(sumDiff / av.length).toExponential(2)}`);
  console.log('Note: the machine is shared with other engineers\' jobs; absolute times vary with their load, the ratio less.');
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(
    path.join(here, 'results', 'capvst.json'),
    JSON.stringify({ date: new Date().toISOString(), mode, threads: THREADS, tile, memory, style: `${sw}x${sh}`, rows, note: 'shared 2-core machine; other jobs ran at the same time' }, null, 2) + '\n',
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
