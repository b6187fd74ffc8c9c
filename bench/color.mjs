// Photorealistic colour transfer at 4K against NumPy / scikit-image, in the same run.
//   read + color.reinhard + write   vs  PIL read + skimage rgb2lab / NumPy stats / lab2rgb + PIL write
//   read + color.histogram + write  vs  PIL read + skimage.exposure.match_histograms + PIL write
// Content 3840×2160 and style 1024×1024, generated here (JPEG q92); 2 threads; each run is a fresh
// process (times exclude process start and imports; maxRSS covers the whole process). Medians.
// Peers: Debian python3-numpy and python3-skimage (scripts/system-deps.sh bench).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const THREADS = 2;
const PYTHON = '/usr/bin/python3';

async function child([op, content, style, out, paramsJson]) {
  const sharp = (await import('sharp')).default;
  sharp.concurrency(THREADS);
  const { stylize, writeImage } = await import('../dist/index.js');
  const t0 = performance.now();
  const r = await stylize(op, { content, style }, JSON.parse(paramsJson), { threads: THREADS });
  await writeImage(r.image, out, { force: true, quality: 90 });
  const ms = performance.now() - t0;
  process.stdout.write(JSON.stringify({ ms, opMs: r.timings.runMs, rssMB: process.resourceUsage().maxRSS / 1024 }));
}

const PEER = String.raw`
import sys, time, json, resource
import numpy as np
from PIL import Image
from skimage.color import rgb2lab, lab2rgb
from skimage.exposure import match_histograms
op, content, style, out = sys.argv[1:5]
t0 = time.perf_counter()
c = np.asarray(Image.open(content).convert('RGB'))
s = np.asarray(Image.open(style).convert('RGB'))
t1 = time.perf_counter()
if op == 'reinhard':
    lc = rgb2lab(c)
    ls = rgb2lab(s)
    mc, sc = lc.reshape(-1, 3).mean(0), lc.reshape(-1, 3).std(0)
    ms, ss = ls.reshape(-1, 3).mean(0), ls.reshape(-1, 3).std(0)
    res = lab2rgb((lc - mc) * (ss / np.maximum(sc, 1e-6)) + ms)
    res = np.clip(np.rint(res * 255), 0, 255).astype(np.uint8)
else:
    res = match_histograms(c, s, channel_axis=-1)
    res = np.clip(np.rint(res), 0, 255).astype(np.uint8)
t2 = time.perf_counter()
Image.fromarray(res).save(out, quality=90)
t3 = time.perf_counter()
print(json.dumps({'ms': (t3 - t0) * 1000, 'opMs': (t2 - t1) * 1000, 'rssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
`;

/** Photo-like test image: smooth gradients, a few soft shapes, fine texture; deterministic. */
async function generate(file, width, height, seed) {
  const sharp = (await import('sharp')).default;
  const buf = Buffer.alloc(width * height * 3);
  let s = seed >>> 0;
  const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const blobs = Array.from({ length: 12 }, () => [rnd(), rnd(), 0.05 + 0.2 * rnd(), rnd(), rnd(), rnd()]);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width;
      const v = y / height;
      let r = 0.25 + 0.5 * v + 0.1 * Math.sin(9 * u + 2 * seed);
      let g = 0.35 + 0.3 * u * v + 0.1 * Math.cos(7 * (u - v));
      let b = 0.7 - 0.5 * v + 0.1 * Math.sin(5 * u * seed);
      for (const [bx, by, br, cr, cg, cb] of blobs) {
        const d = Math.hypot(u - bx, (v - by) * (height / width)) / br;
        const w = d < 1 ? (1 - d * d) ** 2 : 0;
        r += (cr - r) * w;
        g += (cg - g) * w;
        b += (cb - b) * w;
      }
      const i = (y * width + x) * 3;
      const n = 6 * (rnd() - 0.5);
      buf[i] = Math.max(0, Math.min(255, r * 255 + n));
      buf[i + 1] = Math.max(0, Math.min(255, g * 255 + n + 3 * (rnd() - 0.5)));
      buf[i + 2] = Math.max(0, Math.min(255, b * 255 + n + 3 * (rnd() - 0.5)));
    }
  }
  await sharp(buf, { raw: { width, height, channels: 3 } }).jpeg({ quality: 92 }).toFile(file);
}

async function distinctColors(file) {
  const sharp = (await import('sharp')).default;
  const { data } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  const seen = new Uint8Array(1 << 24);
  let n = 0;
  for (let i = 0; i < data.length; i += 3) {
    const k = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    if (!seen[k]) (seen[k] = 1), n++;
  }
  return n;
}

function runOnce(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}


async function main() {
  const dir = path.join(tmpdir(), 'atelier-bench-color');
  mkdirSync(dir, { recursive: true });
  const content = path.join(dir, 'content-3840x2160.jpg');
  const style = path.join(dir, 'style-1024.jpg');
  if (!existsSync(content)) await generate(content, 3840, 2160, 1);
  if (!existsSync(style)) await generate(style, 1024, 1024, 2);
  const peerAvailable = spawnSync(PYTHON, ['-c', 'import skimage, numpy, PIL'], { encoding: 'utf8' }).status === 0;
  if (!peerAvailable) console.error(`${PYTHON} lacks numpy/scikit-image/Pillow: run scripts/system-deps.sh bench (as root)`);
  const pyEnv = { OMP_NUM_THREADS: String(THREADS), OPENBLAS_NUM_THREADS: String(THREADS), MKL_NUM_THREADS: String(THREADS) };

  const cases = [
    { name: 'reinhard (Lab)', atelier: ['color.reinhard', {}], peer: 'reinhard' },
    { name: 'histogram (per RGB channel)', atelier: ['color.histogram', { channels: 'rgb' }], peer: 'histogram' },
    { name: 'histogram (per Lab channel, default)', atelier: ['color.histogram', {}] },
  ];
  const rows = [];
  for (const c of cases) {
    const ours = [];
    const theirs = [];
    for (let k = 0; k < RUNS; k++) {
      ours.push(runOnce(process.execPath, [fileURLToPath(import.meta.url), '--child', c.atelier[0], content, style, path.join(dir, 'out-atelier.jpg'), JSON.stringify(c.atelier[1])]));
      if (c.peer && peerAvailable) theirs.push(runOnce(PYTHON, ['-c', PEER, c.peer, content, style, path.join(dir, 'out-peer.jpg')], pyEnv));
    }
    const sum = (runs) => runs.length === 0 ? undefined : { ms: median(runs.map((r) => r.ms)), opMs: median(runs.map((r) => r.opMs)), rssMB: Math.max(...runs.map((r) => r.rssMB)) };
    rows.push({ case: c.name, atelier: sum(ours), peer: sum(theirs) });
  }

  const f = (v) => (v === undefined ? '—' : v.toFixed(0));
  console.log(`\ncolour transfer, content 3840×2160 (${await distinctColors(content)} distinct colours), style 1024², ${THREADS} threads, median of ${RUNS} runs, ${cpus().length}-core ${cpus()[0]?.model ?? ''} (shared with other jobs)`);
  console.log('case                                  | atelier total ms (op) | skimage total ms (op) | speed-up total (op) | peak RSS MB atelier / skimage');
  for (const r of rows) {
    const ratio = r.peer ? `${(r.peer.ms / r.atelier.ms).toFixed(2)}× (${(r.peer.opMs / r.atelier.opMs).toFixed(2)}×)` : '—';
    console.log(`${r.case.padEnd(37)} | ${f(r.atelier.ms).padStart(7)} (${f(r.atelier.opMs)}) | ${f(r.peer?.ms).padStart(7)} (${f(r.peer?.opMs)}) | ${ratio.padStart(16)} | ${f(r.atelier.rssMB)} / ${f(r.peer?.rssMB)}`);
  }
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(
    path.join(here, 'results', 'color.json'),
    JSON.stringify({ date: new Date().toISOString(), content: '3840x2160 generated JPEG q92', style: '1024x1024 generated JPEG q92', threads: THREADS, runs: RUNS, cpu: cpus()[0]?.model, cores: cpus().length, rows }, null, 2) + '\n',
  );
}

if (process.argv[2] === '--child') await child(process.argv.slice(3));
else await main();
