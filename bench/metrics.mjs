// SSIM on two 4K (3840×2160) RGB images: Atelier vs scikit-image's structural_similarity
// (gaussian_weights, σ 1.5, population covariance, data_range 1, channel_axis), same run, same
// images, single thread each (scikit-image's filters are single-threaded). Median of 5 runs.
// Peer: Debian python3-skimage (`scripts/system-deps.sh bench`). Writes bench/results/metrics.json.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Image } from '../dist/core/image.js';
import { Rng } from '../dist/core/rng.js';
import { structuralSimilarity } from '../dist/metrics/ssim.js';
import { median } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const W = 3840;
const H = 2160;
const RUNS = 5;

function makeImage(seed) {
  const rng = new Rng(seed);
  const img = new Image(W, H, 3);
  for (let c = 0; c < 3; c++) {
    const p = img.plane(c);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) p[y * W + x] = 0.5 + 0.3 * Math.sin((x + seed * 17) / (40 + 10 * c)) * Math.cos(y / 55) + 0.15 * (rng.next() - 0.5);
  }
  return img;
}

const a = makeImage(1);
const b = makeImage(2);

const ours = [];
let oursValue;
for (let i = 0; i < RUNS; i++) {
  const t = performance.now();
  oursValue = structuralSimilarity(a, b).value;
  ours.push(performance.now() - t);
}

const python = ['python3', '/usr/bin/python3'].find((exe) => spawnSync(exe, ['-c', 'import skimage.metrics']).status === 0);
let peer;
if (python) {
  const dir = mkdtempSync(path.join(tmpdir(), 'atelier-bench-'));
  writeFileSync(path.join(dir, 'a.f32'), a.data);
  writeFileSync(path.join(dir, 'b.f32'), b.data);
  const script = `
import time, json, numpy as np, skimage
from skimage.metrics import structural_similarity as S
a = np.fromfile('${dir}/a.f32', dtype=np.float32).reshape(3, ${H}, ${W}).transpose(1, 2, 0).astype(np.float64)
b = np.fromfile('${dir}/b.f32', dtype=np.float32).reshape(3, ${H}, ${W}).transpose(1, 2, 0).astype(np.float64)
times = []
for i in range(${RUNS}):
    t = time.perf_counter()
    v = S(a, b, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)
    times.append((time.perf_counter() - t) * 1000)
print(json.dumps({'times': times, 'value': float(v), 'version': skimage.__version__}))
`;
  const r = spawnSync(python, ['-c', script], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' } });
  rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(r.stderr);
  peer = JSON.parse(r.stdout);
} else {
  console.log('scikit-image not found: run scripts/system-deps.sh bench (python3-skimage) for the comparison');
}

const oursMs = median(ours);
const peerMs = peer ? median(peer.times) : undefined;
const rows = [
  { impl: 'atelier ssim', medianMs: oursMs.toFixed(0), value: oursValue.toFixed(6) },
  ...(peer ? [{ impl: `scikit-image ${peer.version}`, medianMs: peerMs.toFixed(0), value: peer.value.toFixed(6) }] : []),
];
console.log(`ssim, ${W}×${H} RGB, float, 1 thread each, median of ${RUNS} (${cpus().length} cores shared with other work)`);
console.table(rows);
if (peerMs) console.log(`ratio atelier/scikit-image: ${(oursMs / peerMs).toFixed(2)} (goal ≤ 2)`);
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(
  path.join(here, 'results', 'metrics.json'),
  JSON.stringify({ benchmark: 'ssim 4K', width: W, height: H, channels: 3, threads: 1, runs: RUNS, date: new Date().toISOString(), atelierMs: ours, peer: peer ?? null, ratio: peerMs ? oursMs / peerMs : null }, null, 2) + '\n',
);
