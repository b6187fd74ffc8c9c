"""PyTorch reference of LPIPS on SqueezeNet 1.1 with the Keras (Caffe-converted) trunk, written
from the architecture (SqueezeNet v1.1: conv1 3x3/2, ceil-mode 3x3/2 max pools before fire2, fire4,
fire6; fire = squeeze 1x1, expand 1x1 and 3x3 pad 1, concatenated) and LPIPS (unit-normalise
channels, squared difference, 1x1 head, spatial mean, sum over taps). The Caffe preprocessing is
applied to the input here (BGR, x255, mean subtracted), not folded into conv1 as Atelier does.
Usage: python3 lpips_squeeze_reference.py H5 HEADS A.f32 B.f32 H W  -> JSON {total, layers}"""
import json
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

h5, heads_path, a_path, b_path, H, W = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
f = h5py.File(h5, "r")


def conv_weights(layer):
    g = f[layer]
    names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]]
    k = torch.from_numpy(g[names[0]][()]).permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
    b = torch.from_numpy(g[names[1]][()])
    return k, b


heads = torch.load(heads_path, map_location="cpu")
mean_bgr = torch.tensor([104.006, 116.669, 122.679]).view(1, 3, 1, 1)


def features(rgb):
    x = rgb.flip(1) * 255.0 - mean_bgr
    taps = []
    k, b = conv_weights("conv1")
    x = F.relu(F.conv2d(x, k, b, stride=2))
    taps.append(x)
    for fire, pool, tap in [("fire2", True, False), ("fire3", False, True), ("fire4", True, False), ("fire5", False, True),
                            ("fire6", True, True), ("fire7", False, True), ("fire8", False, True), ("fire9", False, True)]:
        if pool:
            x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        k, b = conv_weights(fire + "/squeeze1x1")
        s = F.relu(F.conv2d(x, k, b))
        k1, b1 = conv_weights(fire + "/expand1x1")
        k3, b3 = conv_weights(fire + "/expand3x3")
        x = torch.cat([F.relu(F.conv2d(s, k1, b1)), F.relu(F.conv2d(s, k3, b3, padding=1))], 1)
        if tap:
            taps.append(x)
    return taps


a = torch.from_numpy(np.fromfile(a_path, dtype=np.float32).reshape(1, 3, H, W))
b = torch.from_numpy(np.fromfile(b_path, dtype=np.float32).reshape(1, 3, H, W))
with torch.no_grad():
    layers = []
    for k, (fa, fb) in enumerate(zip(features(a), features(b))):
        na = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        nb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        d = F.conv2d((na - nb) ** 2, heads[f"lin{k}.model.1.weight"])
        layers.append(float(d.mean()))
json.dump({"total": sum(layers), "layers": layers}, sys.stdout)
