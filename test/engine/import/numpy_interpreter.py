"""A small NHWC interpreter of TFLite and TensorFlow-1 graphs in numpy, the reference for Atelier's
importer on the networks no runtime here executes whole (the Magenta multi-style GraphDef and
transfer nets, White-box Cartoonization, AnimeGANv2).

Usage: numpy_interpreter.py GRAPH.json CONSTANTS.f32 OUTPUT.f32 NAME=INPUT.f32:d0,d1,... [...]

GRAPH.json / CONSTANTS.f32 are written by foreign-export.ts (the file's operators, attributes and
dequantised constants). Every operator below is written from TensorFlow's documented semantics,
in NHWC, without sharing code with the importer (which rebuilds the graph in NCHW with the engine's
ops): SAME padding, mirror padding, TF1 resize coordinates, depthwise channel order, the eight-bit
pattern's weight dequantisation. Activations run in float64.
"""
import json
import sys

import numpy as np

graph = json.load(open(sys.argv[1]))
blob = np.fromfile(sys.argv[2], dtype='<f4')
output_path = sys.argv[3]
feeds = {}
for arg in sys.argv[4:]:
    name, rest = arg.split('=', 1)
    path, dims = rest.rsplit(':', 1)
    feeds[name] = np.fromfile(path, dtype='<f4').astype(np.float64).reshape([int(d) for d in dims.split(',')])

tflite = graph['format'] == 'tflite'
constants = graph['constants']
producers = {}
for op in graph['ops']:
    for k, out in enumerate(op['outputs']):
        producers[out if tflite else f'{out}:{k}'] = (op, k)
memo = {}


def key(name):
    return name if tflite or ':' in name else f'{name}:0'


def constant(name):
    c = constants[name]
    n = int(np.prod(c['shape'])) if c['shape'] else 1
    return blob[c['offset']:c['offset'] + n].astype(np.float64).reshape(c['shape'])


def value(name):
    k = key(name)
    if k in memo:
        return memo[k]
    base = k if tflite else k.split(':')[0]
    if base in feeds:
        v = feeds[base]
    elif base in constants and (tflite or k.endswith(':0')):
        v = constant(base)
    else:
        op, _ = producers[k]
        v = run(op)
    memo[k] = v
    return v


def same_pads(size, k, s, d):
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def window(x, kh, kw, stride, dilation, same):
    """The padded input and the output size of a window op over NHWC x."""
    (sh, sw), (dh, dw) = stride, dilation
    if same:
        (t, b), (l, r) = same_pads(x.shape[1], kh, sh, dh), same_pads(x.shape[2], kw, sw, dw)
        x = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))
    oh = (x.shape[1] - (dh * (kh - 1) + 1)) // sh + 1
    ow = (x.shape[2] - (dw * (kw - 1) + 1)) // sw + 1
    return x, oh, ow


def taps(x, i, j, oh, ow, stride, dilation):
    (sh, sw), (dh, dw) = stride, dilation
    return x[:, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw, :]


def conv2d(x, w_hwio, stride, dilation, same):
    kh, kw, cin, cout = w_hwio.shape
    x, oh, ow = window(x, kh, kw, stride, dilation, same)
    out = np.zeros((x.shape[0], oh, ow, cout))
    for i in range(kh):
        for j in range(kw):
            out += np.tensordot(taps(x, i, j, oh, ow, stride, dilation), w_hwio[i, j], axes=([3], [0]))
    return out


def depthwise(x, w_hwcm, stride, dilation, same):
    """Output channel c·m + k is input channel c times filter [:, :, c, k]."""
    kh, kw, c, m = w_hwcm.shape
    x, oh, ow = window(x, kh, kw, stride, dilation, same)
    out = np.zeros((x.shape[0], oh, ow, c, m))
    for i in range(kh):
        for j in range(kw):
            out += taps(x, i, j, oh, ow, stride, dilation)[..., None] * w_hwcm[i, j]
    return out.reshape(x.shape[0], oh, ow, c * m)


def resize(x, size, bilinear, half_pixel):
    h, w = x.shape[1], x.shape[2]
    oh, ow = int(size[0]), int(size[1])

    def coords(o, n, on):
        scale = n / on
        src = (np.arange(on) + 0.5) * scale - 0.5 if half_pixel else np.arange(on) * scale
        return src

    if not bilinear:
        ys = np.minimum(np.floor(coords(0, h, oh)).astype(int), h - 1)
        xs = np.minimum(np.floor(coords(0, w, ow)).astype(int), w - 1)
        return x[:, ys][:, :, xs]
    sy, sx = coords(0, h, oh), coords(0, w, ow)
    y0 = np.clip(np.floor(sy).astype(int), 0, h - 1)
    x0 = np.clip(np.floor(sx).astype(int), 0, w - 1)
    y1 = np.minimum(np.ceil(sy).astype(int), h - 1) if half_pixel else np.minimum(y0 + 1, h - 1)
    x1 = np.minimum(np.ceil(sx).astype(int), w - 1) if half_pixel else np.minimum(x0 + 1, w - 1)
    fy = (sy - np.floor(sy))[None, :, None, None]
    fx = (sx - np.floor(sx))[None, None, :, None]
    top = x[:, y0][:, :, x0] * (1 - fx) + x[:, y0][:, :, x1] * fx
    bottom = x[:, y1][:, :, x0] * (1 - fx) + x[:, y1][:, :, x1] * fx
    return top * (1 - fy) + bottom * fy


def activation(x, code):
    if code == 0:
        return x
    if code == 1:
        return np.maximum(x, 0)
    if code == 2:
        return np.clip(x, -1, 1)
    if code == 3:
        return np.clip(x, 0, 6)
    if code == 4:
        return np.tanh(x)
    raise ValueError(f'fused activation {code}')


def strided_slice(x, begin, end, strides, begin_mask, end_mask, shrink):
    index = []
    for i in range(x.ndim):
        if i >= len(begin):
            index.append(slice(None))
            continue
        b = None if begin_mask >> i & 1 else int(begin[i])
        e = None if end_mask >> i & 1 else int(end[i])
        if shrink >> i & 1:
            index.append(int(begin[i]))
        else:
            index.append(slice(b, e, int(strides[i])))
    return x[tuple(index)]


def round_half_away(v):
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def run(op):
    t, a, ins = op['op'], op['attrs'], op['inputs']
    v = lambda i: value(ins[i])
    if tflite:
        if t in ('CONV_2D', 'DEPTHWISE_CONV_2D'):
            f = v(1)
            if t == 'CONV_2D':
                y = conv2d(v(0), f.transpose(1, 2, 3, 0), a['stride'], a['dilation'], a['padding'] == 0)
            else:
                c = v(0).shape[3]
                y = depthwise(v(0), f.reshape(f.shape[1], f.shape[2], c, f.shape[3] // c), a['stride'], a['dilation'], a['padding'] == 0)
            if len(ins) > 2 and ins[2] != '-1':
                y = y + v(2)
            return activation(y, a['fused'])
        if t in ('ADD', 'SUB', 'MUL', 'DIV'):
            f = {'ADD': np.add, 'SUB': np.subtract, 'MUL': np.multiply, 'DIV': np.divide}[t]
            return activation(f(v(0), v(1)), a['fused'])
        if t == 'SQUARED_DIFFERENCE':
            return (v(0) - v(1)) ** 2
        if t == 'RSQRT':
            return 1 / np.sqrt(v(0))
        if t == 'LOGISTIC':
            return 1 / (1 + np.exp(-v(0)))
        if t == 'TANH':
            return np.tanh(v(0))
        if t == 'LEAKY_RELU':
            x = v(0)
            return np.where(x > 0, x, a['alpha'] * x)
        if t in ('MEAN', 'SUM'):
            f = np.mean if t == 'MEAN' else np.sum
            return f(v(0), axis=tuple(int(i) for i in np.atleast_1d(v(1))), keepdims=bool(a['keep_dims']))
        if t in ('MIRROR_PAD', 'PAD'):
            p = v(1).astype(int)
            mode = 'constant' if t == 'PAD' else ('reflect' if a['mode'] == 0 else 'symmetric')
            return np.pad(v(0), [tuple(r) for r in p], mode=mode)
        if t in ('RESIZE_BILINEAR', 'RESIZE_NEAREST_NEIGHBOR'):
            assert not a['align_corners']
            return resize(v(0), v(1), t == 'RESIZE_BILINEAR', bool(a['half_pixel_centers']))
        if t in ('QUANTIZE', 'DEQUANTIZE'):
            return v(0)
        if t == 'SHAPE':
            return np.array(v(0).shape, dtype=np.float64)
        if t == 'STRIDED_SLICE':
            return strided_slice(v(0), v(1), v(2), v(3), a['begin_mask'], a['end_mask'], a['shrink_axis_mask'])
        if t == 'PACK':
            return np.stack([v(i) for i in range(len(ins))], axis=a['axis'])
        if t == 'RESHAPE':
            shape = v(1) if len(ins) > 1 else a['new_shape']
            return v(0).reshape([int(d) for d in shape])
        if t == 'CONCATENATION':
            return activation(np.concatenate([v(i) for i in range(len(ins))], axis=a['axis']), a['fused'])
        raise ValueError(f'no reference for {t}')
    # TensorFlow 1 GraphDef.
    if t in ('QuantizeV2', 'Requantize', 'Dequantize', 'Identity'):
        return v(0)
    if t == 'QuantizedConv2D':
        # TF: conv of (x_q - x_offset) and (w_q - w_offset), w_offset = -round(min·255/(max-min)).
        q, lo, hi = v(1), float(v(4)), float(v(5))
        range_scale = 255.0 / (hi - lo)
        w = (q + round_half_away(lo * range_scale)) / range_scale
        s = a['strides']
        return conv2d(v(0), w, (s[1], s[2]), (1, 1), a['padding'] == 'SAME')
    if t in ('QuantizedRelu', 'Relu'):
        return np.maximum(v(0), 0)
    if t in ('QuantizedReshape', 'Reshape'):
        return v(0).reshape([int(d) for d in np.atleast_1d(v(1))])
    if t == 'MirrorPad':
        return np.pad(v(0), [tuple(r) for r in v(1).astype(int)], mode='reflect' if a['mode'] == 'REFLECT' else 'symmetric')
    if t == 'Square':
        return v(0) ** 2
    if t in ('Sum', 'Prod', 'Mean'):
        f = {'Sum': np.sum, 'Prod': np.prod, 'Mean': np.mean}[t]
        return f(v(0), axis=tuple(int(i) for i in np.atleast_1d(v(1))), keepdims=bool(a.get('keep_dims', False)))
    if t == 'Shape':
        return np.array(v(0).shape, dtype=np.float64)
    if t == 'Cast':
        return v(0)
    if t in ('Gather', 'GatherV2'):
        return np.take(v(0), v(1).astype(int), axis=0)
    if t == 'Reciprocal':
        return 1 / v(0)
    if t in ('Mul', 'Sub', 'Add', 'AddV2', 'RealDiv'):
        f = {'Mul': np.multiply, 'Sub': np.subtract, 'Add': np.add, 'AddV2': np.add, 'RealDiv': np.divide}[t]
        return f(v(0), v(1))
    if t == 'Rsqrt':
        return 1 / np.sqrt(v(0))
    if t == 'ExpandDims':
        return np.expand_dims(v(0), int(np.atleast_1d(v(1))[0]))
    if t == 'StridedSlice':
        return strided_slice(v(0), v(1), v(2), v(3), a['begin_mask'], a['end_mask'], a['shrink_axis_mask'])
    if t == 'Pack':
        return np.stack([v(i) for i in range(len(ins))], axis=a.get('axis', 0))
    if t == 'ResizeNearestNeighbor':
        return resize(v(0), v(1), False, bool(a.get('half_pixel_centers', False)))
    if t == 'ResizeBilinear':
        return resize(v(0), v(1), True, bool(a.get('half_pixel_centers', False)))
    if t == 'Sigmoid':
        return 1 / (1 + np.exp(-v(0)))
    if t == 'Tanh':
        return np.tanh(v(0))
    raise ValueError(f'no reference for {t}')


sys.setrecursionlimit(100000)
result = value(graph['outputs'][0])
np.asarray(result, dtype='<f4').tofile(output_path)
