// Measured stability of `atelier video` (issue 16): the temporal warping error (Lai et al. 2018;
// flow of the INPUT clip, occlusions excluded; src/metrics/temporal.ts) of per-frame processing
// (`--temporal none`) against each method's default, and the style distance (swd-patches, weight-free,
// mean over frames) of both, for a colour method, a filter, a patch method and two neural methods
// (neural.fast with the published mosaic network, installed from ../shared/weights into
// scratch/bench-models; neural.capvst on seeded random weights).
// Clips: ../shared/data/dev/video/pan.mp4 and ../shared/data/videos/*.mp4, each cut to its first
// FRAMES frames and scaled to SIDE px on the long side (run time; say so with the figures).
// Outputs are PNG sequences (lossless: the metric sees our frames, not codec artefacts).
//   node bench/video-stability.mjs [--frames 12] [--side 240] [--methods a,b] [--clips x,y] [--strip]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { option } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const shared = path.resolve(root, '../shared/data');
const FRAMES = Number(option('frames', 12));
const SIDE = Number(option('side', 240));
const THREADS = 2;
const STYLE = path.join(shared, 'dev/style/udnie.jpg');
const METHODS = (option('methods', 'color.mkl,filter.toon,patch.synthesis,neural.fast,neural.capvst')).split(',');
const PARAMS = { 'neural.capvst': { weights: 'random' } };
const strip = process.argv.includes('--strip');

process.env.ATELIER_HOME ??= path.join(root, 'scratch/bench-models');
const { stylizeVideo, getMethod, Image, readImage, getMetric } = await import('../dist/index.js');
if (METHODS.includes('neural.fast')) {
  const { pullModel } = await import('../dist/engine/store.js');
  await pullModel('fst-pytorch-mosaic', { from: path.resolve(root, '../shared/weights'), acceptLicence: true, waitForLock: true });
}
const { warpingError } = await import('../dist/metrics/temporal.js');
const { readVideoFrames } = await import('../dist/video/frames.js');

const allClips = [path.join(shared, 'dev/video/pan.mp4'), ...readdirSync(path.join(shared, 'videos')).filter((f) => f.endsWith('.mp4')).sort().map((f) => path.join(shared, 'videos', f))];
const wanted = option('clips');
const clips = wanted ? allClips.filter((c) => wanted.split(',').some((w) => c.includes(w))) : allClips;

const work = mkdtempSync(path.join(tmpdir(), 'atelier-vstab-'));
const scratch = path.join(root, 'scratch/video-stability');
mkdirSync(scratch, { recursive: true });
const style = await readImage(STYLE);
const swd = getMetric('swd-patches');
const metricCtx = { signal: new AbortController().signal, log: { debug() {}, info() {}, warn() {} }, threads: THREADS, seed: 1, weights: 'random' };

async function readSequence(dir, prefix) {
  const files = readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith('.png')).sort();
  return Promise.all(files.map((f) => readImage(path.join(dir, f))));
}

async function styleDistance(frames) {
  let s = 0;
  for (const f of frames) s += (await swd.compute({ output: f, style }, metricCtx)).value;
  return s / frames.length;
}

const rows = [];
const load0 = loadavg()[0];
/** Written after every row, so an interrupted run keeps what it measured. */
function save() {
  const summary = {
    bench: 'video-stability', date: new Date().toISOString(), frames: FRAMES, side: SIDE, threads: THREADS, style: 'udnie.jpg',
    cpus: cpus().length, loadStart: load0, loadEnd: loadavg()[0], rows,
  };
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(path.join(here, `results/video-stability${option('tag') ? '-' + option('tag') : ''}.json`), JSON.stringify(summary, null, 2) + '\n');
}
for (const clipPath of clips) {
  const name = path.basename(clipPath, '.mp4');
  const clip = path.join(work, `${name}.mp4`);
  // First FRAMES frames, long side SIDE (even sizes), near-lossless so the cut adds no blockiness.
  const cut = spawnSync('ffmpeg', ['-v', 'error', '-y', '-i', clipPath, '-frames:v', String(FRAMES), '-vf', `scale='if(gt(iw,ih),${SIDE},-2)':'if(gt(iw,ih),-2,${SIDE})':flags=area,setsar=1`, '-an', '-c:v', 'libx264', '-crf', '10', '-pix_fmt', 'yuv444p', clip]);
  if (cut.status !== 0) throw new Error(cut.stderr.toString());
  const input = await readVideoFrames(clip, { maxFrames: FRAMES });
  for (const id of METHODS) {
    const method = getMethod(id);
    const results = {};
    for (const mode of ['none', 'default']) {
      const dir = path.join(work, `${name}-${id}-${mode}`);
      mkdirSync(dir);
      const t0 = performance.now();
      const r = await stylizeVideo({
        input: clip, output: path.join(dir, 'f_%04d.png'), method, style: STYLE, params: PARAMS[id] ?? {},
        ...(mode === 'none' && { temporal: 'none' }), threads: THREADS,
      });
      const seconds = (performance.now() - t0) / 1000;
      const output = await readSequence(dir, 'f_');
      const e = warpingError(input, output);
      results[mode] = { temporal: r.temporal, warp: e.value, inputWarp: e.parts.inputError, swd: await styleDistance(output), fps: r.frames / seconds, timings: r.timings };
      if (strip) await writeStrip(input, output, path.join(scratch, `${name}-${id}-${mode}.png`));
    }
    const row = {
      clip: name, size: `${input[0].width}×${input[0].height}`, frames: input.length, method: id, default: results.default.temporal,
      warpNone: results.none.warp, warpDefault: results.default.warp, warpRatio: results.default.warp / results.none.warp,
      inputWarp: results.none.inputWarp,
      swdNone: results.none.swd, swdDefault: results.default.swd, swdGrowth: results.default.swd / results.none.swd - 1,
      fpsNone: results.none.fps, fpsDefault: results.default.fps,
    };
    rows.push(row);
    save();
    process.stderr.write(`${name} ${id}: warp ${row.warpNone.toExponential(3)} → ${row.warpDefault.toExponential(3)} (×${row.warpRatio.toFixed(3)}), swd ${row.swdNone.toFixed(3)} → ${row.swdDefault.toFixed(3)} (${(100 * row.swdGrowth).toFixed(1)} %), load ${loadavg()[0].toFixed(1)}\n`);
  }
}

/** Frames 0, ⅓, ⅔ and last of input (top row) and output (bottom row), side by side. */
async function writeStrip(input, output, file) {
  const picks = [0, Math.floor(input.length / 3), Math.floor((2 * input.length) / 3), input.length - 1];
  const w = input[0].width;
  const h = input[0].height;
  const composites = [];
  for (const [row, frames] of [input, output].entries()) {
    for (const [k, t] of picks.entries()) {
      const png = await sharp(Buffer.from(frames[t].toInterleaved(255)), { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
      composites.push({ input: png, left: k * w, top: row * h });
    }
  }
  await sharp({ create: { width: w * picks.length, height: 2 * h, channels: 3, background: '#000' } }).composite(composites).png().toFile(file);
}

save();
console.log('| clip | method | default | warp none | warp default | ratio | swd none | swd default | growth |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.clip} (${r.size}×${r.frames}) | ${r.method} | ${r.default} | ${r.warpNone.toExponential(2)} | ${r.warpDefault.toExponential(2)} | ${r.warpRatio.toFixed(3)} | ${r.swdNone.toFixed(3)} | ${r.swdDefault.toFixed(3)} | ${(100 * r.swdGrowth).toFixed(1)} % |`);
}
rmSync(work, { recursive: true, force: true });
