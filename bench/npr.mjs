// Non-photorealistic filters against their peers, in the same run, on the same images:
// OpenCV (cv2.stylization, cv2.pencilSketch, cv2.edgePreservingFilter, cv2.xphoto.oilPainting)
// and ImageMagick (-kuwahara, -paint, -sketch). Sizes 1024² and 4K (3840×2160), 2 threads each,
// median of several runs. Atelier is timed in process on decoded pixels (method run only);
// OpenCV likewise inside Python (decode excluded); ImageMagick as a process, minus the same
// process doing only the decode (`convert in.png null:`). Both wall time and CPU time (user +
// system, all threads) are reported: on a shared machine CPU time is the steadier figure.
// Usage: npm run bench -- npr   (env: NPR_SIZES=1024,4k  NPR_RUNS=5  NPR_IMAGE=path  NPR_ONLY=filter.toon,…)
// NPR_ONLY re-measures some methods and replaces their rows in bench/results/npr.json;
// with NPR_KEEP_MAGICK=1 it keeps the earlier ImageMagick figures (minutes at 4K) instead of re-running them.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { readImage } from '../dist/core/io.js';
import { runMethod } from '../dist/core/stylize.js';
import { getMethod } from '../dist/index.js';
import { median } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const THREADS = 2;
const RUNS = Number(process.env.NPR_RUNS ?? 5);
const SIZES = (process.env.NPR_SIZES ?? '1024,4k').split(',').map((s) => (s === '4k' ? [3840, 2160] : [Number(s), Number(s)]));
const source = process.env.NPR_IMAGE ?? path.join(here, '../../shared/data/dev/content/stata.jpg');
const fallbackSource = '/work/shared/data/dev/content/stata.jpg';

// Each Atelier filter, the closest OpenCV operation and the ImageMagick operation compared with it.
// Sizes follow the filters' relative defaults (% of the long side).
const ONLY = process.env.NPR_ONLY?.split(',');
const ALL_PAIRS = [
  // OpenCV has no Kuwahara: its closest painterly local-statistics filter is xphoto.oilPainting.
  { id: 'filter.kuwahara', cv: 'oilPainting', im: (px) => ['-kuwahara', String(Math.round(px(0.6)))] },
  { id: 'filter.oil', cv: 'oilPainting', im: (px) => ['-paint', String(Math.round(px(0.8)))] },
  { id: 'filter.toon', cv: 'stylization' },
  { id: 'filter.toon', cv: 'edgePreservingFilter', note: 'toon’s smoothing step alone' },
  { id: 'filter.watercolor', cv: 'stylization' },
  { id: 'filter.pencil', cv: 'pencilSketch', im: (px) => ['-sketch', `0x${Math.round(px(1))}+45`] },
  { id: 'filter.xdog', cv: 'pencilSketch', im: (px) => ['-sketch', `0x${Math.round(px(1))}+45`] },
  { id: 'paint.haeberli', im: (px) => ['-paint', String(Math.round(px(0.8)))] },
  { id: 'paint.strokes', im: (px) => ['-paint', String(Math.round(px(0.8)))] },
];
const PAIRS = ONLY ? ALL_PAIRS.filter((p) => ONLY.includes(p.id)) : ALL_PAIRS;


function findPython() {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import cv2; print(cv2.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { py, version: r.stdout.trim() };
  }
  return undefined;
}

function findMagick() {
  for (const bin of ['magick', '/usr/bin/convert', 'convert']) {
    const r = spawnSync(bin, ['-version'], { encoding: 'utf8' });
    if (r.status === 0 && /ImageMagick/.test(r.stdout)) return { bin, version: r.stdout.split('\n')[0].replace(/^Version: /, '') };
  }
  return undefined;
}

const OPENCV_SCRIPT = `
import sys, json, time, statistics, cv2
cv2.setNumThreads(int(sys.argv[2]))
img = cv2.imread(sys.argv[1])
runs = int(sys.argv[3]); oil = int(sys.argv[4])
ops = {
  'stylization': lambda: cv2.stylization(img),
  'pencilSketch': lambda: cv2.pencilSketch(img),
  'edgePreservingFilter': lambda: cv2.edgePreservingFilter(img, flags=cv2.RECURS_FILTER),
}
if hasattr(cv2, 'xphoto') and hasattr(cv2.xphoto, 'oilPainting'):
  ops['oilPainting'] = lambda: cv2.xphoto.oilPainting(img, oil, 1)
out = {}
for name, f in ops.items():
  f()
  ts = []; cs = []
  for _ in range(runs):
    t = time.perf_counter(); c = time.process_time(); f()
    cs.append((time.process_time() - c) * 1000); ts.append((time.perf_counter() - t) * 1000)
  out[name] = [statistics.median(ts), statistics.median(cs)]
print(json.dumps(out))
`;

async function main() {
  const src = existsSync(source) ? source : fallbackSource;
  const tmp = mkdtempSync(path.join(tmpdir(), 'atelier-bench-npr-'));
  const python = findPython();
  const magick = findMagick();
  const machine = `${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}; load average at start ${loadavg()[0].toFixed(1)}`;
  console.log(`NPR benchmark — ${THREADS} threads, median of ${RUNS} runs (4K: ${Math.max(3, Math.ceil(RUNS / 2))}); ${machine}`);
  console.log(`peers: OpenCV ${python?.version ?? 'absent'}; ${magick?.version ?? 'ImageMagick absent'}`);
  if (!python || !magick) console.log('install them with: scripts/system-deps.sh bench');
  const results = [];
  const resultsFile = path.join(here, 'results/npr.json');
  const previous = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')).results ?? [] : [];
  try {
    for (const [w, h] of SIZES) {
      const file = path.join(tmp, `in-${w}x${h}.png`);
      await sharp(src).resize(w, h, { fit: 'cover' }).png({ compressionLevel: 1 }).toFile(file);
      const content = await readImage(file);
      const runs = w * h > 4e6 ? Math.max(3, Math.ceil(RUNS / 2)) : RUNS;
      const px = (percent) => (percent / 100) * Math.max(w, h);
      let cv = {};
      if (python) {
        const out = execFileSync(python.py, ['-c', OPENCV_SCRIPT, file, String(THREADS), String(runs), String(Math.round(px(0.8)))], { encoding: 'utf8', maxBuffer: 1 << 20 });
        cv = JSON.parse(out.trim().split('\n').pop());
      }
      const imCache = new Map();
      const imTime = (args) => {
        const key = args.join(' ');
        if (imCache.has(key)) return imCache.get(key);
        const env = { ...process.env, MAGICK_THREAD_LIMIT: String(THREADS), OMP_NUM_THREADS: String(THREADS), TIMEFORMAT: '%3R %3U %3S' };
        // bash's `time` gives the child's wall and CPU seconds.
        const once = (a) => {
          const r = spawnSync('bash', ['-c', 'time "$@" >/dev/null', 'bash', magick.bin, file, ...a, 'null:'], { env, encoding: 'utf8' });
          if (r.status !== 0) throw new Error(`${magick.bin} ${a.join(' ')} failed: ${r.stderr}`);
          const [wall, user, sys] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
          return [wall * 1000, (user + sys) * 1000];
        };
        const stat = (xs) => [median(xs.map((x) => x[0])), median(xs.map((x) => x[1]))];
        const base = stat(Array.from({ length: runs }, () => once([])));
        // ImageMagick's -kuwahara, -paint and -sketch at 4K take many seconds: one run there.
        const n = w * h > 4e6 ? 1 : runs;
        const full = stat(Array.from({ length: n }, () => once(args)));
        const res = [Math.max(1, full[0] - base[0]), Math.max(1, full[1] - base[1])];
        imCache.set(key, res);
        return res;
      };
      const atelierCache = new Map();
      for (const pair of PAIRS) {
        if (!atelierCache.has(pair.id)) {
          const def = getMethod(pair.id);
          await runMethod(def, { content }, {}, { threads: THREADS }); // warm-up (JIT, workers)
          const walls = [];
          const cpus = [];
          // Painting at 4K takes long and varies little: fewer runs.
          const n = pair.id.startsWith('paint.') && w * h > 4e6 ? 1 : runs;
          for (let k = 0; k < n; k++) {
            const c0 = process.cpuUsage();
            const r = await runMethod(def, { content }, {}, { threads: THREADS });
            const c = process.cpuUsage(c0);
            walls.push(r.timings.runMs);
            cpus.push((c.user + c.system) / 1000);
          }
          atelierCache.set(pair.id, [median(walls), median(cpus)]);
        }
        const [aWall, aCpu] = atelierCache.get(pair.id);
        const cvT = pair.cv ? cv[pair.cv] : undefined;
        const keptIm = process.env.NPR_KEEP_MAGICK === '1' ? previous.find((r) => r.size === `${w}x${h}` && r.imagemagickOp === (pair.im ? pair.im(px).join(' ') : null) && r.imagemagickWallMs) : undefined;
        const imT = keptIm ? [keptIm.imagemagickWallMs, keptIm.imagemagickCpuMs] : pair.im && magick ? imTime(pair.im(px)) : undefined;
        const r2 = (x) => +x.toFixed(2);
        const row = {
          size: `${w}x${h}`,
          method: pair.id,
          atelierWallMs: Math.round(aWall),
          atelierCpuMs: Math.round(aCpu),
          opencvOp: pair.cv ?? null,
          ...(pair.note && { note: pair.note }),
          opencvWallMs: cvT ? Math.round(cvT[0]) : null,
          opencvCpuMs: cvT ? Math.round(cvT[1]) : null,
          wallRatioToOpenCV: cvT ? r2(aWall / cvT[0]) : null,
          cpuRatioToOpenCV: cvT ? r2(aCpu / cvT[1]) : null,
          imagemagickOp: pair.im ? pair.im(px).join(' ') : null,
          imagemagickWallMs: imT ? Math.round(imT[0]) : null,
          imagemagickCpuMs: imT ? Math.round(imT[1]) : null,
          wallRatioToImageMagick: imT ? r2(aWall / imT[0]) : null,
          cpuRatioToImageMagick: imT ? r2(aCpu / imT[1]) : null,
        };
        results.push(row);
        const f = (v) => String(v ?? '—').padStart(6);
        console.log(
          `${row.size.padEnd(10)} ${pair.id.padEnd(18)} atelier ${f(row.atelierWallMs)} / ${f(row.atelierCpuMs)} | ` +
            `opencv ${(pair.cv ?? '—').padEnd(20)} ${f(row.opencvWallMs)} / ${f(row.opencvCpuMs)}  ×${row.wallRatioToOpenCV ?? '—'} / ×${row.cpuRatioToOpenCV ?? '—'} | ` +
            `magick ${(row.imagemagickOp ?? '—').padEnd(13)} ${f(row.imagemagickWallMs)} / ${f(row.imagemagickCpuMs)}  ×${row.wallRatioToImageMagick ?? '—'} / ×${row.cpuRatioToImageMagick ?? '—'}`,
        );
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  mkdirSync(path.join(here, 'results'), { recursive: true });
  const file = path.join(here, 'results/npr.json');
  let all = results;
  if (ONLY && existsSync(file)) {
    // Keep the earlier rows of the methods not re-measured, and note when these were taken.
    const old = JSON.parse(readFileSync(file, 'utf8')).results ?? [];
    const key = (r) => `${r.size} ${r.method} ${r.opencvOp}`;
    const fresh = new Set(results.map(key));
    all = [...old.filter((r) => !fresh.has(key(r))), ...results.map((r) => ({ ...r, remeasured: new Date().toISOString(), machine }))];
  }
  writeFileSync(
    file,
    JSON.stringify({ date: new Date().toISOString(), threads: THREADS, runs: RUNS, machine, opencv: python?.version ?? null, imagemagick: magick?.version ?? null, results: all }, null, 2) + '\n',
  );
  console.log('columns: wall ms / CPU ms; ratios Atelier ÷ peer, wall / CPU (below 1 = Atelier faster); wrote bench/results/npr.json');
  process.exit(0);
}

await main();
