"""PyTorch reference of latent diffusion's UNet (Rombach et al. 2022), for unet.test.ts.

Written from the paper and its published configuration (v1-inference.yaml), with attributes named
as the original checkpoints are (input_blocks.K.0.in_layers..., K.1.transformer_blocks.0.attn2...,
middle_block, output_blocks, time_embed, out):
- sinusoidal time embedding [cos, sin] of width model_channels, Linear -> SiLU -> Linear;
- residual blocks: GroupNorm(eps 1e-5) -> SiLU -> conv, + Linear(SiLU(temb)) per channel,
  GroupNorm -> SiLU -> conv, 1x1 skip when the width changes;
- spatial transformers: GroupNorm(eps 1e-6), 1x1 proj_in, per position: x += self-attention(LN(x)),
  x += cross-attention(LN(x), context), x += GEGLU feed-forward(LN(x)) (exact GELU), 1x1 proj_out,
  + input; attention through torch.nn.functional.scaled_dot_product... not in torch 1.13, so
  written with softmax(q k^T / sqrt(d)) v per head;
- stride-2 conv downsampling, nearest 2x + conv upsampling, skip concatenation on channels.
Also writes the same weights in diffusers' unet/ layout (down_blocks.L.resnets.J.norm1 ...).

Usage: python3 unet_reference.py job.json
"""
import json
import math
import re
import struct
import sys

import torch
from torch import nn
import torch.nn.functional as F


class Seq(nn.Sequential):
    pass


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb, groups):
        super().__init__()
        self.in_layers = nn.Sequential(nn.GroupNorm(groups, cin, eps=1e-5), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(temb, cout))
        self.out_layers = nn.Sequential(nn.GroupNorm(groups, cout, eps=1e-5), nn.SiLU(), nn.Dropout(0), nn.Conv2d(cout, cout, 3, padding=1))
        self.skip_connection = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb, context):
        h = self.in_layers(x) + self.emb_layers(emb)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class Attention(nn.Module):
    def __init__(self, dim, kv_dim, heads):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(kv_dim, dim, bias=False)
        self.to_v = nn.Linear(kv_dim, dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(0))

    def forward(self, x, context):
        n, l, dim = x.shape
        d = dim // self.heads
        q = self.to_q(x).reshape(n, l, self.heads, d).transpose(1, 2)
        k = self.to_k(context).reshape(n, context.shape[1], self.heads, d).transpose(1, 2)
        v = self.to_v(context).reshape(n, context.shape[1], self.heads, d).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
        return self.to_out((a @ v).transpose(1, 2).reshape(n, l, dim))


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * inner)

    def forward(self, x):
        a, gate = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(gate)


class Block(nn.Module):
    def __init__(self, dim, context_dim, heads):
        super().__init__()
        self.attn1 = Attention(dim, dim, heads)
        self.ff = nn.Module()
        self.ff.net = nn.Sequential(GEGLU(dim, 4 * dim), nn.Dropout(0), nn.Linear(4 * dim, dim))
        self.attn2 = Attention(dim, context_dim, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x, context):
        h = self.norm1(x)
        x = x + self.attn1(h, h)
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff.net(self.norm3(x))


class SpatialTransformer(nn.Module):
    def __init__(self, c, context_dim, heads, groups, depth):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.proj_in = nn.Conv2d(c, c, 1)
        self.transformer_blocks = nn.ModuleList([Block(c, context_dim, heads) for _ in range(depth)])
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x, emb, context):
        n, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x)).reshape(n, c, hh * ww).transpose(1, 2)
        for b in self.transformer_blocks:
            h = b(h, context)
        return x + self.proj_out(h.transpose(1, 2).reshape(n, c, hh, ww))


class Down(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.op = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x, emb, context):
        return self.op(x)


class Up(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x, emb, context):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))


class ConvIn(nn.Conv2d):
    def forward(self, x, emb, context):
        return super().forward(x)


class Step(nn.ModuleList):
    def forward(self, x, emb, context):
        for m in self:
            x = m(x, emb, context)
        return x


class UNet(nn.Module):
    def __init__(self, c):
        super().__init__()
        ch, mult, res, att, heads, ctx, groups = c['ch'], c['mult'], c['res'], c['att'], c['heads'], c['context'], c['groups']
        temb = 4 * ch
        self.ch = ch
        self.time_embed = nn.Sequential(nn.Linear(ch, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.input_blocks = nn.ModuleList([Step([ConvIn(c['in'], ch, 3, padding=1)])])
        widths = [ch]
        width = ch
        for level, m in enumerate(mult):
            for _ in range(res):
                parts = [ResBlock(width, m * ch, temb, groups)]
                width = m * ch
                if att[level]:
                    parts.append(SpatialTransformer(width, ctx, heads, groups, 1))
                self.input_blocks.append(Step(parts))
                widths.append(width)
            if level < len(mult) - 1:
                self.input_blocks.append(Step([Down(width)]))
                widths.append(width)
        self.middle_block = Step([ResBlock(width, width, temb, groups), SpatialTransformer(width, ctx, heads, groups, 1), ResBlock(width, width, temb, groups)])
        self.output_blocks = nn.ModuleList()
        for level in reversed(range(len(mult))):
            for j in range(res + 1):
                parts = [ResBlock(width + widths.pop(), mult[level] * ch, temb, groups)]
                width = mult[level] * ch
                if att[level]:
                    parts.append(SpatialTransformer(width, ctx, heads, groups, 1))
                if level > 0 and j == res:
                    parts.append(Up(width))
                self.output_blocks.append(Step(parts))
        self.out = nn.Sequential(nn.GroupNorm(groups, ch, eps=1e-5), nn.SiLU(), nn.Conv2d(ch, c['out'], 3, padding=1))

    def forward(self, x, t, context):
        half = self.ch // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        args = t[:, None].float() * freqs[None]
        emb = self.time_embed(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))
        hs = []
        for b in self.input_blocks:
            x = b(x, emb, context)
            hs.append(x)
        x = self.middle_block(x, emb, context)
        for b in self.output_blocks:
            x = b(torch.cat([x, hs.pop()], dim=1), emb, context)
        return self.out(x)


def diffusers_names(sd, c):
    """The original names -> diffusers' unet/ names (the mapping of diffusers' conversion script)."""
    res, mult, att = c['res'], c['mult'], c['att']
    levels = len(mult)
    res_parts = {'in_layers.0': 'norm1', 'in_layers.2': 'conv1', 'emb_layers.1': 'time_emb_proj', 'out_layers.0': 'norm2', 'out_layers.3': 'conv2', 'skip_connection': 'conv_shortcut'}
    out = {}
    for k, v in sd.items():
        n = k
        m = re.match(r'input_blocks\.(\d+)\.(\d)\.(.*)', k)
        if k.startswith('input_blocks.0.0.'):
            n = 'conv_in.' + k.split('.')[-1]
        elif m:
            i, part, rest = int(m[1]), int(m[2]), m[3]
            level, j = (i - 1) // (res + 1), (i - 1) % (res + 1)
            if j == res:
                n = f'down_blocks.{level}.downsamplers.0.conv.' + rest.split('.')[-1]
            elif part == 0:
                n = f'down_blocks.{level}.resnets.{j}.' + rest
            else:
                n = f'down_blocks.{level}.attentions.{j}.' + rest
        elif k.startswith('middle_block.'):
            _, part, rest = k.split('.', 2)
            n = f'mid_block.attentions.0.{rest}' if part == '1' else f"mid_block.resnets.{0 if part == '0' else 1}.{rest}"
        elif k.startswith('output_blocks.'):
            _, i, part, rest = k.split('.', 3)
            i, part = int(i), int(part)
            top, j = i // (res + 1), i % (res + 1)
            has_att = att[levels - 1 - top]
            if part == 0:
                n = f'up_blocks.{top}.resnets.{j}.{rest}'
            elif part == 1 and has_att:
                n = f'up_blocks.{top}.attentions.{j}.{rest}'
            else:
                n = f'up_blocks.{top}.upsamplers.0.{rest}'
        elif k.startswith('time_embed.'):
            n = k.replace('time_embed.0.', 'time_embedding.linear_1.').replace('time_embed.2.', 'time_embedding.linear_2.')
        elif k.startswith('out.'):
            n = k.replace('out.0.', 'conv_norm_out.').replace('out.2.', 'conv_out.')
        if '.resnets.' in n:
            for a, b in res_parts.items():
                n = n.replace(f'.{a}.', f'.{b}.')
        out[n] = v
    return out


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
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(job['seed'])
    c = job['config']
    model = UNet(c).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=gen)
            if ('norm' in name or 'in_layers.0' in name or 'out_layers.0' in name or name.startswith('out.0')) and name.endswith('weight'):
                p.copy_(1 + 0.2 * r)
            elif name.endswith('bias'):
                p.copy_(0.1 * r)
            else:
                p.copy_(r / p[0].numel() ** 0.5)
        n, h, w = job['batch'], job['size'][0], job['size'][1]
        x = torch.randn(n, c['in'], h, w, generator=gen)
        context = torch.randn(n, job['length'], c['context'], generator=gen)
        t = torch.tensor(job['timesteps'])
        eps = model(x, t, context)
    sd = model.state_dict()
    out = job['out']
    write_safetensors(f'{out}/single-file.safetensors', {f'model.diffusion_model.{k}': v for k, v in sd.items()})
    write_safetensors(f'{out}/diffusers.safetensors', diffusers_names(sd, c))
    write_safetensors(f'{out}/io.safetensors', {'latents': x, 'context': context, 'eps': eps})
    print(json.dumps({'ok': True, 'params': sum(p.numel() for p in model.parameters())}))


if __name__ == '__main__':
    main()
