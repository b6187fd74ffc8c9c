"""PyTorch reference of CLIP (Radford et al. 2021) for test/engine/nets/clip/clip.test.ts.

Written from the paper (section 2.4 and figure 3): a ViT image tower with a class token, a layer
norm before the transformer and one after it on the class token, then a linear projection; a
causal text transformer pooled at the end-of-text token (the highest id of a row) and projected;
QuickGELU; cosine similarities scaled by exp(logit_scale). Attention is torch's own
nn.MultiheadAttention, an implementation independent of Atelier's graph.

The module's attribute names are chosen so that its state_dict is spelled as OpenAI's released
checkpoints are (token_embedding, transformer.resblocks.N.attn.in_proj_weight, visual.conv1, ...);
the same weights are also written in Hugging Face transformers' CLIPModel spelling
(text_model.encoder.layers.N.self_attn.q_proj, vision_model.pre_layrnorm, ...) as safetensors.

Usage: python3 clip_reference.py job.json  (job: seed, batch, text{...}, vision{..., act}, embed, out;
vision.act 'gelu' gives the image tower OpenCLIP's exact GELU, as ViT-H/14 has it)
Writes out/openai.pt (torch.save of the state_dict), out/transformers.safetensors and
out/io.safetensors (inputs and every reference output).
"""
import json
import math
import os
import struct
import sys
from collections import OrderedDict

import torch
from torch import nn


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self, width, heads, act='quick_gelu'):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        # OpenCLIP's ViT-H/14 (IP-Adapter's image encoder) uses the exact GELU
        gelu = nn.GELU() if act == 'gelu' else QuickGELU()
        self.mlp = nn.Sequential(OrderedDict([('c_fc', nn.Linear(width, 4 * width)), ('gelu', gelu), ('c_proj', nn.Linear(4 * width, width))]))

    def forward(self, x, mask):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, act='quick_gelu'):
        super().__init__()
        self.resblocks = nn.Sequential(*[Block(width, heads, act) for _ in range(layers)])

    def forward(self, x, mask=None):  # x: [L, N, W]
        for block in self.resblocks:
            x = block(x, mask)
        return x


class Visual(nn.Module):
    def __init__(self, width, layers, heads, patch, image, embed, act='quick_gelu'):
        super().__init__()
        grid = image // patch
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(width))
        self.positional_embedding = nn.Parameter(torch.empty(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, act)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.empty(width, embed))

    def forward(self, pixels):
        x = self.conv1(pixels).flatten(2).transpose(1, 2)  # [N, g*g, W]
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x)
        hidden = self.transformer(x.transpose(0, 1)).transpose(0, 1)
        pooled = self.ln_post(hidden[:, 0])
        return hidden, pooled, pooled @ self.proj


class Clip(nn.Module):
    def __init__(self, t, v, embed):
        super().__init__()
        self.visual = Visual(v['width'], v['layers'], v['heads'], v['patch'], v['image'], embed, v.get('act', 'quick_gelu'))
        self.token_embedding = nn.Embedding(t['vocab'], t['width'])
        self.positional_embedding = nn.Parameter(torch.empty(t['context'], t['width']))
        self.transformer = Transformer(t['width'], t['layers'], t['heads'])
        self.ln_final = nn.LayerNorm(t['width'])
        self.text_projection = nn.Parameter(torch.empty(t['width'], embed))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        length = t['context']
        self.register_buffer('mask', torch.full((length, length), float('-inf')).triu(1), persistent=False)

    def encode_text(self, tokens):
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.transformer(x.transpose(0, 1), self.mask).transpose(0, 1)
        hidden = self.ln_final(x)
        pooled = hidden[torch.arange(hidden.shape[0]), tokens.argmax(dim=-1)]
        return hidden, pooled, pooled @ self.text_projection


def randomise(model, gen):
    """Values that exercise every weight: LN scales near 1, biases non-zero, matrices ~1/sqrt(fan_in)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == 'logit_scale':
                continue
            r = torch.randn(p.shape, generator=gen)
            if 'ln_' in name and name.endswith('.weight'):
                p.copy_(1 + 0.2 * r)
            elif name.endswith('bias'):
                p.copy_(0.1 * r)
            elif p.dim() >= 2 and 'embedding' not in name:
                fan_in = p.shape[1] if name.endswith('weight') else p.shape[0]
                if p.dim() == 4:
                    fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                p.copy_(r / math.sqrt(fan_in))
            else:
                p.copy_(0.5 * r)


def transformers_names(sd, t_layers, v_layers):
    """The same tensors in transformers' CLIPModel spelling (q, k, v split; projections as nn.Linear)."""
    out = OrderedDict()

    def blocks(src, dst, layers):
        for i in range(layers):
            s = f'{src}{i}.'
            d = f'{dst}{i}.'
            qw, kw, vw = sd[s + 'attn.in_proj_weight'].chunk(3)
            qb, kb, vb = sd[s + 'attn.in_proj_bias'].chunk(3)
            for part, w, b in (('q', qw, qb), ('k', kw, kb), ('v', vw, vb)):
                out[f'{d}self_attn.{part}_proj.weight'] = w
                out[f'{d}self_attn.{part}_proj.bias'] = b
            out[d + 'self_attn.out_proj.weight'] = sd[s + 'attn.out_proj.weight']
            out[d + 'self_attn.out_proj.bias'] = sd[s + 'attn.out_proj.bias']
            for a, b2 in (('ln_1', 'layer_norm1'), ('ln_2', 'layer_norm2'), ('mlp.c_fc', 'mlp.fc1'), ('mlp.c_proj', 'mlp.fc2')):
                out[f'{d}{b2}.weight'] = sd[f'{s}{a}.weight']
                out[f'{d}{b2}.bias'] = sd[f'{s}{a}.bias']

    out['text_model.embeddings.token_embedding.weight'] = sd['token_embedding.weight']
    out['text_model.embeddings.position_embedding.weight'] = sd['positional_embedding']
    blocks('transformer.resblocks.', 'text_model.encoder.layers.', t_layers)
    out['text_model.final_layer_norm.weight'] = sd['ln_final.weight']
    out['text_model.final_layer_norm.bias'] = sd['ln_final.bias']
    out['text_projection.weight'] = sd['text_projection'].t()
    out['vision_model.embeddings.class_embedding'] = sd['visual.class_embedding']
    out['vision_model.embeddings.patch_embedding.weight'] = sd['visual.conv1.weight']
    out['vision_model.embeddings.position_embedding.weight'] = sd['visual.positional_embedding']
    out['vision_model.pre_layrnorm.weight'] = sd['visual.ln_pre.weight']
    out['vision_model.pre_layrnorm.bias'] = sd['visual.ln_pre.bias']
    blocks('visual.transformer.resblocks.', 'vision_model.encoder.layers.', v_layers)
    out['vision_model.post_layernorm.weight'] = sd['visual.ln_post.weight']
    out['vision_model.post_layernorm.bias'] = sd['visual.ln_post.bias']
    out['visual_projection.weight'] = sd['visual.proj'].t()
    out['logit_scale'] = sd['logit_scale']
    return out


def write_safetensors(path, tensors):
    """The safetensors layout: 8-byte header length, JSON header, raw little-endian float32 data."""
    header = {}
    offset = 0
    blobs = []
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
    t, v = job['text'], job['vision']
    model = Clip(t, v, job['embed']).eval()
    randomise(model, gen)
    batch = job['batch']
    pixels = torch.randn(batch, 3, v['image'], v['image'], generator=gen)
    tokens = torch.randint(1, t['vocab'] - 2, (batch, t['context']), generator=gen)
    for n in range(batch):
        end = 2 + (3 * n + 1) % (t['context'] - 2)
        tokens[n, 0] = t['vocab'] - 2
        tokens[n, end] = t['vocab'] - 1
        # OpenAI pads with 0, transformers with the end-of-text id: one row of each
        tokens[n, end + 1:] = 0 if n % 2 == 0 else t['vocab'] - 1
    with torch.no_grad():
        image_hidden, image_pooled, image_embeds = model.visual(pixels)
        text_hidden, text_pooled, text_embeds = model.encode_text(tokens)
        a = image_embeds / image_embeds.norm(dim=-1, keepdim=True)
        b = text_embeds / text_embeds.norm(dim=-1, keepdim=True)
        logits = model.logit_scale.exp() * a @ b.t()
    out = job['out']
    os.makedirs(out, exist_ok=True)
    sd = model.state_dict()
    torch.save(sd, os.path.join(out, 'openai.pt'))
    write_safetensors(os.path.join(out, 'transformers.safetensors'), transformers_names(sd, t['layers'], v['layers']))
    write_safetensors(os.path.join(out, 'io.safetensors'), OrderedDict([
        ('pixels', pixels), ('tokens', tokens.float()),
        ('image_hidden', image_hidden), ('image_pooled', image_pooled), ('image_embeds', image_embeds),
        ('text_hidden', text_hidden), ('text_pooled', text_pooled), ('text_embeds', text_embeds),
        ('logits_per_image', logits),
    ]))
    print(json.dumps({'ok': True}))


if __name__ == '__main__':
    main()
