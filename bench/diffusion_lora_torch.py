"""PyTorch peer of bench/diffusion-lora-step.mjs: the UNet of test/engine/diffusion/unet_reference.py
(written from the latent-diffusion paper) with torch's default random initialisation, every
attention projection (to_q, to_k, to_v, to_out.0 of attn1 and attn2) reading W + (alpha/r) up @ down
with only the pairs trainable, one step: the noise-prediction MSE, its backward, an Adam step. Timed.
Usage: python3 diffusion_lora_torch.py '{"config": {...}, "latent": 32, "length": 77, "batch": 1, "rank": 4, "threads": 2, "runs": 2}'
Prints JSON: seconds (each timed step), peakMB (VmHWM of this process), trainable.
"""
import json
import sys
import time

import torch

from torch_unet_peer import peak_mb, unet_reference as ref


def main():
    job = json.loads(sys.argv[1])
    torch.set_num_threads(job['threads'])
    torch.manual_seed(0)
    model = ref.UNet(job['config']).train()
    for p in model.parameters():
        p.requires_grad_(False)
    r = job['rank']
    pairs = []
    for name, module in model.named_modules():
        if isinstance(module, ref.Attention):
            for proj in (module.to_q, module.to_k, module.to_v, module.to_out[0]):
                out, inn = proj.weight.shape
                down = torch.nn.Parameter(0.01 * torch.randn(r, inn))
                up = torch.nn.Parameter(torch.zeros(out, r))
                pairs += [down, up]

                def forward(x, m=proj, d=down, u=up):
                    return torch.nn.functional.linear(x, m.weight + (u @ d), m.bias)
                proj.forward = forward
    opt = torch.optim.Adam(pairs, lr=1e-4)
    n, b = job['latent'], job['batch']
    x = torch.randn(b, 4, n, n)
    noise = torch.randn(b, 4, n, n)
    ctx = torch.randn(b, job['length'], job['config']['context'])
    t = torch.tensor([301 + 200 * i for i in range(b)])

    def step():
        opt.zero_grad()
        loss = ((model(x, t, ctx) - noise) ** 2).mean()
        loss.backward()
        opt.step()

    step()  # warm-up, as ours is warmed
    seconds = []
    for _ in range(job['runs']):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    print(json.dumps({'seconds': seconds, 'peakMB': peak_mb(), 'trainable': sum(p.numel() for p in pairs)}))


if __name__ == '__main__':
    main()
