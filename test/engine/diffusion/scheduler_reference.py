"""PyTorch (float64) reference of the samplers, for test/engine/diffusion/schedulers.test.ts.

Written from the papers, independently of Atelier's code:
- the schedule: Stable Diffusion 1.x's scaled-linear betas (sqrt-linear from 0.00085 to 0.012 over
  1000 steps), alphas_cumprod = cumprod(1 - beta); timesteps every 1000 // steps from 0, plus 1
  (SD 1.5's steps_offset);
- DDIM (Song et al. 2021, eq. 12) with eta, the last step landing on t = 0;
- DPM-Solver++(2M) (Lu et al. 2022, algorithm 2) in lambda = log(alpha / sigma), ending at t = 0;
- a toy noise predictor eps(x, t) = 0.5 sin(x (1 + t / 1000)) + 0.1 x + 0.01 t / 1000 standing in
  for the UNet, so that a whole sampling loop can be compared.

Usage: python3 scheduler_reference.py job.json ; writes job['out'] (safetensors, float32 values
except the schedule, which is kept in float64 as two float32 halves: hi + lo).
"""
import json
import math
import struct
import sys

import torch


def schedule():
    betas = torch.linspace(math.sqrt(0.00085), math.sqrt(0.012), 1000, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0)


def timesteps(steps):
    ratio = 1000 // steps
    return [i * ratio + 1 for i in range(steps)][::-1]


def toy_eps(x, t):
    return 0.5 * torch.sin(x * (1 + t / 1000)) + 0.1 * x + 0.01 * t / 1000


def ddim(acp, ts, x, eta, noises):
    states = []
    for i, t in enumerate(ts):
        eps = toy_eps(x, t)
        a = acp[t]
        a_prev = acp[ts[i + 1]] if i + 1 < len(ts) else acp[0]
        x0 = (x - torch.sqrt(1 - a) * eps) / torch.sqrt(a)
        sigma = eta * torch.sqrt((1 - a_prev) / (1 - a)) * torch.sqrt(1 - a / a_prev)
        x = torch.sqrt(a_prev) * x0 + torch.sqrt(1 - a_prev - sigma ** 2) * eps + sigma * noises[i]
        states.append(x)
    return states


def dpmpp_2m(acp, ts, x):
    def parts(t):
        alpha = torch.sqrt(acp[t])
        sigma = torch.sqrt(1 - acp[t])
        return alpha, sigma, torch.log(alpha / sigma)

    states = []
    x0s = []
    hs = []
    grid = list(ts) + [0]
    for i in range(len(ts)):
        alpha_s, sigma_s, lam_s = parts(grid[i])
        alpha_t, sigma_t, lam_t = parts(grid[i + 1])
        h = lam_t - lam_s
        x0 = (x - sigma_s * toy_eps(x, grid[i])) / alpha_s
        if i == 0:
            d = x0
        else:
            r = hs[-1] / h
            d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0s[-1]
        x = (sigma_t / sigma_s) * x - alpha_t * (torch.exp(-h) - 1) * d
        x0s.append(x0)
        hs.append(h)
        states.append(x)
    return states


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header)
    text += ' ' * ((8 - (len(text) + 8) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text.encode())
        for b in blobs:
            f.write(b)


def main():
    job = json.load(open(sys.argv[1]))
    gen = torch.Generator().manual_seed(job['seed'])
    n = job['size']
    steps = job['steps']
    acp = schedule()
    ts = timesteps(steps)
    x = torch.randn(n, generator=gen, dtype=torch.float64)
    noises = [torch.randn(n, generator=gen, dtype=torch.float64) for _ in ts]
    x0 = torch.randn(n, generator=gen, dtype=torch.float64)
    out = {'acp_hi': acp.float(), 'acp_lo': (acp - acp.float().double()).float(), 'timesteps': torch.tensor(ts, dtype=torch.float64),
           'x_T': x, 'x0': x0}
    for i, z in enumerate(noises):
        out[f'noise_{i}'] = z
    for i, s in enumerate(ddim(acp, ts, x, 0.0, noises)):
        out[f'ddim_{i}'] = s
    for i, s in enumerate(ddim(acp, ts, x, job['eta'], noises)):
        out[f'ddim_eta_{i}'] = s
    for i, s in enumerate(dpmpp_2m(acp, ts, x)):
        out[f'dpmpp_{i}'] = s
    # image-to-image: strength 0.5 keeps the last half of the steps, starting from x0 noised to the first
    keep = ts[len(ts) - int(len(ts) * job['strength']):]
    start = torch.sqrt(acp[keep[0]]) * x0 + torch.sqrt(1 - acp[keep[0]]) * noises[0]
    out['img2img_start'] = start
    for i, s in enumerate(dpmpp_2m(acp, keep, start)):
        out[f'img2img_{i}'] = s
    write_safetensors(job['out'], out)
    print(json.dumps({'ok': True, 'timesteps': ts, 'img2img': keep}))


if __name__ == '__main__':
    main()
