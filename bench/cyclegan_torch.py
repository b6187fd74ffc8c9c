"""PyTorch side of bench/cyclegan-step.mjs: one full CycleGAN training iteration (both generators'
losses and Adam step, both discriminators' losses and Adam step), float32, on N threads, with the
networks of test/helpers/torch_gan_reference.py (written from the paper and its code's architecture).
Prints one JSON line: per-iteration wall and CPU times (ms) and peak RSS (MB).

Usage: python3 cyclegan_torch.py SIZE WIDTH BLOCKS DWIDTH DLAYERS ITERATIONS THREADS [profile]
With `profile`, one more iteration runs under torch.profiler and its per-op table (self CPU time)
goes to stderr: the peer of bench/profile/cyclegan-step.mjs.
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'helpers'))
torch.set_default_dtype(torch.float32)
import torch_gan_reference as ref  # noqa: E402

torch.set_default_dtype(torch.float32)
size, width, blocks, dwidth, dlayers, iterations, threads = map(int, sys.argv[1:8])
torch.set_num_threads(threads)
torch.manual_seed(1)


def generator_params(prefix):
    p = {}
    def conv(key, cout, cin, k, transpose=False):
        p[f'{prefix}{key}.weight'] = (torch.randn(cin, cout, k, k) if transpose else torch.randn(cout, cin, k, k)) * 0.02
        p[f'{prefix}{key}.bias'] = torch.zeros(cout)
    conv('model.1', width, 3, 7)
    conv('model.4', 2 * width, width, 3)
    conv('model.7', 4 * width, 2 * width, 3)
    for b in range(blocks):
        conv(f'model.{10 + b}.conv_block.1', 4 * width, 4 * width, 3)
        conv(f'model.{10 + b}.conv_block.5', 4 * width, 4 * width, 3)
    conv(f'model.{10 + blocks}', 2 * width, 4 * width, 3, True)
    conv(f'model.{13 + blocks}', width, 2 * width, 3, True)
    conv(f'model.{17 + blocks}', 3, width, 7)
    return p


def discriminator_params(prefix):
    p = {}
    def conv(index, cout, cin):
        p[f'{prefix}model.{index}.weight'] = torch.randn(cout, cin, 4, 4) * 0.02
        p[f'{prefix}model.{index}.bias'] = torch.zeros(cout)
    conv(0, dwidth, 3)
    mult, index = 1, 2
    for n in range(1, dlayers + 1):
        prev, mult = mult, min(2 ** n, 8)
        conv(index, dwidth * mult, dwidth * prev)
        index += 3
    conv(index, 1, dwidth * mult)
    return p


params = {**generator_params('G_A.'), **generator_params('G_B.'), **discriminator_params('D_A.'), **discriminator_params('D_B.')}
for t in params.values():
    t.requires_grad_(True)
g_params = [t for n, t in params.items() if n.startswith('G_')]
d_params = [t for n, t in params.items() if n.startswith('D_')]
opt_g = torch.optim.Adam(g_params, lr=2e-4, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(d_params, lr=2e-4, betas=(0.5, 0.999))
G = lambda x, net: ref.cyclegan_generator(x, params, f'G_{net}.', blocks)
D = lambda x, net: ref.patchgan(x, params, f'D_{net}.', dlayers)


def iteration(real_a, real_b):
    fake_b, fake_a = G(real_a, 'A'), G(real_b, 'B')
    loss_g = ((D(fake_b, 'A') - 1) ** 2).mean() + ((D(fake_a, 'B') - 1) ** 2).mean() \
        + 10 * ((G(fake_b, 'B') - real_a).abs().mean() + (G(fake_a, 'A') - real_b).abs().mean()) \
        + 5 * ((G(real_b, 'A') - real_b).abs().mean() + (G(real_a, 'B') - real_a).abs().mean())
    opt_g.zero_grad()
    loss_g.backward(inputs=g_params)
    opt_g.step()
    fb, fa = fake_b.detach(), fake_a.detach()
    loss_d = 0.5 * (((D(real_b, 'A') - 1) ** 2).mean() + (D(fb, 'A') ** 2).mean()) + 0.5 * (((D(real_a, 'B') - 1) ** 2).mean() + (D(fa, 'B') ** 2).mean())
    opt_d.zero_grad()
    loss_d.backward(inputs=d_params)
    opt_d.step()


times = []
cpu = []
for i in range(iterations + 1):
    a = torch.rand(1, 3, size, size) * 2 - 1
    b = torch.rand(1, 3, size, size) * 2 - 1
    t0 = time.perf_counter()
    c0 = time.process_time()
    iteration(a, b)
    if i > 0:  # the first iteration allocates: a warm-up, as Atelier's is
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
if len(sys.argv) > 8 and sys.argv[8] == 'profile':
    from torch.profiler import ProfilerActivity, profile
    a = torch.rand(1, 3, size, size) * 2 - 1
    b = torch.rand(1, 3, size, size) * 2 - 1
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        iteration(a, b)
    print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=40), file=sys.stderr)
    print(prof.key_averages(group_by_input_shape=True).table(sort_by='self_cpu_time_total', row_limit=40), file=sys.stderr)
peak = 0
with open('/proc/self/status') as f:
    for line in f:
        if line.startswith('VmHWM:'):
            peak = int(line.split()[1]) / 1024
print(json.dumps({'times_ms': times, 'cpu_ms': cpu, 'peak_rss_mb': peak}))
