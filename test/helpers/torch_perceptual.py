"""PyTorch reference of Atelier's fast-network training step (Johnson, Alahi & Fei-Fei 2016),
written from the paper and the published layer facts, for tests and the step benchmark:

- the image transformation network in PyTorch examples' layout (reflection-padded convs with bias,
  instance norm with affine scale/shift, 5 residual blocks, nearest x2 upsampling + conv),
  at any base width;
- the loss network: the "normalised" VGG-19 of AdaIN/WCT to relu3_1 (1x1 input conv, reflection
  pad 1 before each 3x3 conv, max pool 2x2 with ceil mode), its weights read from the .pth;
- content loss: mean squared feature difference at the content taps; style loss: mean squared
  difference of Gram matrices divided by C*H*W, summed over the style taps; total variation:
  mean squared vertical + horizontal neighbour differences; images in [0, 1].

Usage: python3 torch_perceptual.py SPEC.json. The spec names raw float32 files (see main()).
Writes OUT.json (losses, timings, peak RSS) and OUT.f32 (gradients, in the params' order, then the
gradient with respect to the image when asked).
"""
import json
import resource
import sys
import time

import torch
import torch.nn.functional as F

TAPS = ['relu1_1', 'relu1_2', 'relu2_1', 'relu2_2', 'relu3_1']
# (tap, state-dict key of the conv before it, pool before this conv)
VGG_CONVS = [('relu1_1', '2', False), ('relu1_2', '5', False), ('relu2_1', '9', True), ('relu2_2', '12', False), ('relu3_1', '16', True)]


def vgg_features(x, sd, wanted):
    h = F.conv2d(x, sd['0.weight'], sd['0.bias'])
    out = {}
    deepest = max(TAPS.index(t) for t in wanted)
    for i, (tap, key, pool) in enumerate(VGG_CONVS[: deepest + 1]):
        if pool:
            h = F.max_pool2d(h, 2, 2, ceil_mode=True)
        h = F.relu(F.conv2d(F.pad(h, (1, 1, 1, 1), mode='reflect'), sd[key + '.weight'], sd[key + '.bias']))
        if tap in wanted:
            out[tap] = h
    return out


def gram(f):
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def transformer(x, p, eps=1e-5):
    """x: N x 3 x H x W in 0-255; p: dict of the examples' key layout."""

    def conv(h, key, k, stride=1):
        return F.conv2d(F.pad(h, (k // 2,) * 4, mode='reflect'), p[key + '.conv2d.weight'], p[key + '.conv2d.bias'], stride=stride)

    def norm(h, key):
        return F.instance_norm(h, weight=p[key + '.weight'], bias=p[key + '.bias'], eps=eps)

    h = F.relu(norm(conv(x, 'conv1', 9), 'in1'))
    h = F.relu(norm(conv(h, 'conv2', 3, 2), 'in2'))
    h = F.relu(norm(conv(h, 'conv3', 3, 2), 'in3'))
    for r in range(1, 6):
        inner = F.relu(norm(conv(h, f'res{r}.conv1', 3), f'res{r}.in1'))
        h = h + norm(conv(inner, f'res{r}.conv2', 3), f'res{r}.in2')
    h = F.relu(norm(conv(F.interpolate(h, scale_factor=2, mode='nearest'), 'deconv1', 3), 'in4'))
    h = F.relu(norm(conv(F.interpolate(h, scale_factor=2, mode='nearest'), 'deconv2', 3), 'in5'))
    return conv(h, 'deconv3', 9)


def losses(stylised, content, sd, grams, spec):
    n = stylised.shape[0]
    wanted = set(spec['contentTaps']) | set(spec['styleTaps'])
    f = vgg_features(torch.cat([stylised, content], 0), sd, wanted)
    lc = sum(F.mse_loss(f[t][:n], f[t][n:]) for t in spec['contentTaps'])
    ls = sum(F.mse_loss(gram(f[t][:n]), grams[t].expand(n, -1, -1)) for t in spec['styleTaps'])
    dy = stylised[:, :, 1:, :] - stylised[:, :, :-1, :]
    dx = stylised[:, :, :, 1:] - stylised[:, :, :, :-1]
    tv = (dy * dy).mean() + (dx * dx).mean()
    w = spec['weights']
    return lc, ls, tv, w['content'] * lc + w['style'] * ls + w['tv'] * tv


def read(path, shape, dtype=torch.float32):
    import numpy as np

    return torch.from_numpy(np.fromfile(path, dtype='<f4').reshape(shape).copy()).to(dtype)


def main():
    spec = json.load(open(sys.argv[1]))
    torch.set_num_threads(spec.get('threads', 1))
    dtype = torch.float64 if spec.get('float64') else torch.float32
    sd = {k: v.to(dtype) for k, v in torch.load(spec['vgg']).items()} if spec.get('vgg') else None
    if sd is None:
        sd = {}
        offset = 0
        flat = read(spec['vggFile'], [-1], dtype)
        for name, shape in spec['vggShapes']:
            size = 1
            for d in shape:
                size *= d
            sd[name] = flat[offset : offset + size].reshape(shape)
            offset += size
    style = read(spec['style']['file'], spec['style']['shape'], dtype)
    with torch.no_grad():
        fs = vgg_features(style, sd, set(spec['styleTaps']))
        grams = {t: gram(fs[t]) for t in spec['styleTaps']}
    content = read(spec['content']['file'], spec['content']['shape'], dtype)
    out = {}
    grads = []
    if spec['mode'] == 'loss-gradient':
        # The loss module alone: gradient with respect to the stylised image.
        image = read(spec['image']['file'], spec['image']['shape'], dtype).requires_grad_(True)
        lc, ls, tv, total = losses(image, content, sd, grams, spec)
        total.backward()
        grads.append(image.grad.reshape(-1))
    else:
        flat = read(spec['params']['file'], [-1], dtype)
        params = {}
        order = []
        offset = 0
        for name, shape in spec['params']['shapes']:
            size = 1
            for d in shape:
                size *= d
            params[name] = flat[offset : offset + size].reshape(shape).clone().requires_grad_(True)
            order.append(name)
            offset += size
        opt = torch.optim.Adam([params[k] for k in order], lr=spec.get('lr', 1e-3))
        times = []
        steps = spec.get('steps', 1)
        for i in range(steps):
            t0 = time.perf_counter()
            opt.zero_grad()
            stylised = transformer(content * 255, params) / 255
            lc, ls, tv, total = losses(stylised, content, sd, grams, spec)
            total.backward()
            if i == 0:
                grads = [params[k].grad.detach().clone().reshape(-1) for k in order]
                first = [float(lc), float(ls), float(tv), float(total)]
            opt.step()
            times.append(time.perf_counter() - t0)
        lc, ls, tv, total = first
        out['seconds'] = times
    out.update({'content': float(lc), 'style': float(ls), 'tv': float(tv), 'total': float(total)})
    out['peakMB'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump(out, open(spec['out'] + '.json', 'w'))
    torch.cat(grads).to(torch.float32).numpy().astype('<f4').tofile(spec['out'] + '.f32')


if __name__ == '__main__':
    main()
