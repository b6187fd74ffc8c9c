"""Summarise PyTorch weight files as torch.load reads them: for each file, every tensor's dotted
name, shape and float64 sum, as JSON on stdout. Nested dicts (training checkpoints) are
flattened with dots, as Atelier's reader names them. Usage: python3 torch_state_dict_summary.py FILE..."""
import json
import sys

import torch


def flatten(prefix, value, out):
    if isinstance(value, torch.Tensor):
        out[prefix] = {"shape": list(value.shape), "sum": float(value.double().sum())}
    elif isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else str(k), v, out)


result = {}
for path in sys.argv[1:]:
    tensors = {}
    flatten("", torch.load(path, map_location="cpu"), tensors)
    result[path] = tensors
json.dump(result, sys.stdout)
