// Reading published-layout weight files: Atelier's .pth (zip and legacy containers) and
// safetensors readers against torch.load (Debian python3-torch) in the same run.
// The file has torchvision's VGG-19 names and shapes; the classifier is narrowed by
// ATELIER_BENCH_SCALE (default 4, ≈115 MB; 1 = the published 548 MB file). Warm page cache,
// 1 warm-up + 5 timed reads each, medians. Writes bench/results/weights-read.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPth } from '../dist/engine/weights/pth.js';
import { readSafetensors, writeSafetensors } from '../dist/engine/weights/safetensors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const scale = Number(process.env.ATELIER_BENCH_SCALE ?? 4);
const runs = 5;
const python = ['/usr/bin/python3', 'python3'].find((py) => spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0);
if (!python) {
  console.error('weights-read: python3-torch is missing (run scripts/system-deps.sh bench)');
  process.exit(1);
}
const dir = mkdtempSync(path.join(tmpdir(), 'atelier-bench-weights-'));
try {
  const make = String.raw`
import sys, collections, torch
out, scale = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M']
sd = collections.OrderedDict(); i = 0; c_in = 3
for c in cfg:
    if c == 'M': i += 1; continue
    sd[f'features.{i}.weight'] = torch.randn(c, c_in, 3, 3) * 0.01; sd[f'features.{i}.bias'] = torch.randn(c) * 0.01
    c_in = c; i += 2
h, f = 4096 // scale, 25088 // scale
for k, (o, n) in {0: (h, f), 3: (h, h), 6: (1000, h)}.items():
    sd[f'classifier.{k}.weight'] = torch.randn(o, n) * 0.01; sd[f'classifier.{k}.bias'] = torch.randn(o) * 0.01
torch.save(sd, out + '/vgg19.pth')
torch.save(sd, out + '/vgg19-legacy.pth', _use_new_zipfile_serialization=False)
`;
  const gen = spawnSync(python, ['-c', make, dir, String(scale)], { encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(gen.stderr);
  const zip = path.join(dir, 'vgg19.pth');
  const legacy = path.join(dir, 'vgg19-legacy.pth');
  const st = path.join(dir, 'vgg19.safetensors');
  await writeSafetensors(st, (await readPth(zip)).values());

  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  async function timeNode(read, file) {
    await read(file);
    const ms = [];
    let peak = 0;
    for (let r = 0; r < runs; r++) {
      const t = performance.now();
      const m = await read(file);
      ms.push(performance.now() - t);
      peak = Math.max(peak, process.memoryUsage().rss);
      if (m.size === 0) throw new Error('no tensors');
    }
    return median(ms);
  }
  const timeTorch = (file) => {
    const code = String.raw`
import sys, time, torch
torch.set_num_threads(2)
f = sys.argv[1]; torch.load(f); ts = []
for _ in range(${runs}):
    t = time.perf_counter(); sd = torch.load(f); ts.append((time.perf_counter() - t) * 1000)
print(sorted(ts)[len(ts) // 2])
`;
    const r = spawnSync(python, ['-c', code, file], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    return Number(r.stdout.trim());
  };

  const rows = [];
  for (const [label, file, read] of [
    ['.pth zip (torch ≥ 1.6)', zip, readPth],
    ['.pth legacy (torchvision/AdaIN files)', legacy, readPth],
    ['safetensors', st, readSafetensors],
  ]) {
    const bytes = statSync(file).size;
    const atelierMs = await timeNode(read, file);
    const torchMs = file === st ? null : timeTorch(file);
    rows.push({ format: label, megabytes: +(bytes / 1e6).toFixed(1), atelierMs: +atelierMs.toFixed(1), atelierMBps: +(bytes / 1e3 / atelierMs).toFixed(0), torchLoadMs: torchMs === null ? null : +torchMs.toFixed(1), speedVsTorch: torchMs === null ? null : +(torchMs / atelierMs).toFixed(2) });
  }
  console.log(`weights-read: torchvision VGG-19 layout, classifier widths / ${scale}, ${runs} runs (median), warm page cache, ${cpus().length} cores shared with other work`);
  console.log('format                                  MB    Atelier ms   MB/s   torch.load ms   Atelier speed ÷ torch');
  for (const r of rows) {
    console.log(`${r.format.padEnd(38)} ${String(r.megabytes).padStart(6)} ${String(r.atelierMs).padStart(10)} ${String(r.atelierMBps).padStart(8)} ${String(r.torchLoadMs ?? '—').padStart(12)} ${String(r.speedVsTorch ?? '—').padStart(10)}`);
  }
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(
    path.join(here, 'results', 'weights-read.json'),
    JSON.stringify({ benchmark: 'weights-read', date: new Date().toISOString(), node: process.version, cores: cpus().length, classifierScale: scale, runs, peer: `torch ${spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' }).stdout.trim()}`, rows }, null, 2) + '\n',
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
