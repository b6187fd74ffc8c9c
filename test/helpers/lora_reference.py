"""Independent reference for LoRA adapters (numpy, and PyTorch for convolutions).

Reads safetensors with its own parser (8-byte length, JSON header, raw little-endian data: the
published layout), not Atelier's reader. Usage: lora_reference.py SPEC.json, where SPEC is
  {"kind": "merge", "base": BASE.safetensors, "adapters": [{"file": F, "weight": w}], "out": OUT.f32}
    -> writes, for every base tensor an adapter changes (sorted by name), W + sum w*(alpha/r)*B@A
       reshaped to W's shape, as float32 concatenated; prints the names in order as JSON.
  {"kind": "conv", "x": X.f32, "xShape": [...], "w": W.f32, "wShape": [...], "a": A.f32, "b": B.f32,
   "rank": r, "scale": s, "stride": k, "pad": p, "out": OUT.f32}
    -> torch conv2d(x, W) + s * conv2d(conv2d(x, A as [r, Cin, kh, kw]), B as [Cout, r, 1, 1]),
       zero padding p, stride k, written as float32; prints the output shape as JSON.
"""
import json
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = raw[8 + n :]
    out = {}
    for name, d in header.items():
        assert d["dtype"] == "F32", d["dtype"]
        b, e = d["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype="<f4").reshape(d["shape"]).astype(np.float64)
    return out, meta


def merge(spec):
    base, _ = read_safetensors(spec["base"])
    deltas = {}
    for ad in spec["adapters"]:
        tensors, meta = read_safetensors(ad["file"])
        rank = int(meta["rank"])
        alpha = float(meta["alpha"])
        for key in tensors:
            if not key.endswith(".lora_A"):
                continue
            name = key[: -len(".lora_A")]
            a = tensors[key]
            b = tensors[name + ".lora_B"]
            assert a.shape[0] == rank and b.shape[1] == rank
            d = (ad["weight"] * alpha / rank) * (b @ a)
            deltas[name] = deltas.get(name, 0) + d.reshape(base[name].shape)
    names = sorted(deltas)
    with open(spec["out"], "wb") as f:
        for n in names:
            f.write((base[n] + deltas[n]).astype("<f4").tobytes())
    print(json.dumps(names))


def conv(spec):
    import torch
    import torch.nn.functional as F

    load = lambda p, shape: torch.from_numpy(np.fromfile(p, dtype="<f4").astype(np.float64).reshape(shape))
    x = load(spec["x"], spec["xShape"])
    w = load(spec["w"], spec["wShape"])
    cout, cin, kh, kw = spec["wShape"]
    r = spec["rank"]
    a = load(spec["a"], [r, cin, kh, kw])
    b = load(spec["b"], [cout, r, 1, 1])
    s, p = spec["stride"], spec["pad"]
    y = F.conv2d(x, w, stride=s, padding=p) + spec["scale"] * F.conv2d(F.conv2d(x, a, stride=s, padding=p), b)
    y.numpy().astype("<f4").tofile(spec["out"])
    print(json.dumps(list(y.shape)))


if __name__ == "__main__":
    spec = json.load(open(sys.argv[1]))
    {"merge": merge, "conv": conv}[spec["kind"]](spec)
