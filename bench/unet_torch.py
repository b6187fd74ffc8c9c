"""PyTorch peer of bench/unet.mjs: the UNet of test/engine/diffusion/unet_reference.py (written from
the latent-diffusion paper, SD 1.5's layout) at a given configuration with torch's default random
initialisation, one denoising step with classifier-free guidance (batch 2), timed.
Usage: python3 unet_torch.py '{"config": {...}, "latent": 64, "length": 77, "threads": 2, "runs": 2}'
Prints JSON: seconds (each timed run), peakMB (VmHWM of this process).
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
    model = ref.UNet(job['config']).eval()
    n = job['latent']
    x = torch.randn(2, 4, n, n)
    ctx = torch.randn(2, job['length'], job['config']['context'])
    t = torch.tensor([501, 501])
    seconds = []
    with torch.no_grad():
        model(x, t, ctx)  # first call: allocator and kernel warm-up, as ours is warmed
        for _ in range(job['runs']):
            start = time.perf_counter()
            model(x, t, ctx)
            seconds.append(time.perf_counter() - start)
    print(json.dumps({'seconds': seconds, 'peakMB': peak_mb()}))


if __name__ == '__main__':
    main()
