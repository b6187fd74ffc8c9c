// Throughput of `atelier video` (issue 16): frames per second at 480p and 1080p for color.mkl,
// filter.toon, patch.synthesis and a neural method (neural.fast when registered, else neural.capvst
// on seeded random weights), with `--temporal none` and `--temporal flow`, and where the time goes:
// the pipeline's own thread waiting for decoded frames, computing optical flow, stylising, and
// waiting for the encoder (ffmpeg decodes and encodes in their own processes, beside it). To show
// what ffmpeg costs by itself, the same clips are also only decoded, and only encoded, alone.
// Clips: the first frames of ../shared/data/dev/video/pan.mp4 scaled to 854×480 and 1920×1080.
// neural.fast runs the published mosaic network, installed from ../shared/weights into
// scratch/bench-models. Each row also records the process's resident memory after the row and its
// peak so far (one process runs every row, so a row's own peak is at most that).
// Results are written after every row to bench/results/video.json (video-TAG.json with --tag).
//   node bench/video.mjs [--frames480 6] [--frames1080 3] [--methods a,b] [--sizes 480p,1080p] [--tag name]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { option } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = path.resolve(here, '../../shared/data');
const THREADS = 2;
process.env.ATELIER_HOME ??= path.resolve(here, '../scratch/bench-models');
const { stylizeVideo, getMethod, methods } = await import('../dist/index.js');
const neural = 'neural.fast' in methods ? 'neural.fast' : 'neural.capvst';
const METHODS = option('methods', `color.mkl,filter.toon,patch.synthesis,${neural}`).split(',');
const PARAMS = { 'neural.capvst': { weights: 'random' } };
const SIZES = [
  { name: '480p', width: 854, height: 480, frames: Number(option('frames480', 6)) },
  { name: '1080p', width: 1920, height: 1080, frames: Number(option('frames1080', 3)) },
].filter((s) => option('sizes', '480p,1080p').split(',').includes(s.name));
if (METHODS.includes('neural.fast')) {
  const { pullModel } = await import('../dist/engine/store.js');
  await pullModel('fst-pytorch-mosaic', { from: path.resolve(here, '../../shared/weights'), acceptLicence: true, waitForLock: true });
}
const mb = (bytes) => Math.round(bytes / (1024 * 1024));
const STYLE = path.join(shared, 'dev/style/udnie.jpg');
const work = mkdtempSync(path.join(tmpdir(), 'atelier-vbench-'));
const rows = [];
const summary = { bench: 'video', date: new Date().toISOString(), threads: THREADS, cpus: cpus().length, loadStart: loadavg()[0], style: 'udnie.jpg', rows };

function ffmpeg(args) {
  const t0 = performance.now();
  const r = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args]);
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return performance.now() - t0;
}

function save() {
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(path.join(here, `results/video${option('tag') ? '-' + option('tag') : ''}.json`), JSON.stringify({ ...summary, loadEnd: loadavg()[0] }, null, 2) + '\n');
}

for (const size of SIZES) {
  const clip = path.join(work, `${size.name}.mp4`);
  ffmpeg(['-i', path.join(shared, 'dev/video/pan.mp4'), '-frames:v', String(size.frames), '-vf', `scale=${size.width}:${size.height}:flags=bicubic`, '-c:v', 'libx264', '-crf', '16', '-pix_fmt', 'yuv420p', clip]);
  // ffmpeg alone: decoding to raw RGB, and encoding raw RGB to H.264 as the pipeline does.
  const raw = path.join(work, `${size.name}.rgb`);
  const decodeMs = ffmpeg(['-i', clip, '-f', 'rawvideo', '-pix_fmt', 'rgb24', raw]);
  const encodeMs = ffmpeg(['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${size.width}x${size.height}`, '-r', '24', '-i', raw, '-c:v', 'libx264', '-preset', 'medium', '-crf', '20', '-pix_fmt', 'yuv420p', path.join(work, 'enc.mp4')]);
  rows.push({ size: size.name, method: 'ffmpeg alone', frames: size.frames, decodeMsPerFrame: decodeMs / size.frames, encodeMsPerFrame: encodeMs / size.frames });
  save();
  for (const id of METHODS) {
    for (const temporal of ['none', 'flow']) {
      const load = loadavg()[0];
      const r = await stylizeVideo({
        input: clip, output: path.join(work, `${size.name}-${id}-${temporal}.mp4`), method: getMethod(id), style: STYLE,
        params: PARAMS[id] ?? {}, temporal, threads: THREADS, force: true,
      });
      const t = r.timings;
      const parts = t.decodeMs + t.flowMs + t.stylizeMs + t.encodeMs;
      const row = {
        size: size.name, workSize: `${r.width}×${r.height}`, method: id, temporal, frames: r.frames, fps: r.frames / (t.totalMs / 1000),
        msPerFrame: { decodeWait: t.decodeMs / r.frames, flow: t.flowMs / r.frames, stylize: t.stylizeMs / r.frames, encodeWait: t.encodeMs / r.frames, total: t.totalMs / r.frames },
        share: { decode: t.decodeMs / parts, flow: t.flowMs / parts, stylize: t.stylizeMs / parts, encode: t.encodeMs / parts },
        flowOverStylize: t.flowMs / t.stylizeMs, loadStart: load, loadEnd: loadavg()[0],
        rssMB: mb(process.memoryUsage().rss), peakRssSoFarMB: mb(process.resourceUsage().maxRSS * 1024),
      };
      rows.push(row);
      save();
      process.stderr.write(`${size.name} ${id} ${temporal}: ${row.fps.toFixed(3)} fps; ms/frame decode ${row.msPerFrame.decodeWait.toFixed(0)} flow ${row.msPerFrame.flow.toFixed(0)} stylise ${row.msPerFrame.stylize.toFixed(0)} encode ${row.msPerFrame.encodeWait.toFixed(0)}; load ${load.toFixed(1)}; peak RSS so far ${row.peakRssSoFarMB} MB\n`);
    }
  }
}
save();
console.log('| size | method | temporal | fps | decode | flow | stylise | encode | flow/stylise |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows.filter((x) => x.fps !== undefined)) {
  const p = (x) => `${(100 * x).toFixed(1)} %`;
  console.log(`| ${r.size} (${r.workSize}) | ${r.method} | ${r.temporal} | ${r.fps.toFixed(3)} | ${p(r.share.decode)} | ${p(r.share.flow)} | ${p(r.share.stylize)} | ${p(r.share.encode)} | ${r.flowOverStylize.toFixed(3)} |`);
}
rmSync(work, { recursive: true, force: true });
