"""Summarise ONNX files as the onnx package (python3-onnx) reads them, as JSON on stdout: opsets,
graph inputs/outputs, each node's op, inputs, outputs and attributes, each initializer's dims and
float64 sum. Usage: python3 onnx_summary.py FILE..."""
import json
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def attr_value(a):
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, onnx.TensorProto):
        arr = numpy_helper.to_array(v)
        return {"dims": list(v.dims), "values": arr.astype(np.float64).ravel().tolist()}
    if isinstance(v, (list, tuple)):
        return [x.decode() if isinstance(x, bytes) else x for x in v]
    return v


result = {}
for path in sys.argv[1:]:
    m = onnx.load(path)
    g = m.graph
    inits = {t.name for t in g.initializer}
    result[path] = {
        "ir_version": m.ir_version,
        "opsets": [[o.domain, o.version] for o in m.opset_import],
        "inputs": [i.name for i in g.input if i.name not in inits],
        "outputs": [o.name for o in g.output],
        "nodes": [
            {"op": n.op_type, "inputs": list(n.input), "outputs": list(n.output), "attrs": {a.name: attr_value(a) for a in n.attribute}}
            for n in g.node
        ],
        "initializers": [
            {"name": t.name, "dims": list(t.dims), "sum": float(numpy_helper.to_array(t).astype(np.float64).sum())} for t in g.initializer
        ],
    }
json.dump(result, sys.stdout)
