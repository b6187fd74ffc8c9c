"""CAP-VSTNet in PyTorch, the peer of bench/capvst.mjs.

Written for the benchmark from the paper (Wen, Gao & Zou, CVPR 2023) and the layout documented in
src/engine/nets/capvst/architecture.ts: reversible additive-coupling blocks with reflection-padded
3x3 convolutions, squeeze by 2 for stride-2 blocks, a 2-block channel refinement module and
"spread" unsqueezes, then cWCT in float64. It loads the same weights Atelier uses (a raw float32
file plus a JSON index in state-dict order) so both run the same network.

Usage: capvst_torch.py WEIGHTS.json MODE CONTENT.f32 H W STYLE.f32 STYLE_H STYLE_W RUNS THREADS OUT.f32|-
CONTENT.f32 and STYLE.f32 are planar RGB float32 images (3 x H x W); the first run's output is
written to OUT.f32 in the same layout. Prints one JSON line: {"times_ms": [...], "peak_rss_mb": ...}.
"""
import json
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def squeeze2(x):
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze2(x):
    b, c, h, w = x.shape
    x = x.reshape(b, 2, 2, c // 4, h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(b, c // 4, 2 * h, 2 * w)


class Block:
    def __init__(self, params, prefix, stride):
        self.convs = [(params[f"{prefix}.{i}.weight"], params[f"{prefix}.{i}.bias"]) for i in (1, 4, 7)]
        self.stride = stride

    def residual(self, x):
        for i, (w, b) in enumerate(self.convs):
            x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), w, b, stride=self.stride if i == 0 else 1)
            if i < 2:
                x = F.relu(x)
        return x

    def forward(self, x1, x2):
        f = self.residual(x2)
        if self.stride == 2:
            x1, x2 = squeeze2(x1), squeeze2(x2)
        return x2, x1 + f

    def inverse(self, a, y1):
        x2 = unsqueeze2(a) if self.stride == 2 else a
        x1 = y1 - self.residual(x2)
        if self.stride == 2:
            x1 = unsqueeze2(x1)
        return x1, x2


class RevNet:
    def __init__(self, params, spread_steps):
        self.stack = [Block(params, f"stack.{i}.conv", 2 if i in (10, 20) else 1) for i in range(30)]
        self.refine = [Block(params, f"channel_reduction.block_list.{i}.conv", 1) for i in range(2)]
        self.spread = spread_steps

    def forward(self, x):
        b, _, h, w = x.shape
        x1 = torch.cat([x, x.new_zeros(b, 13, h, w)], 1)
        x2 = x.new_zeros(b, 16, h, w)
        for blk in self.stack + self.refine:
            x1, x2 = blk.forward(x1, x2)
        z = torch.cat([x1, x2], 1)
        for _ in range(self.spread):
            z = unsqueeze2(z)
        return z

    def inverse(self, z):
        for _ in range(self.spread):
            z = squeeze2(z)
        a, b = torch.chunk(z, 2, 1)
        for blk in reversed(self.stack + self.refine):
            a, b = blk.inverse(a, b)
        return a[:, :3]


def cwct(zc, zs, eps=2e-5):
    """Cholesky whitening/colouring in float64, regularised by a bounded jitter schedule."""
    n = zc.shape[1]

    def stats(z):
        f = z.reshape(n, -1).double()
        m = f.mean(1, keepdim=True)
        f = f - m
        return f, m, (f @ f.t()) / (f.shape[1] - 1)

    def chol(c):
        scale = max(float(torch.trace(c)) / n, 1e-30)
        eye = torch.eye(n, dtype=c.dtype)
        for k in range(-1, 6):
            l, info = torch.linalg.cholesky_ex(c if k < 0 else c + eye * eps * scale * 10 ** k)
            if int(info) == 0:
                return l
        raise RuntimeError("cholesky failed")

    fc, mc, cc = stats(zc)
    _, ms, cs = stats(zs)
    y = chol(cs) @ torch.linalg.solve_triangular(chol(cc), fc, upper=False) + ms
    return y.float().reshape(zc.shape)


def main():
    index_path, mode, content_path, h, w, style_path, sh, sw, runs, threads, out_path = sys.argv[1:12]
    h, w, sh, sw, runs, threads = map(int, (h, w, sh, sw, runs, threads))
    torch.set_num_threads(threads)
    index = json.load(open(index_path))
    raw = np.fromfile(index["data"], dtype=np.float32)
    params = {}
    for t in index["tensors"]:
        params[t["name"]] = torch.from_numpy(raw[t["offset"] : t["offset"] + int(np.prod(t["shape"]))].reshape(t["shape"]).copy())
    net = RevNet(params, 2 if mode == "photoreal" else 1)
    content = torch.from_numpy(np.fromfile(content_path, dtype=np.float32).reshape(1, 3, h, w))
    style = torch.from_numpy(np.fromfile(style_path, dtype=np.float32).reshape(1, 3, sh, sw))
    times = []
    out = None
    with torch.no_grad():
        for _ in range(runs):
            t0 = time.perf_counter()
            zc = net.forward(content)
            zs = net.forward(style)
            out = net.inverse(cwct(zc, zs)).clamp(0, 1)
            times.append((time.perf_counter() - t0) * 1000)
            if out_path != "-" and len(times) == 1:
                out.numpy().astype(np.float32).tofile(out_path)
            del zc, zs
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"times_ms": times, "peak_rss_mb": peak}))


if __name__ == "__main__":
    main()
