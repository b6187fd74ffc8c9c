"""
An independent PyTorch reference of the fast-style networks (Johnson et al. 2016), written from
the papers and the published architectures, that loads the weights from the raw published files
with its own small parsers (not Atelier's). Used by test/engine/fast-style.test.ts and
bench/fast.mjs.

usage: fast_style_reference.py FORMAT WEIGHTS INPUT.f32 H W OUTPUT.f32 [--threads N] [--time R]
  FORMAT: engstrom (WEIGHTS = checkpoint folder with manifest.json),
          ncnn (WEIGHTS = model.param:model.bin),
          pth (WEIGHTS = a PyTorch examples state_dict .model / .pth, any width)
  INPUT: float32 RGB planar [3, H, W] in 0–255; OUTPUT likewise.
  --time R: run R more times and print a JSON line with the per-run seconds and peak RSS.
  --crops WxH,WxH,…: (with --time) each timed run processes these top-left crops one after the
    other instead of the whole input (the tiles of a tiled run, for benchmarks).
"""
import json
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def instance_norm(x, gamma, beta, eps):
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)


CONVS = ['conv1', 'conv2', 'conv3'] + [f'res{r}.conv{j}' for r in range(1, 6) for j in (1, 2)] + ['deconv1', 'deconv2', 'deconv3']
NORMS = ['in1', 'in2', 'in3'] + [f'res{r}.in{j}' for r in range(1, 6) for j in (1, 2)] + ['in4', 'in5', 'in6']


# ------------------------------------------------------------------ Engstrom (TensorFlow semantics)

def load_engstrom(folder):
    manifest = json.load(open(os.path.join(folder, 'manifest.json')))
    def var(i):
        e = manifest['Variable' if i == 0 else f'Variable_{i}']
        return torch.from_numpy(np.fromfile(os.path.join(folder, e['filename']), dtype='<f4').reshape(e['shape']).copy())
    layers = []
    for i in range(16):
        layers.append((var(3 * i), var(3 * i + 1), var(3 * i + 2)))  # kernel, shift, scale
    return layers


def tf_same_conv(x, hwio, stride):
    k = hwio.shape[0]
    total = max(k - stride, 0)
    before = total // 2
    x = F.pad(x, (before, total - before, before, total - before))
    return F.conv2d(x, hwio.permute(3, 2, 0, 1), stride=stride)


def tf_conv_transpose_2x(x, hwoi):
    # conv2d_transpose, stride 2, 'SAME', output 2H: full transposed conv, keep the first 2H rows/cols.
    h, w = x.shape[2], x.shape[3]
    y = F.conv_transpose2d(x, hwoi.permute(3, 2, 0, 1), stride=2)
    return y[:, :, : 2 * h, : 2 * w]


def engstrom_forward(layers, x):
    def layer(x, i, relu=True, stride=1, transposed=False):
        kernel, shift, scale = layers[i]
        y = tf_conv_transpose_2x(x, kernel) if transposed else tf_same_conv(x, kernel, stride)
        y = instance_norm(y, scale, shift, 1e-3)
        return F.relu(y) if relu else y
    h = layer(x, 0)
    h = layer(h, 1, stride=2)
    h = layer(h, 2, stride=2)
    for r in range(5):
        h = h + layer(layer(h, 3 + 2 * r), 4 + 2 * r, relu=False)
    h = layer(h, 13, transposed=True)
    h = layer(h, 14, transposed=True)
    h = layer(h, 15, relu=False)
    return torch.tanh(h) * 150 + 255.0 / 2


# ------------------------------------------------------------------ PyTorch examples' TransformerNet

def load_ncnn(param_file, bin_file):
    """Walk the .param layer list and read each Convolution / InstanceNorm's weights from the .bin."""
    lines = [l.split() for l in open(param_file).read().splitlines() if l.strip()]
    assert lines[0] == ['7767517']
    blob = open(bin_file, 'rb').read()
    at = 0
    convs, norms = [], []
    def f32(n):
        nonlocal at
        v = np.frombuffer(blob, dtype='<f4', count=n, offset=at).copy()
        at += 4 * n
        return torch.from_numpy(v)
    for words in lines[2:]:
        kind, nin, nout = words[0], int(words[2]), int(words[3])
        params = dict(kv.split('=') for kv in words[4 + nin + nout:])
        if kind == 'Convolution':
            count, cout, k = int(params['6']), int(params['0']), int(params['1'])
            tag = int.from_bytes(blob[at:at + 4], 'little')
            at += 4
            if tag == 0x01306B47:
                w = np.frombuffer(blob, dtype='<f2', count=count, offset=at).astype(np.float32)
                at += (2 * count + 3) // 4 * 4
            else:
                assert tag == 0
                w = np.frombuffer(blob, dtype='<f4', count=count, offset=at).copy()
                at += 4 * count
            weight = torch.from_numpy(w.reshape(cout, count // (cout * k * k), k, k).copy())
            bias = f32(cout) if params.get('5') == '1' else torch.zeros(cout)
            convs.append((weight, bias))
        elif kind == 'InstanceNorm':
            c = int(params['0'])
            norms.append((f32(c), f32(c)))
    assert at == len(blob), (at, len(blob))
    return convs, norms


def load_pth(path):
    sd = torch.load(path, map_location='cpu')
    convs = [(sd[f'{k}.conv2d.weight'].float(), sd[f'{k}.conv2d.bias'].float()) for k in CONVS]
    norms = [(sd[f'{k}.weight'].float(), sd[f'{k}.bias'].float()) for k in NORMS[:15]]
    return convs, norms


def pytorch_examples_forward(convs, norms, x):
    def conv(x, i, stride=1, upsample=False):
        w, b = convs[i]
        if upsample:
            x = F.interpolate(x, scale_factor=2, mode='nearest')
        p = w.shape[2] // 2
        return F.conv2d(F.pad(x, (p, p, p, p), mode='reflect'), w, b, stride=stride)
    def norm(x, i):
        return instance_norm(x, norms[i][0], norms[i][1], 1e-5)
    h = F.relu(norm(conv(x, 0), 0))
    h = F.relu(norm(conv(h, 1, stride=2), 1))
    h = F.relu(norm(conv(h, 2, stride=2), 2))
    for r in range(5):
        a = F.relu(norm(conv(h, 3 + 2 * r), 3 + 2 * r))
        h = h + norm(conv(a, 4 + 2 * r), 4 + 2 * r)
    h = F.relu(norm(conv(h, 13, upsample=True), 13))
    h = F.relu(norm(conv(h, 14, upsample=True), 14))
    return conv(h, 15)


def main():
    fmt, weights, inp, h, w, out = sys.argv[1:7]
    rest = sys.argv[7:]
    threads = int(rest[rest.index('--threads') + 1]) if '--threads' in rest else 2
    repeats = int(rest[rest.index('--time') + 1]) if '--time' in rest else 0
    crops = [tuple(map(int, c.split('x'))) for c in rest[rest.index('--crops') + 1].split(',')] if '--crops' in rest else None
    torch.set_num_threads(threads)
    h, w = int(h), int(w)
    x = torch.from_numpy(np.fromfile(inp, dtype='<f4').reshape(1, 3, h, w).copy())
    if fmt == 'engstrom':
        layers = load_engstrom(weights)
        run = lambda x: engstrom_forward(layers, x)
    else:
        convs, norms = load_ncnn(*weights.split(':')) if fmt == 'ncnn' else load_pth(weights)
        run = lambda x: pytorch_examples_forward(convs, norms, x)
    with torch.no_grad():
        if crops is None:
            y = run(x)
            y.numpy().astype('<f4').tofile(out)
        if repeats:
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                if crops is None:
                    run(x)
                else:
                    for cw, ch in crops:
                        run(x[:, :, :ch, :cw].contiguous())
                times.append(time.perf_counter() - t)
            print(json.dumps({'seconds': times, 'peakRssBytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


if __name__ == '__main__':
    main()
