"""PyTorch reference of IP-Adapter's image injection (Ye et al. 2023) for ip-adapter.test.ts.

Written from the paper (section 3.2, "decoupled cross-attention"): each cross-attention layer of the
UNet keeps Z_text = softmax(Q K_text^T / sqrt(d)) V_text and gains Z_image = softmax(Q K_image^T /
sqrt(d)) V_image with K_image = c_i W'_k, V_image = c_i W'_v (new, bias-free), over image tokens c_i;
the layer's output is to_out(Z_text + s * Z_image). The image tokens are the CLIP image embedding
through a linear layer to T tokens of the context width and a layer norm (section 3.2, "image
encoder"). s is a strength per layer: DEADiff's style/content split (content = the layers listed in
job['content_layers'], style = the others), or 0 everywhere.

The UNet is unet_reference.py's, whose cross-attention modules are wrapped here. The adapter's
weights are written as IP-Adapter publishes them: 'image_proj.*' and 'ip_adapter.N.to_k_ip.weight'
where N numbers every attention module of the UNet (self- and cross-, two per transformer block)
in diffusers' order, down blocks, up blocks, then the middle; as safetensors (flat names) and as a
torch.save'd dict {'image_proj': state_dict, 'ip_adapter': state_dict} (the .bin).

Also "Diffusion in Style" (Everaert et al. 2023): the style-specific initial noise, a Gaussian with
the per-channel mean and standard deviation of the style latents: z = mu_c + sigma_c * eps.

Usage: python3 ip_adapter_reference.py job.json
"""
import json
import math
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import unet_reference as ur  # noqa: E402


class ImageProj(nn.Module):
    def __init__(self, embed, context, tokens):
        super().__init__()
        self.tokens, self.context = tokens, context
        self.proj = nn.Linear(embed, tokens * context)
        self.norm = nn.LayerNorm(context)

    def forward(self, e):
        return self.norm(self.proj(e).reshape(e.shape[0], self.tokens, self.context))


class ImageKV(nn.Module):
    def __init__(self, width, context):
        super().__init__()
        self.to_k_ip = nn.Linear(context, width, bias=False)
        self.to_v_ip = nn.Linear(context, width, bias=False)


class Decoupled(nn.Module):
    """A cross-attention layer with the image branch; context is (text states, image tokens)."""

    def __init__(self, inner, kv):
        super().__init__()
        self.inner, self.kv, self.scale = inner, kv, 0.0

    def forward(self, x, context):
        text, image = context
        a = self.inner
        n, l, dim = x.shape
        d = dim // a.heads

        def heads(t):
            return t.reshape(n, t.shape[1], a.heads, d).transpose(1, 2)

        def attend(q, k, v):
            w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
            return (w @ v).transpose(1, 2).reshape(n, l, dim)

        q = heads(a.to_q(x))
        z_text = attend(q, heads(a.to_k(text)), heads(a.to_v(text)))
        z_image = attend(q, heads(self.kv.to_k_ip(image)), heads(self.kv.to_v_ip(image)))
        return a.to_out(z_text + self.scale * z_image)


class Joint(nn.Module):
    """DEADiff's cross-attention (Qi et al. 2024): image keys and values appended to the text's, both
    scaled by img_weight, one softmax over all; context is (text, style tokens, content tokens) and
    the layer takes the content tokens when it is one of DEADiff's content layers."""

    def __init__(self, inner, width, context_dim, content):
        super().__init__()
        self.inner, self.content, self.weight = inner, content, 1.0
        self.i_to_k = nn.Linear(context_dim, width, bias=False)
        self.i_to_v = nn.Linear(context_dim, width, bias=False)

    def forward(self, x, context):
        text, style, content = context
        image = content if self.content else style
        a = self.inner
        n, l, dim = x.shape
        d = dim // a.heads

        def heads(t):
            return t.reshape(n, t.shape[1], a.heads, d).transpose(1, 2)

        k = torch.cat([a.to_k(text), self.weight * self.i_to_k(image)], dim=1)
        v = torch.cat([a.to_v(text), self.weight * self.i_to_v(image)], dim=1)
        w = torch.softmax(heads(a.to_q(x)) @ heads(k).transpose(-1, -2) / math.sqrt(d), dim=-1)
        return a.to_out((w @ heads(v)).transpose(1, 2).reshape(n, l, dim))


class TextOnly(nn.Module):
    """Passes only the text states on, for the plain UNet run with the same modules."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x, context):
        return self.inner(x, context[0])


def cross_attention_blocks(model):
    """(name, Block) of every transformer block in run order: input_blocks, middle_block, output_blocks."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, ur.Block)]


def main():
    job = json.load(open(sys.argv[1]))
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(job['seed'])
    c = job['config']
    model = ur.UNet(c).eval()
    ad = job['adapter']
    proj = ImageProj(ad['embed'], c['context'], ad['tokens'])
    blocks = cross_attention_blocks(model)
    widths = [b.attn2.to_q.weight.shape[0] for _, b in blocks]
    kvs = [ImageKV(w, c['context']) for w in widths]
    with torch.no_grad():
        for mod in (model, proj, *kvs):
            for name, p in mod.named_parameters():
                r = torch.randn(p.shape, generator=gen)
                if ('norm' in name or 'in_layers.0' in name or 'out_layers.0' in name or name.startswith('out.0')) and name.endswith('weight'):
                    p.copy_(1 + 0.2 * r)
                elif name.endswith('bias'):
                    p.copy_(0.1 * r)
                else:
                    p.copy_(r / p[0].numel() ** 0.5)
        n, h, w = job['batch'], job['size'][0], job['size'][1]
        x = torch.randn(n, c['in'], h, w, generator=gen)
        text = torch.randn(n, job['length'], c['context'], generator=gen)
        embeds = torch.randn(n, ad['embed'], generator=gen)
        embeds[0] = 0  # classifier-free guidance's unconditional row, as IP-Adapter was trained
        t = torch.tensor(job['timesteps'])
        plain = model(x, t, text)
        tokens = proj(embeds)
        originals = [b.attn2 for _, b in blocks]
        wrapped = [Decoupled(o, kv) for o, kv in zip(originals, kvs)]
        for (_, b), m in zip(blocks, wrapped):
            b.attn2 = m
        outputs = {'latents': x, 'context': text, 'image_embeds': embeds, 'image_tokens': tokens, 'eps_plain': plain}
        content = set(job['content_layers'])
        for i, case in enumerate(job['cases']):
            for k, m in enumerate(wrapped):
                m.scale = case['content'] if k in content else case['style']
            outputs[f'eps_case{i}'] = model(x, t, (text, tokens))
        for (_, b), o in zip(blocks, originals):
            b.attn2 = TextOnly(o)
        outputs['eps_text_only'] = model(x, t, (text, tokens))

        # DEADiff: joint attention, style tokens in the style layers and content tokens in its content layers
        dd = job.get('deadiff')
        joints = []
        if dd:
            for k, ((_, b), o) in enumerate(zip(blocks, originals)):
                j = Joint(o, widths[k], c['context'], k in content)
                for p in (j.i_to_k.weight, j.i_to_v.weight):
                    p.copy_(torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)
                joints.append(j)
                b.attn2 = j
            style_tokens = torch.randn(n, dd['tokens'], c['context'], generator=gen)
            content_tokens = torch.randn(n, dd['tokens'], c['context'], generator=gen)
            for j in joints:
                j.weight = dd['weight']
            outputs.update({'style_tokens': style_tokens, 'content_tokens': content_tokens, 'eps_deadiff': model(x, t, (text, style_tokens, content_tokens))})

        # Diffusion in Style: per-channel statistics of the style latents over positions
        style = torch.randn(c['in'], h, w, generator=gen) * torch.tensor([0.5, 1.5, 0.8, 1.1])[:c['in'], None, None] + torch.tensor([0.3, -0.7, 0.1, 0.9])[:c['in'], None, None]
        white = torch.randn(c['in'], h, w, generator=gen)
        mu = style.mean(dim=(1, 2), keepdim=True)
        sigma = style.std(dim=(1, 2), unbiased=False, keepdim=True)
        outputs.update({'style_latent': style, 'white_noise': white, 'style_noise': mu + sigma * white})

    # diffusers' attn_processors order: down blocks, up blocks, middle; attn1 and attn2 per block
    def part(name):
        return 0 if name.startswith('input_blocks') else 2 if name.startswith('middle_block') else 1

    order = sorted(range(len(blocks)), key=lambda k: (part(blocks[k][0]), k))
    processors = nn.ModuleList([nn.Module() for _ in range(2 * len(blocks))])
    for position, k in enumerate(order):
        processors[2 * position + 1] = kvs[k]
    state = {'image_proj': proj.state_dict(), 'ip_adapter': processors.state_dict()}
    out = job['out']
    flat = {f'{top}.{k}': v for top, sd in state.items() for k, v in sd.items()}
    ur.write_safetensors(f'{out}/ip-adapter.safetensors', flat)
    torch.save(state, f'{out}/ip-adapter.bin')
    sd = {}
    for k, v in model.state_dict().items():
        if '.i_to_' not in k:
            sd[f"model.diffusion_model.{k.replace('attn2.inner.', 'attn2.')}"] = v
    ur.write_safetensors(f'{out}/unet.safetensors', sd)
    if joints:
        dsd = {}
        for k, v in model.state_dict().items():
            dsd[f"model.diffusion_model.{k.replace('attn2.inner.', 'attn2.')}"] = v
        ur.write_safetensors(f'{out}/deadiff.safetensors', dsd)
    ur.write_safetensors(f'{out}/io.safetensors', outputs)
    print(json.dumps({'ok': True, 'layers': len(blocks), 'processors': [2 * order.index(k) + 1 for k in range(len(blocks))]}))


if __name__ == '__main__':
    main()
