"""PyTorch references of the four networks Atelier imports from TFLite / frozen TensorFlow files,
written for Atelier's checks and benchmarks from the papers and the files' layer structure, run on
the very weights Atelier runs: each file's constants exported, dequantised, by Atelier's own readers
(src/engine/import/foreign-weights.ts) into a safetensors file. Activations run in float32, as in
Atelier (its importers read quantised activations as float).

- multistyle: Dumoulin, Shlens & Kudlur, "A Learned Representation for Artistic Style" (ICLR 2017),
  Magenta's mobile transformer as in stylize_quantized.pb: reflect-padded convs (9x9, 3x3/2,
  3x3/2), six residual blocks, two nearest x2 upsamplings + 3x3 convs, a 9x9 conv, a sigmoid; every
  conv followed by conditional instance norm (gamma, beta = style_num . tables[26, C]).
- arbitrary: Ghiasi, Lee, Kudlur, Dumoulin & Shlens (BMVC 2017), mobile version: a MobileNetV2
  (Sandler et al. 2018) style predictor -> 100-d vector; a transfer net whose instance norms take
  gamma and beta as affine maps of the vector; contract convs with ReLU, five residual blocks,
  nearest upsamplings, sigmoid.
- cartoon: Wang & Yu, "Learning to Cartoonize Using White-box Cartoon Representations" (CVPR 2020):
  the U-Net generator (zero-padded SAME convs, leaky ReLU 0.2, four residual blocks, bilinear x2
  upsamplings with skip additions) and the guided filter (He et al.) of radius 1 guided by the input.
- anime: AnimeGANv2 (Chen, Liu & Chen) generator as in the Hayao file: reflect-padded convs each
  followed by layer norm over (C, H, W) and leaky ReLU 0.2, four inverted residual blocks
  (1x1 expand x2, depthwise 3x3, 1x1 project, residual when the shapes match), bilinear x2
  upsamplings, a 1x1 output conv and tanh.

usage: python3 torch_imported_nets.py JOB.json   (JOB, or a list of JOBs run in turn)
JOB: {"kind": "multistyle"|"arbitrary"|"cartoon"|"anime", "weights": safetensors file (arbitrary:
      {"predictor": file, "transfer": file}), "input": raw float32 NCHW file in [0, 1], "shape":
      [1,3,H,W], "style": raw float32 file (arbitrary, [1,3,256,256]), "styleNum": [26 floats]
      (multistyle), "output": raw float32 file, "threads": n, "repeat": r}
Images go in and come out in [0, 1] (cartoon and anime map to their [-1, 1] and back); the output is
not clipped. Prints one JSON line: output shape, seconds (best of `repeat`), cpuSeconds (the
process's CPU time, best of `repeat`) and peak RSS in MB.
"""
import json
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)


class Weights:
    """A safetensors file (float32) by name; also findable by the part of a name before its first ';'
    (TFLite converters join fused tensors' names with ';')."""

    def __init__(self, path):
        raw = open(path, "rb").read()
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + n])
        data = raw[8 + n :]
        self.t = {}
        for name, h in header.items():
            if name == "__metadata__":
                continue
            a, b = h["data_offsets"]
            self.t[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).reshape(h["shape"]).copy())
        self.short = {}
        for name in self.t:
            s = name.split(";")[0]
            self.short[s] = None if s in self.short else name

    def __getitem__(self, name):
        if name in self.t:
            return self.t[name]
        full = self.short.get(name)
        if full is None:
            raise KeyError(f"{name} is not in the weights (or is ambiguous)")
        return self.t[full]

    def filter(self, name):
        """A conv filter and its bias by the filter's name; where the converter gave that name to
        another tensor and the filter the name + "1" (TF's renaming of a clash), that one."""
        if self[name].dim() != 4:
            name += "1"
        return self[name], self[name + ":bias"]

    def scalar(self, name):
        return float(self[name].reshape(-1)[0])


def ohwi(w):
    """TFLite conv filter OHWI -> OIHW."""
    return w.permute(0, 3, 1, 2).contiguous()


def dw_filter(w):
    """TFLite depthwise filter [1, H, W, C] -> [C, 1, H, W]."""
    return w.permute(3, 0, 1, 2).contiguous()


def hwio(w):
    """TensorFlow filter HWIO -> OIHW."""
    return w.permute(3, 2, 0, 1).contiguous()


def same_pads(size, k, s):
    """TensorFlow SAME padding along one side: (before, after)."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def conv_same(x, w, b, stride=1, groups=1):
    k = w.shape[-1]
    top, bottom = same_pads(x.shape[2], k, stride)
    left, right = same_pads(x.shape[3], k, stride)
    return F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride=stride, groups=groups)


def reflect(x, before, after=None):
    after = before if after is None else after
    return F.pad(x, (before, after, before, after), mode="reflect")


def upsample_bilinear_tf(x):
    """x2 bilinear as TF1's resize_bilinear (align_corners and half_pixel_centers off): output pixel i
    samples input i/2, so even pixels copy and odd ones average with the next (the last repeats)."""

    def along(t, dim):
        n = t.shape[dim]
        nxt = torch.cat([t.narrow(dim, 1, n - 1), t.narrow(dim, n - 1, 1)], dim)
        both = torch.stack([t, (t + nxt) * 0.5], dim + 1)
        shape = list(t.shape)
        shape[dim] = 2 * n
        return both.reshape(shape)

    return along(along(x, 2), 3)


def instance_stats(x):
    var, mean = torch.var_mean(x, dim=(2, 3), unbiased=False, keepdim=True)
    return mean, var


def magenta_transformer(x, conv, norm, residual_blocks, normalised_contract):
    """Magenta's image transformation network, which the 26-style and the arbitrary network share
    under the scope transformer/: three contracting convs (9x9, then two 3x3 of stride 2), residual
    blocks of two 3x3 convs, two nearest-neighbour upsamplings each with a 3x3 conv, and a 9x9 conv
    to a sigmoid. The two differ in their normalisation `norm(x, scope)` (conditional instance norm,
    or the style vector's), whether the contracting convs are normalised, and the residual count."""
    for i, (k, stride) in enumerate([(9, 1), (3, 2), (3, 2)], start=1):
        s = f"transformer/contract/conv{i}"
        y = conv(x, s, k, stride)
        x = F.relu(norm(y, s) if normalised_contract else y)
    for i in range(1, residual_blocks + 1):
        s = f"transformer/residual/residual{i}"
        h = F.relu(norm(conv(x, s + "/conv1", 3), s + "/conv1"))
        x = x + norm(conv(h, s + "/conv2", 3), s + "/conv2")
    for i, (k, up) in enumerate([(3, 2), (3, 2), (9, 1)], start=1):
        s = f"transformer/expand/conv{i}/conv"
        if up > 1:
            x = F.interpolate(x, scale_factor=up, mode="nearest")
        x = norm(conv(x, s, k), s)
        x = torch.sigmoid(x) if i == 3 else F.relu(x)
    return x


# ---------------------------------------------------------------- multistyle (Dumoulin et al.)


def multistyle(w, x, style_num):
    v = torch.tensor(style_num, dtype=torch.float32)

    def cin(x, scope):
        gamma = v @ w[scope + "/InstanceNorm/gamma"]
        beta = v @ w[scope + "/InstanceNorm/beta"]
        mean, var = instance_stats(x)
        eps = w.scalar(scope + "/InstanceNorm/batchnorm/add/y")
        return (x - mean) * torch.rsqrt(var + eps) * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)

    def conv(x, scope, k, stride=1):
        return F.conv2d(reflect(x, k // 2), hwio(w[scope + "/weights"]), stride=stride)

    return magenta_transformer(x, conv, cin, residual_blocks=6, normalised_contract=True)


# ---------------------------------------------------------------- arbitrary (Ghiasi et al.)

# MobileNetV2's inverted residual blocks (expansion t, output channels c, repeats n, first stride s).
MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def style_predictor(w, x):
    def conv(x, name, stride=1, groups=1, relu6=True):
        f = w[name]
        y = conv_same(x, dw_filter(f) if groups > 1 else ohwi(f), w[name + ":bias"], stride, groups)
        return F.relu6(y) if relu6 else y

    x = conv(x, "MobilenetV2/Conv/weights", 2)
    block = 0
    for t, c, n, s in MOBILENET_V2:
        for r in range(n):
            p = "MobilenetV2/expanded_conv" + (f"_{block}" if block else "")
            h = conv(x, p + "/expand/weights") if t != 1 else x
            h = conv(h, p + "/depthwise/depthwise_weights", s if r == 0 else 1, groups=h.shape[1])
            h = conv(h, p + "/project/weights", relu6=False)
            x = x + h if r > 0 else h
            block += 1
    x = conv(x, "MobilenetV2/Conv_1/weights")
    x = x.mean((2, 3), keepdim=True)
    return conv(x, "mobilenet_conv/Conv/weights", relu6=False)


def style_transfer(w, x, vector):
    def conv(x, scope, k, stride=1):
        name = scope + "/weights_dequantize"
        return F.conv2d(reflect(x, k // 2), ohwi(w[name]), w[name + ":bias"], stride=stride)

    def style_norm(x, scope):
        s = scope + "/StyleNorm"
        # beta and gamma: 1x1 convs of the style vector (the file's style_params/ scope).
        p = "style_params/" + s
        beta = F.conv2d(vector, ohwi(w[p + "/Conv/weights_dequantize"]), w[p + "/Conv/weights_dequantize:bias"])
        gamma = F.conv2d(vector, ohwi(w[p + "/Conv_1/weights_dequantize"]), w[p + "/Conv_1/weights_dequantize:bias"])
        mean, var = instance_stats(x)
        return (x - mean) * torch.rsqrt(var + w.scalar(s + "/batchnorm/add/y_dequantize")) * gamma + beta

    return magenta_transformer(x, conv, style_norm, residual_blocks=5, normalised_contract=False)


def arbitrary(weights, content, style):
    predictor, transfer = weights
    return style_transfer(transfer, content, style_predictor(predictor, style))


# ---------------------------------------------------------------- cartoon (White-box)


def cartoon(w, x):
    x = x * 2 - 1
    lrelu = lambda t: F.leaky_relu(t, 0.2)

    def conv(t, name, stride=1):
        n = f"generator/{name}/Conv2D"
        return conv_same(t, ohwi(w[n]), w[n + ":bias"], stride)

    x0 = lrelu(conv(x, "Conv"))
    x1 = lrelu(conv(x0, "Conv_1", 2))
    x1 = lrelu(conv(x1, "Conv_2"))
    x2 = lrelu(conv(x1, "Conv_3", 2))
    x2 = lrelu(conv(x2, "Conv_4"))
    for i in range(4):
        x2 = x2 + conv(lrelu(conv(x2, f"block_{i}/conv1")), f"block_{i}/conv2")
    x2 = lrelu(conv(x2, "Conv_5"))
    x3 = lrelu(conv(upsample_bilinear_tf(x2) + x1, "Conv_6"))
    x3 = lrelu(conv(x3, "Conv_7"))
    x4 = lrelu(conv(upsample_bilinear_tf(x3) + x0, "Conv_8"))
    y = conv(x4, "Conv_9")
    # Guided filter, radius 1 (3x3 box filters as in the file), eps from the file.
    box3 = dw_filter(w["depthwise_61"])
    box_bias = w["depthwise_61:bias"]
    box = lambda t: conv_same(t, box3, box_bias, groups=3)
    ones = torch.ones(1, 1, x.shape[2], x.shape[3])
    n = conv_same(ones, dw_filter(w["depthwise1"]), w["depthwise1:bias"])
    mean_x, mean_y = box(x) / n, box(y) / n
    cov_xy = box(x * y) / n - mean_x * mean_y
    var_x = box(x * x) / n - mean_x * mean_x
    a = cov_xy / (var_x + w.scalar("add/y"))
    b = mean_y - a * mean_x
    out = box(a) / n * x + box(b) / n
    return (out + 1) / 2


# ---------------------------------------------------------------- anime (AnimeGANv2)


def anime(w, x):
    x = x * 2 - 1
    g = "generator/G_MODEL/"
    eps = w.scalar(g + "E/LayerNorm_2/batchnorm/add/y")

    def layer_norm(t, scope):
        var, mean = torch.var_mean(t, dim=(1, 2, 3), unbiased=False, keepdim=True)
        return (t - mean) * torch.rsqrt(var + eps) * w[g + scope + "/gamma"].view(1, -1, 1, 1) + w[g + scope + "/beta"].view(1, -1, 1, 1)

    def conv(t, name, k, stride=1):
        f, b = w.filter(g + name)
        # Reflect padding as the AnimeGAN code pads: k // 2 around, or (0, 1) for a 3x3 stride 2.
        pad = (0, 1) if stride == 2 else (k // 2, k // 2)
        return F.conv2d(reflect(t, *pad) if k > 1 else t, ohwi(f), b, stride=stride)

    def block(t, name, norm, k=3, stride=1):
        return F.leaky_relu(layer_norm(conv(t, name, k, stride), norm), 0.2)

    def irb(t, r):
        s = f"C/r{r}"
        h = block(t, s + "/Conv/Conv2D", s + "/LayerNorm", 1)
        f, b = w.filter(g + f"{s}/r{r}/r{r}")
        h = F.conv2d(reflect(h, 1), dw_filter(f), b, groups=h.shape[1])
        h = F.leaky_relu(layer_norm(h, s + "/1"), 0.2)
        h = layer_norm(conv(h, s + "/Conv_1/Conv2D", 1), s + "/2")
        return t + h if h.shape == t.shape else h

    x = block(x, "A/Conv/Conv2D", "A/LayerNorm", 7)
    x = block(x, "A/Conv_1/Conv2D", "A/LayerNorm_1", 3, 2)
    x = block(x, "A/Conv_2/Conv2D", "A/LayerNorm_2")
    x = block(x, "B/Conv/Conv2D", "B/LayerNorm", 3, 2)
    x = block(x, "B/Conv_1/Conv2D", "B/LayerNorm_1")
    x = block(x, "C/Conv/Conv2D", "C/LayerNorm")
    for r in range(1, 5):
        x = irb(x, r)
    x = block(x, "C/Conv_1/Conv2D", "C/LayerNorm_1")
    x = block(upsample_bilinear_tf(x), "D/Conv/Conv2D", "D/LayerNorm")
    x = block(x, "D/Conv_1/Conv2D", "D/LayerNorm_1")
    x = block(upsample_bilinear_tf(x), "E/Conv/Conv2D", "E/LayerNorm")
    x = block(x, "E/Conv_1/Conv2D", "E/LayerNorm_1")
    x = block(x, "E/Conv_2/Conv2D", "E/LayerNorm_2", 7)
    y = torch.tanh(conv(x, "out_layer/Conv/Conv2D", 1))
    return (y + 1) / 2


def read(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype=np.float32).reshape(shape))


def run_job(job):
    torch.set_num_threads(job.get("threads", 1))
    x = read(job["input"], job["shape"])
    kind = job["kind"]
    if kind == "multistyle":
        w = Weights(job["weights"])
        run = lambda: multistyle(w, x, job["styleNum"])
    elif kind == "arbitrary":
        weights = (Weights(job["weights"]["predictor"]), Weights(job["weights"]["transfer"]))
        s = read(job["style"], [1, 3, 256, 256])
        run = lambda: arbitrary(weights, x, s)
    elif kind == "cartoon":
        w = Weights(job["weights"])
        run = lambda: cartoon(w, x)
    elif kind == "anime":
        w = Weights(job["weights"])
        run = lambda: anime(w, x)
    else:
        raise SystemExit(f"unknown kind {kind}")
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
    print(json.dumps({"shape": list(y.shape), "seconds": best, "cpuSeconds": best_cpu, "peakMB": peak}), flush=True)


def main():
    jobs = json.load(open(sys.argv[1]))
    for job in jobs if isinstance(jobs, list) else [jobs]:
        run_job(job)


if __name__ == "__main__":
    main()
