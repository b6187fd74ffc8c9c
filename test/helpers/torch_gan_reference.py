"""PyTorch references of one GAN training step (CycleGAN, StarGAN), written from the papers'
architecture and loss descriptions, for test/train/gan-torch-reference.test.ts.

Usage: python3 torch_gan_reference.py JOB.json
The job names a raw float32 file of parameters (laid out back to back as its `params` list says)
and raw float32 inputs; the script writes OUT.json with the losses and OUT.f32 with the gradients
of every parameter, in the same layout. Everything runs in float64 so that the comparison measures
the engine's float32 error only.
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def load_params(job):
    flat = np.fromfile(job['paramsFile'], dtype=np.float32).astype(np.float64)
    params = {}
    at = 0
    for spec in job['params']:
        n = int(np.prod(spec['shape']))
        params[spec['name']] = torch.tensor(flat[at:at + n].reshape(spec['shape']), requires_grad=True)
        at += n
    return params


def load_input(job, name):
    spec = job['inputs'][name]
    return torch.tensor(np.fromfile(spec['file'], dtype=np.float32).astype(np.float64).reshape(spec['shape']))


def inorm(x):
    return F.instance_norm(x, eps=1e-5)


# ---------------------------------------------------------------- CycleGAN


def cyclegan_generator(x, p, prefix, blocks):
    w = lambda i: p[f'{prefix}model.{i}.weight']
    b = lambda i: p[f'{prefix}model.{i}.bias']
    h = F.relu(inorm(F.conv2d(F.pad(x, (3, 3, 3, 3), mode='reflect'), w(1), b(1))))
    for i in (4, 7):
        h = F.relu(inorm(F.conv2d(h, w(i), b(i), stride=2, padding=1)))
    for k in range(blocks):
        i = 10 + k
        c1, c5 = f'{i}.conv_block.1', f'{i}.conv_block.5'
        r = F.relu(inorm(F.conv2d(F.pad(h, (1, 1, 1, 1), mode='reflect'), w(c1), b(c1))))
        h = h + inorm(F.conv2d(F.pad(r, (1, 1, 1, 1), mode='reflect'), w(c5), b(c5)))
    for i in (10 + blocks, 13 + blocks):
        h = F.relu(inorm(F.conv_transpose2d(h, w(i), b(i), stride=2, padding=1, output_padding=1)))
    last = 17 + blocks
    return torch.tanh(F.conv2d(F.pad(h, (3, 3, 3, 3), mode='reflect'), w(last), b(last)))


def patchgan(x, p, prefix, layers):
    h = F.leaky_relu(F.conv2d(x, p[f'{prefix}model.0.weight'], p[f'{prefix}model.0.bias'], stride=2, padding=1), 0.2)
    index = 2
    for n in range(1, layers + 1):
        stride = 2 if n < layers else 1
        h = F.leaky_relu(inorm(F.conv2d(h, p[f'{prefix}model.{index}.weight'], p[f'{prefix}model.{index}.bias'], stride=stride, padding=1)), 0.2)
        index += 3
    return F.conv2d(h, p[f'{prefix}model.{index}.weight'], p[f'{prefix}model.{index}.bias'], padding=1)


def cyclegan(job):
    p = load_params(job)
    c = job['config']
    realA, realB = load_input(job, 'realA'), load_input(job, 'realB')
    poolA, poolB = load_input(job, 'fakeA'), load_input(job, 'fakeB')
    G = lambda x, net: cyclegan_generator(x, p, f'G_{net}.', c['blocks'])
    D = lambda x, net: patchgan(x, p, f'D_{net}.', c['discriminatorLayers'])
    lam, idt = c['cycleWeight'], c['identityWeight']
    fakeB, fakeA = G(realA, 'A'), G(realB, 'B')
    losses = {
        'G_A': ((D(fakeB, 'A') - 1) ** 2).mean(),
        'G_B': ((D(fakeA, 'B') - 1) ** 2).mean(),
        'cycle_A': (G(fakeB, 'B') - realA).abs().mean(),
        'cycle_B': (G(fakeA, 'A') - realB).abs().mean(),
        'idt_A': (G(realB, 'A') - realB).abs().mean(),
        'idt_B': (G(realA, 'B') - realA).abs().mean(),
    }
    total_g = losses['G_A'] + losses['G_B'] + lam * (losses['cycle_A'] + losses['cycle_B']) + idt * lam * (losses['idt_A'] + losses['idt_B'])
    g_names = [n for n in p if n.startswith('G_')]
    grads = dict(zip(g_names, torch.autograd.grad(total_g, [p[n] for n in g_names])))
    # The discriminators see the given (pooled) fakes.
    losses['D_A'] = 0.5 * (((D(realB, 'A') - 1) ** 2).mean() + (D(poolB, 'A') ** 2).mean())
    losses['D_B'] = 0.5 * (((D(realA, 'B') - 1) ** 2).mean() + (D(poolA, 'B') ** 2).mean())
    d_names = [n for n in p if n.startswith('D_')]
    grads.update(zip(d_names, torch.autograd.grad(losses['D_A'] + losses['D_B'], [p[n] for n in d_names])))
    return losses, grads, p


# ---------------------------------------------------------------- StarGAN


def stargan_generator(x, label, p, blocks):
    w = lambda k: p[f'G.main.{k}.weight']

    def n_(h, k):
        y = F.instance_norm(h, weight=p[f'G.main.{k}.weight'], bias=p[f'G.main.{k}.bias'], eps=1e-5)
        # labelNorm (not published): a per-domain shift of each channel after the norm, from an embedding table [domains, channels].
        e = p.get(f'G.label.{k}.weight')
        return y if e is None else y + (label @ e).view(label.size(0), -1, 1, 1)

    c = label.view(label.size(0), label.size(1), 1, 1).repeat(1, 1, x.size(2), x.size(3))
    h = F.relu(n_(F.conv2d(torch.cat([x, c], dim=1), w(0), padding=3), 1))
    h = F.relu(n_(F.conv2d(h, w(3), stride=2, padding=1), 4))
    h = F.relu(n_(F.conv2d(h, w(6), stride=2, padding=1), 7))
    for k in range(blocks):
        i = 9 + k
        r = F.relu(n_(F.conv2d(h, p[f'G.main.{i}.main.0.weight'], padding=1), f'{i}.main.1'))
        h = h + n_(F.conv2d(r, p[f'G.main.{i}.main.3.weight'], padding=1), f'{i}.main.4')
    u = 9 + blocks
    h = F.relu(n_(F.conv_transpose2d(h, w(u), stride=2, padding=1), u + 1))
    h = F.relu(n_(F.conv_transpose2d(h, w(u + 3), stride=2, padding=1), u + 4))
    return torch.tanh(F.conv2d(h, w(u + 6), padding=3))


def stargan_discriminator(x, p, layers):
    h = x
    for i in range(layers):
        h = F.leaky_relu(F.conv2d(h, p[f'D.main.{2 * i}.weight'], p[f'D.main.{2 * i}.bias'], stride=2, padding=1), 0.01)
    src = F.conv2d(h, p['D.conv1.weight'], padding=1)
    cls = F.conv2d(h, p['D.conv2.weight'])
    return src, cls.view(cls.size(0), cls.size(1))


def stargan(job):
    p = load_params(job)
    c = job['config']
    real = load_input(job, 'real')
    fake = load_input(job, 'fake')
    alpha = load_input(job, 'alpha').view(-1, 1, 1, 1)
    label_org = load_input(job, 'labelOrg')
    label_trg = load_input(job, 'labelTrg')
    D = lambda x: stargan_discriminator(x, p, c['discriminatorLayers'])
    G = lambda x, l: stargan_generator(x, l, p, c['blocks'])
    ce = lambda logits, onehot: F.cross_entropy(logits, onehot.argmax(dim=1))
    # Discriminator: WGAN-GP with the auxiliary classifier (the StarGAN solver's D step).
    out_src, out_cls = D(real)
    d_real = -out_src.mean()
    d_cls = ce(out_cls, label_org)
    f_src, _ = D(fake)
    d_fake = f_src.mean()
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    h_src, _ = D(x_hat)
    dydx = torch.autograd.grad(h_src, x_hat, grad_outputs=torch.ones_like(h_src), create_graph=True)[0]
    norm = dydx.view(dydx.size(0), -1).norm(dim=1)
    d_gp = ((norm - 1) ** 2).mean()
    d_total = d_real + d_fake + c['clsWeight'] * d_cls + c['gpWeight'] * d_gp
    d_names = [n for n in p if n.startswith('D.')]
    grads = dict(zip(d_names, torch.autograd.grad(d_total, [p[n] for n in d_names])))
    losses = {'D_real': d_real, 'D_fake': d_fake, 'D_cls': d_cls, 'D_gp': d_gp}
    # Generator: adversarial, classification of the fake, reconstruction back to the original label.
    x_fake = G(real, label_trg)
    g_src, g_cls = D(x_fake)
    losses['G_fake'] = -g_src.mean()
    losses['G_cls'] = ce(g_cls, label_trg)
    losses['G_rec'] = (real - G(x_fake, label_org)).abs().mean()
    g_total = losses['G_fake'] + c['clsWeight'] * losses['G_cls'] + c['recWeight'] * losses['G_rec']
    g_names = [n for n in p if n.startswith('G.')]
    grads.update(zip(g_names, torch.autograd.grad(g_total, [p[n] for n in g_names])))
    return losses, grads, p


def main():
    job = json.load(open(sys.argv[1]))
    losses, grads, p = {'cyclegan': cyclegan, 'stargan': stargan}[job['kind']](job)
    flat = np.concatenate([grads[s['name']].detach().numpy().reshape(-1) for s in job['params']]).astype(np.float32)
    flat.tofile(job['out'] + '.f32')
    json.dump({k: float(v) for k, v in losses.items()}, open(job['out'] + '.json', 'w'))


if __name__ == '__main__':
    main()
