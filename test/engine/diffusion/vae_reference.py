"""PyTorch reference of latent diffusion's KL autoencoder (Rombach et al. 2022), for vae.test.ts.

Written from the paper's description and its published configuration (v1-inference.yaml): residual
blocks of GroupNorm -> SiLU -> 3x3 conv (twice) with a 1x1 shortcut when the width changes; the
encoder downsamples by a stride-2 conv after padding one pixel right and bottom; a middle of
block, single-head spatial self-attention (1x1 convs q, k, v, proj_out), block; GroupNorm, SiLU
and a conv to 2 x z channels, then quant_conv. The decoder: post_quant_conv, conv_in, middle,
levels from the widest with one more block each and nearest 2x upsampling + conv, then norm, SiLU,
conv to RGB. Attributes are named as the CompVis checkpoints are, so the state_dict is the
original layout; it is also written in diffusers' layout (new to_q/.. linear names and the older
query/key/value/proj_attn) with the renaming rules diffusers' conversion documents.

Usage: python3 vae_reference.py job.json
"""
import json
import re
import struct
import sys

import torch
from torch import nn
import torch.nn.functional as F


def gn(c, groups, eps):
    return nn.GroupNorm(groups, c, eps=eps, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout, groups, eps):
        super().__init__()
        self.norm1 = gn(cin, groups, eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = gn(cout, groups, eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if hasattr(self, 'nin_shortcut') else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c, groups, eps):
        super().__init__()
        self.norm = gn(c, groups, eps)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        y = self.norm(x)
        q = self.q(y).reshape(n, c, h * w).permute(0, 2, 1)
        k = self.k(y).reshape(n, c, h * w)
        v = self.v(y).reshape(n, c, h * w)
        a = torch.softmax(torch.bmm(q, k) / c ** 0.5, dim=2)  # [n, query, key]
        out = torch.bmm(v, a.permute(0, 2, 1)).reshape(n, c, h, w)
        return x + self.proj_out(out)


class Mid(nn.Module):
    def __init__(self, c, groups, eps):
        super().__init__()
        self.block_1 = ResnetBlock(c, c, groups, eps)
        self.attn_1 = AttnBlock(c, groups, eps)
        self.block_2 = ResnetBlock(c, c, groups, eps)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, ch, mult, res, z, groups, eps):
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch, 3, padding=1)
        self.down = nn.ModuleList()
        cin = ch
        for i, m in enumerate(mult):
            level = nn.Module()
            level.block = nn.ModuleList()
            for _ in range(res):
                level.block.append(ResnetBlock(cin, ch * m, groups, eps))
                cin = ch * m
            if i < len(mult) - 1:
                level.downsample = nn.Module()
                level.downsample.conv = nn.Conv2d(cin, cin, 3, stride=2)
            self.down.append(level)
        self.mid = Mid(cin, groups, eps)
        self.norm_out = gn(cin, groups, eps)
        self.conv_out = nn.Conv2d(cin, 2 * z, 3, padding=1)

    def forward(self, x):
        x = self.conv_in(x)
        for level in self.down:
            for b in level.block:
                x = b(x)
            if hasattr(level, 'downsample'):
                x = level.downsample.conv(F.pad(x, (0, 1, 0, 1)))
        x = self.mid(x)
        return self.conv_out(F.silu(self.norm_out(x)))


class Decoder(nn.Module):
    def __init__(self, ch, mult, res, z, groups, eps):
        super().__init__()
        top = ch * mult[-1]
        self.conv_in = nn.Conv2d(z, top, 3, padding=1)
        self.mid = Mid(top, groups, eps)
        self.up = nn.ModuleList()
        levels = []
        cin = top
        for i in reversed(range(len(mult))):
            level = nn.Module()
            level.block = nn.ModuleList()
            for _ in range(res + 1):
                level.block.append(ResnetBlock(cin, ch * mult[i], groups, eps))
                cin = ch * mult[i]
            if i > 0:
                level.upsample = nn.Module()
                level.upsample.conv = nn.Conv2d(cin, cin, 3, padding=1)
            levels.insert(0, level)
        for level in levels:
            self.up.append(level)
        self.norm_out = gn(cin, groups, eps)
        self.conv_out = nn.Conv2d(cin, 3, 3, padding=1)

    def forward(self, z):
        x = self.mid(self.conv_in(z))
        for i in reversed(range(len(self.up))):
            level = self.up[i]
            for b in level.block:
                x = b(x)
            if hasattr(level, 'upsample'):
                x = level.upsample.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))
        return self.conv_out(F.silu(self.norm_out(x)))


class AutoencoderKL(nn.Module):
    def __init__(self, ch, mult, res, z, groups, eps):
        super().__init__()
        self.encoder = Encoder(ch, mult, res, z, groups, eps)
        self.decoder = Decoder(ch, mult, res, z, groups, eps)
        self.quant_conv = nn.Conv2d(2 * z, 2 * z, 1)
        self.post_quant_conv = nn.Conv2d(z, z, 1)


def diffusers_name(name, levels, old):
    att = {'norm': 'group_norm', 'q': 'query', 'k': 'key', 'v': 'value', 'proj_out': 'proj_attn'} if old else \
        {'norm': 'group_norm', 'q': 'to_q', 'k': 'to_k', 'v': 'to_v', 'proj_out': 'to_out.0'}
    name = re.sub(r'^(encoder|decoder)\.mid\.block_(\d)\.', lambda m: f'{m[1]}.mid_block.resnets.{int(m[2]) - 1}.', name)
    name = re.sub(r'^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.', lambda m: f'{m[1]}.mid_block.attentions.0.{att[m[2]]}.', name)
    name = re.sub(r'^encoder\.down\.(\d+)\.block\.(\d+)\.', r'encoder.down_blocks.\1.resnets.\2.', name)
    name = re.sub(r'^encoder\.down\.(\d+)\.downsample\.conv\.', r'encoder.down_blocks.\1.downsamplers.0.conv.', name)
    name = re.sub(r'^decoder\.up\.(\d+)\.block\.(\d+)\.', lambda m: f'decoder.up_blocks.{levels - 1 - int(m[1])}.resnets.{m[2]}.', name)
    name = re.sub(r'^decoder\.up\.(\d+)\.upsample\.conv\.', lambda m: f'decoder.up_blocks.{levels - 1 - int(m[1])}.upsamplers.0.conv.', name)
    name = name.replace('.nin_shortcut.', '.conv_shortcut.')
    return re.sub(r'^(encoder|decoder)\.norm_out\.', r'\1.conv_norm_out.', name)


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
    model = AutoencoderKL(c['ch'], c['mult'], c['res'], c['z'], c['groups'], c['eps']).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=gen)
            if 'norm' in name and name.endswith('weight'):
                p.copy_(1 + 0.2 * r)
            elif name.endswith('bias'):
                p.copy_(0.1 * r)
            else:
                fan_in = p[0].numel()
                p.copy_(r / fan_in ** 0.5)
        size = job['size']
        image = torch.rand(1, 3, size[0], size[1], generator=gen) * 2 - 1
        moments = model.quant_conv(model.encoder(image))
        mean, logvar = moments.chunk(2, dim=1)
        decoded = model.decoder(model.post_quant_conv(mean))
    sd = model.state_dict()
    out = job['out']
    torch.save({'state_dict': {f'first_stage_model.{k}': v for k, v in sd.items()}}, f'{out}/single-file.ckpt')
    levels = len(c['mult'])
    for old in (False, True):
        renamed = {}
        for k, v in sd.items():
            n = diffusers_name(k, levels, old)
            if not old and '.attentions.0.to_' in n and n.endswith('weight'):
                v = v.reshape(v.shape[0], v.shape[1])  # diffusers' newer files keep these as linear weights
            renamed[n] = v
        write_safetensors(f"{out}/diffusers{'-old' if old else ''}.safetensors", renamed)
    write_safetensors(f'{out}/io.safetensors', {'image': image, 'mean': mean, 'logvar': logvar, 'decoded': decoded})
    print(json.dumps({'ok': True}))


if __name__ == '__main__':
    main()
