#!/usr/bin/env node
// Neural engine vs PyTorch CPU (Debian python3-torch), same machine, same run, 2 threads each:
// VGG-19 forward to relu5_1, one Gatys step (forward + input gradient of content + style loss) and
// one Johnson-net training step (forward, backward, Adam; MSE loss, batch 1). Each measurement runs
// in a fresh process (so peak RSS is that task's), Atelier and PyTorch processes interleaved,
// median of the per-process medians. Weights are random (the same architecture either way).
// Usage: node bench/engine.mjs [--rounds N] [--only vgg,gatys,johnson] [--memory fast|lean]
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, option, peakMB } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const THREADS = 2;
const args = process.argv.slice(2);

const REPS = { vgg: 5, gatys: 4, johnson: 5 };

// ---------------------------------------------------------------- Atelier worker
async function atelierWorker(task, size, memory, optimization) {
  const { Graph } = await import('../dist/engine/graph/graph.js');
  const { compile } = await import('../dist/engine/runtime.js');
  const { grad } = await import('../dist/engine/autodiff/grad.js');
  const { vgg19, randomVgg19Weights } = await import('../dist/engine/nets/vgg19.js');
  const { Image } = await import('../dist/core/image.js');
  const { Rng } = await import('../dist/core/rng.js');
  const rng = new Rng(1);
  const rand = (n, lo = 0, hi = 1) => Float32Array.from({ length: n }, () => rng.uniform(lo, hi));
  const base = peakMB();
  const times = [];
  const time = async (fn) => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  if (task === 'vgg') {
    const g = new Graph();
    const x = g.input('image', [1, 3, 'H', 'W']);
    g.output('relu5_1', vgg19(g, x, randomVgg19Weights('torchvision', 1), { layout: 'torchvision', taps: ['relu5_1'] }).relu5_1);
    const r = await compile(g, { threads: THREADS, memory, optimization });
    const feeds = { image: { data: rand(3 * size * size), shape: [1, 3, size, size] } };
    await r.run(feeds);
    for (let i = 0; i < REPS.vgg; i++) times.push(await time(() => r.run(feeds)));
  } else if (task === 'gatys') {
    const { GatysObjective } = await import('../dist/methods/neural/gatys-objective.js');
    const styleLayers = ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'];
    const img = () => new Image(size, size, 3, rand(3 * size * size));
    const { objective: obj, targets: [targets] } = await GatysObjective.create({
      weights: randomVgg19Weights('torchvision', 1),
      layout: 'torchvision',
      pooling: 'max',
      contentLayer: 'conv4_2',
      styleLayers,
      styleLayerWeights: styleLayers.map(() => 1e5),
      contentWeight: 1,
      tvWeight: 0,
      threads: THREADS,
      memory,
      optimization,
    }, [{ content: img(), styles: [{ image: img(), weight: 1 }] }]);
    const x = rand(3 * size * size);
    await obj.evaluate(x, size, size, targets);
    for (let i = 0; i < REPS.gatys; i++) times.push(await time(() => obj.evaluate(x, size, size, targets)));
  } else if (task === 'johnson') {
    const { transformerNet, randomTransformerNetWeights } = await import('../dist/engine/nets/transformer-net.js');
    const { Adam } = await import('../dist/engine/optim/adam.js');
    const weights = randomTransformerNetWeights(1);
    const g = new Graph();
    const x = g.input('image', [1, 3, 'H', 'W']);
    const target = g.input('target', [1, 3, 'H', 'W']);
    const y = transformerNet(g, x, weights);
    const d = g.sub(y, target);
    const loss = g.meanAll(g.mul(d, d));
    g.output('loss', loss);
    const grads = grad(g, loss, g.params);
    g.params.forEach((p, i) => g.output(`grad:${p.name}`, grads[i]));
    const r = await compile(g, { threads: THREADS, memory, optimization, paramsAsInputs: true });
    const params = g.params.map((p) => ({ name: p.name, shape: p.shape, data: Float32Array.from(weights.get(p.name).data) }));
    const opts = params.map((p) => new Adam(p.data.length, { learningRate: 1e-3 }));
    const feeds = { image: { data: rand(3 * size * size, 0, 255), shape: [1, 3, size, size] }, target: { data: rand(3 * size * size, 0, 255), shape: [1, 3, size, size] } };
    for (const p of params) feeds[p.name] = { data: p.data, shape: p.shape };
    const step = async () => {
      const out = await r.run(feeds);
      params.forEach((p, i) => opts[i].step(p.data, out[`grad:${p.name}`].data));
    };
    await step();
    for (let i = 0; i < REPS.johnson; i++) times.push(await time(step));
  }
  return { ms: median(times), times, peakMB: peakMB(), baseMB: base };
}

// ---------------------------------------------------------------- PyTorch worker
const TORCH = String.raw`
import json, resource, sys, time
import torch, torch.nn as nn, torch.nn.functional as F
task, size, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(${THREADS})
torch.manual_seed(1)
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
base = peak()
cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512]
def vgg_to(names):
    layers, cin, taps, names_seq = [], 3, {}, []
    block, idx = 1, 1
    for v in cfg:
        if v == 'M':
            layers.append(nn.MaxPool2d(2, 2)); block += 1; idx = 1; continue
        layers.append(nn.Conv2d(cin, v, 3, padding=1)); taps[len(layers) - 1] = 'conv%d_%d' % (block, idx)
        layers.append(nn.ReLU(inplace=False)); taps[len(layers) - 1] = 'relu%d_%d' % (block, idx)
        cin = v; idx += 1
    return nn.Sequential(*layers), taps
def features(net, taps, x, wanted):
    out = {}
    for i, layer in enumerate(net):
        x = layer(x)
        if taps.get(i) in wanted: out[taps[i]] = x
    return out
def gram(f):
    n, c, h, w = f.shape
    f = f.reshape(n, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (c * h * w)
times = []
if task == 'vgg':
    net, taps = vgg_to(['relu5_1'])
    for p in net.parameters(): p.requires_grad_(False)
    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        net(x)
        for _ in range(reps):
            t0 = time.perf_counter(); net(x); times.append((time.perf_counter() - t0) * 1000)
elif task == 'gatys':
    net, taps = vgg_to([])
    for p in net.parameters(): p.requires_grad_(False)
    style_layers = ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1']
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1); std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        fc = features(net, taps, (torch.rand(1, 3, size, size) - mean) / std, ['conv4_2'])['conv4_2']
        fs = features(net, taps, (torch.rand(1, 3, size, size) - mean) / std, style_layers)
        gs = {k: gram(v) for k, v in fs.items()}
    x = torch.rand(1, 3, size, size, requires_grad=True)
    def step():
        if x.grad is not None: x.grad = None
        f = features(net, taps, (x - mean) / std, style_layers + ['conv4_2'])
        loss = F.mse_loss(f['conv4_2'], fc)
        for k in style_layers: loss = loss + 1e5 * F.mse_loss(gram(f[k]), gs[k])
        loss.backward()
        return loss.item()
    step()
    for _ in range(reps):
        t0 = time.perf_counter(); step(); times.append((time.perf_counter() - t0) * 1000)
elif task == 'johnson':
    class ConvLayer(nn.Module):
        def __init__(s, cin, cout, k, stride, up=None):
            super().__init__(); s.up = up; s.pad = nn.ReflectionPad2d(k // 2); s.conv2d = nn.Conv2d(cin, cout, k, stride)
        def forward(s, x):
            if s.up: x = F.interpolate(x, mode='nearest', scale_factor=s.up)
            return s.conv2d(s.pad(x))
    class Res(nn.Module):
        def __init__(s):
            super().__init__(); s.conv1 = ConvLayer(128, 128, 3, 1); s.in1 = nn.InstanceNorm2d(128, affine=True)
            s.conv2 = ConvLayer(128, 128, 3, 1); s.in2 = nn.InstanceNorm2d(128, affine=True)
        def forward(s, x): return x + s.in2(s.conv2(F.relu(s.in1(s.conv1(x)))))
    class Net(nn.Module):
        def __init__(s):
            super().__init__()
            s.conv1 = ConvLayer(3, 32, 9, 1); s.in1 = nn.InstanceNorm2d(32, affine=True)
            s.conv2 = ConvLayer(32, 64, 3, 2); s.in2 = nn.InstanceNorm2d(64, affine=True)
            s.conv3 = ConvLayer(64, 128, 3, 2); s.in3 = nn.InstanceNorm2d(128, affine=True)
            s.res = nn.Sequential(*[Res() for _ in range(5)])
            s.deconv1 = ConvLayer(128, 64, 3, 1, 2); s.in4 = nn.InstanceNorm2d(64, affine=True)
            s.deconv2 = ConvLayer(64, 32, 3, 1, 2); s.in5 = nn.InstanceNorm2d(32, affine=True)
            s.deconv3 = ConvLayer(32, 3, 9, 1)
        def forward(s, x):
            y = F.relu(s.in1(s.conv1(x))); y = F.relu(s.in2(s.conv2(y))); y = F.relu(s.in3(s.conv3(y)))
            y = s.res(y)
            y = F.relu(s.in4(s.deconv1(y))); y = F.relu(s.in5(s.deconv2(y)))
            return s.deconv3(y)
    net = Net(); opt = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.rand(1, 3, size, size) * 255; target = torch.rand(1, 3, size, size) * 255
    def step():
        opt.zero_grad(); loss = F.mse_loss(net(x), target); loss.backward(); opt.step()
    step()
    for _ in range(reps):
        t0 = time.perf_counter(); step(); times.append((time.perf_counter() - t0) * 1000)
times.sort()
print(json.dumps({'ms': times[len(times) // 2] if len(times) % 2 else (times[len(times) // 2 - 1] + times[len(times) // 2]) / 2, 'times': times, 'peakMB': peak(), 'baseMB': base}))
`;

function runWorker(engine, task, size, memory, optimization) {
  const r =
    engine === 'atelier'
      ? spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', task, String(size), '--memory', memory, '--optimization', optimization], { encoding: 'utf8' })
      : spawnSync('/usr/bin/python3', ['-c', TORCH, task, String(size), String(REPS[task])], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(THREADS) } });
  if (r.status !== 0) throw new Error(`${engine} ${task} ${size} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

async function main() {
  if (args[0] === '--worker') {
    const pick = (v) => (v === 'default' ? undefined : v);
    const out = await atelierWorker(args[1], Number(args[2]), pick(option('memory', 'default')), pick(option('optimization', 'default')));
    console.log(JSON.stringify(out));
    return;
  }
  const torchCheck = spawnSync('/usr/bin/python3', ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (torchCheck.status !== 0) {
    console.error('PyTorch not found: run scripts/system-deps.sh bench (installs python3-torch)');
    process.exit(1);
  }
  const rounds = Number(option('rounds', 3));
  // Atelier settings to compare, each "optimization/memory" or "default" (what the code uses).
  const configs = option('configs', 'default').split(',');
  const only = option('only', 'vgg,gatys,johnson').split(',');
  const tasks = [
    ['vgg', 256, 'VGG-19 → relu5_1 forward'],
    ['vgg', 512, 'VGG-19 → relu5_1 forward'],
    ['gatys', 256, 'Gatys step (fwd + input grad)'],
    ['gatys', 512, 'Gatys step (fwd + input grad)'],
    ['johnson', 256, 'Johnson-net train step (MSE, Adam)'],
  ].filter(([t]) => only.includes(t));
  const rows = [];
  for (const [task, size, label] of tasks) {
    const a = configs.map(() => []);
    const t = [];
    for (let i = 0; i < rounds; i++) {
      // Interleave, alternating who goes first, so background load hits both alike.
      const order = i % 2 === 0 ? [...configs.keys(), -1] : [-1, ...configs.keys()];
      for (const k of order) {
        if (k < 0) t.push(runWorker('torch', task, size));
        else {
          const [optimization, memory] = configs[k] === 'default' ? ['default', 'default'] : configs[k].split('/');
          a[k].push(runWorker('atelier', task, size, memory, optimization));
        }
      }
    }
    for (const [k, config] of configs.entries()) rows.push(summarise(task, label, size, config, a[k], t));
  }
  report(rows, torchCheck.stdout.trim(), rounds);
}

function summarise(task, label, size, config, a, t) {
    const row = {
      task,
      label,
      size,
      config,
      threads: THREADS,
      atelierMs: median(a.map((r) => r.ms)),
      torchMs: median(t.map((r) => r.ms)),
      atelierPeakMB: median(a.map((r) => r.peakMB)),
      torchPeakMB: median(t.map((r) => r.peakMB)),
      atelierBaseMB: median(a.map((r) => r.baseMB)),
      torchBaseMB: median(t.map((r) => r.baseMB)),
    };
    row.speedRatio = row.torchMs / row.atelierMs;
    row.memoryRatio = row.atelierPeakMB / row.torchPeakMB;
    console.error(`${label} ${size}² [${config}]: atelier ${row.atelierMs.toFixed(0)} ms / ${row.atelierPeakMB.toFixed(0)} MB, torch ${row.torchMs.toFixed(0)} ms / ${row.torchPeakMB.toFixed(0)} MB`);
    return row;
}

function report(rows, torchVersion, rounds) {
  console.log(`\nAtelier engine vs PyTorch ${torchVersion} (CPU), ${THREADS} threads, median of ${rounds} interleaved processes each`);
  console.log('(the machine is shared with other engineers: absolute times are noisy, ratios less so)\n');
  console.log('| task | size | ORT settings | Atelier ms | PyTorch ms | speed × | Atelier peak MB | PyTorch peak MB | memory × |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.label} | ${r.size}² | ${r.config} | ${r.atelierMs.toFixed(0)} | ${r.torchMs.toFixed(0)} | ${r.speedRatio.toFixed(2)} | ${r.atelierPeakMB.toFixed(0)} | ${r.torchPeakMB.toFixed(0)} | ${r.memoryRatio.toFixed(2)} |`);
  }
  // Rows measured now replace the same task/size/settings in the saved results; the rest are kept
  // (with their own dates), so `--only johnson` re-measures one row without losing the others.
  const file = path.join(here, 'results', 'engine.json');
  mkdirSync(path.dirname(file), { recursive: true });
  const date = new Date().toISOString();
  const load = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  let saved = [];
  try {
    saved = JSON.parse(readFileSync(file, 'utf8')).rows ?? [];
  } catch {}
  const key = (r) => `${r.task}|${r.size}|${r.config}`;
  const fresh = rows.map((r) => ({ ...r, date, loadAtEnd: load }));
  const merged = [...saved.filter((r) => !fresh.some((f) => key(f) === key(r))), ...fresh];
  writeFileSync(file, JSON.stringify({ date, torch: torchVersion, threads: THREADS, rounds, rows: merged }, null, 2) + '\n');
}

await main();
