"""Run a TFLite model with Arm NN's reference CPU backend (Debian python3-pyarmnn, CpuRef).

Usage: armnn_run.py MODEL.tflite H W C INPUT.f32 OUTPUT.f32 [INPUT.f32 OUTPUT.f32 ...]
Each input is raw little-endian float32 NHWC [1, H, W, C]; the first output is written the same way.
The network is loaded once for all the pairs.
An independent implementation of TFLite's operators (Arm's, in C++), used as the reference for
Atelier's importer. Arm NN runs int8 kernels for int8 operators.
"""
import sys

import numpy as np
import pyarmnn as ann

model, h, w, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
pairs = list(zip(sys.argv[5::2], sys.argv[6::2]))
parser = ann.ITfLiteParser()
network = parser.CreateNetworkFromBinaryFile(model)
graph_id = 0
input_names = parser.GetSubgraphInputTensorNames(graph_id)
output_names = parser.GetSubgraphOutputTensorNames(graph_id)
input_binding = parser.GetNetworkInputBindingInfo(graph_id, input_names[0])
output_binding = parser.GetNetworkOutputBindingInfo(graph_id, output_names[0])
runtime = ann.IRuntime(ann.CreationOptions())
optimized, _ = ann.Optimize(network, [ann.BackendId('CpuRef')], runtime.GetDeviceSpec(), ann.OptimizerOptions())
net_id, _ = runtime.LoadNetwork(optimized)
for input_path, output_path in pairs:
    data = np.fromfile(input_path, dtype='<f4').reshape(1, h, w, c)
    inputs = ann.make_input_tensors([input_binding], [data])
    outputs = ann.make_output_tensors([output_binding])
    runtime.EnqueueWorkload(net_id, inputs, outputs)
    result = ann.workload_tensors_to_ndarray(outputs)[0]
    np.asarray(result, dtype='<f4').tofile(output_path)
