"""PyTorch reference of a whole Stable Diffusion sampling loop at a tiny configuration, for
pipeline.test.ts: the tiny CLIP text tower (test/engine/nets/clip/clip_reference.py), UNet
(unet_reference.py) and VAE (vae_reference.py) with seeded random weights, classifier-free
guidance eps = eps_neg + s (eps_prompt - eps_neg) (Ho & Salimans 2021), DPM-Solver++(2M) or DDIM
(scheduler_reference.py's rules) over SD 1.5's 4-step timesteps, then the VAE decoder on
latent / 0.18215. Image-to-image: the encoder's mean times 0.18215, noised to the first kept step.

The weights are written as one Stable Diffusion single file (safetensors): the text tower in
transformers' names under cond_stage_model.transformer., the UNet under model.diffusion_model.,
the VAE under first_stage_model.

Usage: python3 pipeline_reference.py job.json   (token ids come from the job: Atelier's tokenizer)
"""
import importlib.util
import json
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


clip_ref = load('clip_reference', os.path.join(HERE, '..', 'nets', 'clip', 'clip_reference.py'))
unet_ref = load('unet_reference', os.path.join(HERE, 'unet_reference.py'))
vae_ref = load('vae_reference', os.path.join(HERE, 'vae_reference.py'))
sched = load('scheduler_reference', os.path.join(HERE, 'scheduler_reference.py'))


def randomise(model, gen, norm_names=('norm', 'ln_', 'in_layers.0', 'out_layers.0', 'out.0')):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == 'logit_scale':
                continue
            r = torch.randn(p.shape, generator=gen)
            if any(k in name for k in norm_names) and name.endswith('weight'):
                p.copy_(1 + 0.2 * r)
            elif name.endswith('bias'):
                p.copy_(0.1 * r)
            elif p.dim() >= 2 and 'embedding' not in name:
                p.copy_(r / p[0].numel() ** 0.5)
            else:
                p.copy_(0.5 * r)


def main():
    job = json.load(open(sys.argv[1]))
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(job['seed'])
    t, u, v = job['text'], job['unet'], job['vae']
    clip = clip_ref.Clip(t, {'width': 8, 'layers': 1, 'heads': 1, 'patch': 8, 'image': 8}, 8).eval()
    unet = unet_ref.UNet(u).eval()
    vae = vae_ref.AutoencoderKL(v['ch'], v['mult'], v['res'], v['z'], v['groups'], v['eps']).eval()
    for m in (clip, unet, vae):
        randomise(m, gen)
    h, w = job['latent']
    scale = 0.18215
    acp = sched.schedule()
    ts = sched.timesteps(job['steps'])
    with torch.no_grad():
        tokens = torch.tensor(job['tokens'])  # [negative, prompt]
        context = clip.encode_text(tokens)[0]
        noise = torch.randn(1, u['in'], h, w, generator=gen)
        if job.get('init'):
            image = torch.rand(1, 3, h * 2 ** (len(v['mult']) - 1), w * 2 ** (len(v['mult']) - 1), generator=gen) * 2 - 1
            mean = vae.quant_conv(vae.encoder(image)).chunk(2, dim=1)[0]
            keep = ts[len(ts) - int(len(ts) * job['strength']):]
            ts = keep
            x = (torch.sqrt(acp[ts[0]]) * (mean * scale).double() + torch.sqrt(1 - acp[ts[0]]) * noise.double())
        else:
            image = None
            x = noise.double()

        def eps_of(xx, tt):
            pair = torch.cat([xx, xx]).float()
            e = unet(pair, torch.tensor([tt, tt]), context).double()
            return e[0:1] + job['guidance'] * (e[1:2] - e[0:1])

        states = []
        if job['sampler'] == 'ddim':
            for i, tt in enumerate(ts):
                e = eps_of(x, tt)
                a = acp[tt]
                a_prev = acp[ts[i + 1]] if i + 1 < len(ts) else acp[0]
                x0 = (x - torch.sqrt(1 - a) * e) / torch.sqrt(a)
                x = torch.sqrt(a_prev) * x0 + torch.sqrt(1 - a_prev) * e
                states.append(x)
        else:
            grid = list(ts) + [0]
            x0s, hs = [], []
            for i in range(len(ts)):
                a_s, a_t = acp[grid[i]], acp[grid[i + 1]]
                al_s, si_s, al_t, si_t = torch.sqrt(a_s), torch.sqrt(1 - a_s), torch.sqrt(a_t), torch.sqrt(1 - a_t)
                hh = torch.log(al_t / si_t) - torch.log(al_s / si_s)
                x0 = (x - si_s * eps_of(x, grid[i])) / al_s
                d = x0 if i == 0 else (1 + 1 / (2 * hs[-1] / hh)) * x0 - (1 / (2 * hs[-1] / hh)) * x0s[-1]
                x = (si_t / si_s) * x - al_t * (torch.exp(-hh) - 1) * d
                x0s.append(x0)
                hs.append(hh)
                states.append(x)
        decoded = vae.decoder(vae.post_quant_conv((x / scale).float()))
    tensors = {}
    for k, val in clip.state_dict().items():
        if not k.startswith('visual.') and k != 'logit_scale' and k != 'text_projection':
            tensors[k] = val
    hf = clip_ref.transformers_names({**clip.state_dict()}, t['layers'], 1)
    single = {f'cond_stage_model.transformer.{k}': val for k, val in hf.items() if k.startswith('text_model.')}
    single.update({f'model.diffusion_model.{k}': val for k, val in unet.state_dict().items()})
    single.update({f'first_stage_model.{k}': val for k, val in vae.state_dict().items()})
    out = job['out']
    clip_ref.write_safetensors(f'{out}/sd-tiny.safetensors', single)
    io = {'noise': noise, 'decoded': decoded}
    if image is not None:
        io['image'] = image
    for i, s in enumerate(states):
        io[f'latents_{i}'] = s
    clip_ref.write_safetensors(f'{out}/io.safetensors', io)
    print(json.dumps({'ok': True, 'timesteps': ts}))


if __name__ == '__main__':
    main()
