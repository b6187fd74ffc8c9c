"""PyTorch references of the WCT autoencoders (Li et al. 2017; Collaborative Distillation's
cd16x set) and MicroAST (Wang et al. 2023), written for Atelier's tests from the papers' text and
the published weight shapes. Used by test/engine/nets/*.test.ts and bench/style-nets.mjs.

usage: python3 torch_style_nets.py JOB.json
JOB: {"kind": "wct-encoder"|"wct-decoder"|"microast", "network": "vgg19"|"cd16x", "level": K,
      "dir": weights folder, "input": raw float32 file, "shape": [1,C,H,W],
      "style": raw float32 file, "styleShape": [...], "alpha": a, "output": raw float32 file,
      "threads": n, "repeat": r}
Prints one JSON line: output shape, seconds per run (best of `repeat`), cpuSeconds (the process's
CPU time per run, best of `repeat`) and peak RSS in MB.
"""
import json
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)


def load(path):
    sd = torch.load(path, map_location="cpu")
    if "model" in sd and isinstance(sd["model"], dict):
        sd = sd["model"]
    return sd


def conv(x, sd, key, pad=1, stride=1, groups=1):
    if pad:
        x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    return F.conv2d(x, sd[key + ".weight"], sd[key + ".bias"], stride=stride, groups=groups)


# ---------------------------------------------------------------- WCT autoencoders

BLOCKS = [["1_1", "1_2"], ["2_1", "2_2"], ["3_1", "3_2", "3_3", "3_4"], ["4_1", "4_2", "4_3", "4_4"], ["5_1"]]


def trunk(level):
    """Conv names and pools of VGG-19 up to relu{level}_1."""
    out = []
    for b, block in enumerate(BLOCKS):
        if b > 0:
            out.append("pool")
        for name in block:
            out.append(name)
            if name == f"{level}_1":
                return out
    return out


def wct_encoder(network, level, sd, x):
    if network == "vgg19":
        # nn.Sequential: 0 = 1x1 conv; then pad, conv, relu per conv and a ceil-mode max pool.
        x = F.conv2d(x, sd["0.weight"], sd["0.bias"])
        index = 1
        for layer in trunk(level):
            if layer == "pool":
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)
                index += 1
                continue
            x = F.relu(conv(x, sd, str(index + 1)))
            index += 3
        return x
    x = F.conv2d(x, sd["conv0.weight"], sd["conv0.bias"])
    for layer in trunk(level):
        if layer == "pool":
            x = F.max_pool2d(x, 2, 2)
        else:
            x = F.relu(conv(x, sd, "conv" + layer.replace("_", "")))
    return x


def wct_decoder(network, level, sd, x):
    layers = list(reversed(trunk(level)))
    index = 0
    for i, layer in enumerate(layers):
        if layer == "pool":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            index += 1
            continue
        last = i == len(layers) - 1
        relu = network == "cd16x" or not last
        key = str(index + 1) if network == "vgg19" else "conv" + layer.replace("_", "")
        x = conv(x, sd, key)
        if relu:
            x = F.relu(x)
        index += 3 if relu else 2
    return x


# ---------------------------------------------------------------- MicroAST


def mean_std(f, eps=1e-5):
    n, c = f.shape[:2]
    flat = f.reshape(n, c, -1)
    return flat.mean(2).reshape(n, c, 1, 1), (flat.var(2) + eps).sqrt().reshape(n, c, 1, 1)


def adain(x, s):
    xm, xs = mean_std(x)
    sm, ss = mean_std(s)
    return (x - xm) / xs * ss + sm


def mconv(x, sd, key, k, stride=1, groups=1):
    return conv(x, {key + ".weight": sd[key + ".conv_layer.weight"], key + ".bias": sd[key + ".conv_layer.bias"]}, key, pad=k // 2, stride=stride, groups=groups)


def residual(x, sd, key, w=None, b=None):
    if w is None:
        return x + mconv(F.relu(mconv(x, sd, key + ".conv1", 3)), sd, key + ".conv2", 3)
    y1 = w * mconv(x, sd, key + ".conv1", 3) + b * x
    r = F.relu(y1)
    y2 = w * mconv(r, sd, key + ".conv2", 3) + b * r
    return x + y2


def microast_encoder(sd, x):
    x = F.relu(mconv(x, sd, "enc1.0", 9))
    x = F.relu(mconv(x, sd, "enc1.2", 3, 2, 16))
    x = F.relu(mconv(x, sd, "enc1.4", 1))
    x = F.relu(mconv(x, sd, "enc1.6", 3, 2, 32))
    x = F.relu(mconv(x, sd, "enc1.8", 1))
    f1 = residual(x, sd, "enc1.10")
    return f1, residual(f1, sd, "enc2.0")


def microast_weights(d):
    return [load(d + f"/{part}_iter_160000.pth.tar") for part in ("content_encoder", "style_encoder", "modulator", "decoder")]


def microast(weights, content, style, alpha):
    """MicroAST's TestNet at alpha = 1. For alpha < 1, identity interpolation (what Atelier does;
    the authors' feature blend saturates with the published weights): the content is also encoded
    as a style, and the AdaIN means/deviations and the modulator outputs are interpolated."""
    ce, se, mo, de = weights

    def code(img):
        s1, s2 = microast_encoder(se, img)
        head = lambda f, key: mconv(f, mo, key, 3, 1, 64).mean((2, 3), keepdim=True)
        return [mean_std(s1), mean_std(s2), head(s1, "weight1.0"), head(s1, "bias1.0"), head(s2, "weight2.0"), head(s2, "bias2.0")]

    a = code(style)
    b = code(content) if alpha < 1 else a
    mix = lambda p, q: alpha * p + (1 - alpha) * q
    st1 = (mix(a[0][0], b[0][0]), mix(a[0][1], b[0][1]))
    st2 = (mix(a[1][0], b[1][0]), mix(a[1][1], b[1][1]))
    w1, b1, w2, b2 = [mix(a[i], b[i]) for i in range(2, 6)]

    def norm(x, target):
        m, sd = mean_std(x)
        return (x - m) / sd * target[1] + target[0]

    c1, c2 = microast_encoder(ce, content)
    x = residual(norm(c2, st2), de, "dec1", w2, b2)
    x = residual(norm(x, st1), de, "dec2", w1, b1)
    x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    x = F.relu(mconv(x, de, "dec3.1", 3, 1, 32))
    x = F.relu(mconv(x, de, "dec3.3", 1))
    x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    x = F.relu(mconv(x, de, "dec3.6", 3, 1, 16))
    x = F.relu(mconv(x, de, "dec3.8", 1))
    return mconv(x, de, "dec3.10", 9)


# ---------------------------------------------------------------- feature transforms


def cholesky_wct(c, s, alpha):
    """Whitening and colouring with Cholesky factors in float64 (CAP-VSTNet's cWCT): the features
    get the style's mean and unbiased covariance; alpha blends the factors and means."""
    n = c.shape[1]
    cf = c[0].reshape(n, -1).double()
    sf = s[0].reshape(n, -1).double()

    def stats(f):
        m = f.mean(1, keepdim=True)
        d = f - m
        cov = d @ d.t() / (f.shape[1] - 1)
        scale = max(cov.diagonal().mean().item(), 1e-30)
        return m, torch.linalg.cholesky(cov + 2e-5 * scale * torch.eye(n, dtype=torch.float64)) if not _pd(cov, scale) else torch.linalg.cholesky(cov)

    mc, lc = stats(cf)
    ms, ls = stats(sf)
    L = alpha * ls + (1 - alpha) * lc
    m = alpha * ms + (1 - alpha) * mc
    y = L @ torch.linalg.solve_triangular(lc, cf - mc, upper=False) + m
    return y.float().reshape(c.shape)


def _pd(cov, scale):
    try:
        L = torch.linalg.cholesky(cov)
        return bool((L.diagonal() ** 2 > 1e-10 * scale).all())
    except Exception:
        return False


_loaded = {}


def universal(job, content, style):
    """Li et al.'s multi-level loop: encode, transform, decode; the result feeds the next level."""
    network = job["network"]
    img = content
    for level in job["levels"]:
        if network == "vgg19":
            enc, dec = f"vgg_normalised_conv{level}_1.pth", f"feature_invertor_conv{level}_1.pth"
        else:
            enc, dec = f"{level}SE.pth", f"{level}SD.pth"
        if (enc, dec) not in _loaded:
            _loaded[(enc, dec)] = (load(job["dir"] + "/" + enc), load(job["dir"] + "/" + dec))
        es, ds = _loaded[(enc, dec)]
        cf = wct_encoder(network, level, es, img)
        sf = wct_encoder(network, level, es, style)
        if job["transform"] == "adain":
            t = adain(cf, sf)
            t = job["alpha"] * t + (1 - job["alpha"]) * cf
        else:
            t = cholesky_wct(cf, sf, job["alpha"])
        img = wct_decoder(network, level, ds, t).clamp(0, 1)
    return img


def style_distance(d, output, style):
    """Relative Frobenius distance of Gram matrices F F^T / (C H W) at relu1_1, relu2_1, relu3_1."""
    sd = load(d + "/vgg_normalised_conv3_1.pth")

    def grams(x):
        out = []
        for level in (1, 2, 3):
            f = wct_encoder("vgg19", level, sd, x)[0]
            c = f.shape[0]
            f = f.reshape(c, -1).double()
            out.append(f @ f.t() / f.numel())
        return out

    a, b = grams(output), grams(style)
    return torch.tensor([[float(((x - y).norm() / y.norm())) for x, y in zip(a, b)]])


def read(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype=np.float32).reshape(shape))


def main():
    job = json.load(open(sys.argv[1]))
    torch.set_num_threads(job.get("threads", 1))
    x = read(job["input"], job["shape"])
    kind = job["kind"]
    if kind == "style-distance":
        s = read(job["style"], job["styleShape"])
        run = lambda: style_distance(job["dir"], x, s)
    elif kind == "universal":
        s = read(job["style"], job["styleShape"])
        run = lambda: universal(job, x, s)
    elif kind == "microast":
        s = read(job["style"], job["styleShape"])
        weights = microast_weights(job["dir"])
        run = lambda: microast(weights, x, s, job.get("alpha", 1.0))
    else:
        network, level = job["network"], job["level"]
        if network == "vgg19":
            name = f"vgg_normalised_conv{level}_1.pth" if kind == "wct-encoder" else f"feature_invertor_conv{level}_1.pth"
        else:
            name = f"{level}SE.pth" if kind == "wct-encoder" else f"{level}SD.pth"
        sd = load(job["dir"] + "/" + name)
        fn = wct_encoder if kind == "wct-encoder" else wct_decoder
        run = lambda: fn(network, level, sd, x)
    best = float("inf")
    best_cpu = float("inf")
    for _ in range(job.get("repeat", 1)):
        t = time.perf_counter()
        c = time.process_time()
        y = run()
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    y.numpy().astype(np.float32).tofile(job["output"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"shape": list(y.shape), "seconds": best, "cpuSeconds": best_cpu, "peakMB": peak}))


if __name__ == "__main__":
    main()
