"""PyTorch reference of DEADiff's reference-image path (Qi et al., CVPR 2024) for deadiff.test.ts.

Written from the papers and the architecture as the released code lays it out (bytedance/DEADiff
blip_diffusion.py DualBlipDiffusion, salesforce/LAVIS blip2_qformer.py / Qformer.py / clip_vit.py),
not copied from them; the attribute names are the checkpoint's, so that state_dict() gives DEADiff's
key layout:

- the image tower (LAVIS's `clip_L`): CLIP's ViT (Radford et al. 2021) with OpenAI's names (conv1,
  class_embedding, positional_embedding, ln_pre, transformer.resblocks.N.{ln_1, attn, ln_2,
  mlp.c_fc, mlp.c_proj}, QuickGELU), kept to its first layers (23 of ViT-L/14's 24) and without
  ln_post or proj: every token's last hidden state, then `ln_vision` (a LayerNorm, eps 1e-5);
- the Q-Former (BLIP-2, Li et al. 2023, section 3.1): a BERT (Devlin et al. 2019) whose input is
  the learnt query tokens followed by the text's word + position embeddings, one LayerNorm (eps
  1e-12) over all; per layer post-norm self-attention over queries and text together (no mask: one
  unpadded prompt), then for the queries only a post-norm cross-attention to the image states and
  their own feed-forward (`intermediate_query`, `output_query`), the text positions through the
  text feed-forward (`intermediate`, `output`); exact GELU; the queries' last states are the
  "multimodal" features (extract_features(mode="multimodal")[:, :Q]);
- DEADiff's projection: y = x + dense2(QuickGELU(dense1(LN(x)))) (LN eps 1e-12);
- the UNet step: unet_reference.py's UNet with ip_adapter_reference.py's Joint attention (the
  image keys and values appended to the text's, times img_weight), style tokens in the style
  layers and content tokens in the content layers; the unconditional row gets zero tokens, as
  DEADiff's get_learned_conditioning gives a text-only row.

The unused heads of each Blip2Qformer (Qformer.cls LM head, vision_proj, text_proj, itm_head,
temp, the position_ids buffer) and ctx_embeddings_cache are written too, so the reader must skip
them by name. The image tower's Linear and Conv weights are stored in float16, as LAVIS converts
them (convert_weights_to_fp16), and the reference computes with those rounded values.

Usage: python3 deadiff_reference.py job.json
"""
import json
import math
import os
import sys
from collections import OrderedDict

import torch
from torch import nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import unet_reference as ur  # noqa: E402
from ip_adapter_reference import Joint, cross_attention_blocks  # noqa: E402


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class VitBlock(nn.Module):
    def __init__(self, w, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(w)
        self.attn = nn.MultiheadAttention(w, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(w)
        self.mlp = nn.Sequential(OrderedDict([('c_fc', nn.Linear(w, 4 * w)), ('act', nn.Identity()), ('c_proj', nn.Linear(4 * w, w))]))

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp.c_proj(quick_gelu(self.mlp.c_fc(self.ln_2(x))))


class Vit(nn.Module):
    def __init__(self, v):
        super().__init__()
        w, p, s = v['width'], v['patch'], v['image']
        self.conv1 = nn.Conv2d(3, w, p, stride=p, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(w))
        self.positional_embedding = nn.Parameter(torch.zeros((s // p) ** 2 + 1, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.ModuleList([VitBlock(w, v['heads']) for _ in range(v['layers'])])

    def forward(self, pixels):
        x = self.conv1(pixels).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding)
        for b in self.transformer.resblocks:
            x = b(x)
        return x


class BertSelf(nn.Module):
    def __init__(self, h, kv):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(kv, h), nn.Linear(kv, h)


class BertOut(nn.Module):
    def __init__(self, i, h):
        super().__init__()
        self.dense = nn.Linear(i, h)
        self.LayerNorm = nn.LayerNorm(h, eps=1e-12)


class BertAttention(nn.Module):
    def __init__(self, h, kv, heads):
        super().__init__()
        self.heads = heads
        self.self = BertSelf(h, kv)
        self.output = BertOut(h, h)

    def forward(self, x, context):
        n, l, h = x.shape
        d = h // self.heads

        def split(t):
            return t.reshape(n, t.shape[1], self.heads, d).transpose(1, 2)

        s = self.self
        a = torch.softmax(split(s.query(x)) @ split(s.key(context)).transpose(-1, -2) / math.sqrt(d), dim=-1)
        mixed = (a @ split(s.value(context))).transpose(1, 2).reshape(n, l, h)
        return self.output.LayerNorm(self.output.dense(mixed) + x)


class Dense(nn.Module):
    def __init__(self, h, i):
        super().__init__()
        self.dense = nn.Linear(h, i)


class QformerLayer(nn.Module):
    def __init__(self, q):
        super().__init__()
        h, i = q['hidden'], q['intermediate']
        self.attention = BertAttention(h, h, q['heads'])
        self.crossattention = BertAttention(h, q['encoder_width'], q['heads'])
        self.intermediate, self.output = Dense(h, i), BertOut(i, h)
        self.intermediate_query, self.output_query = Dense(h, i), BertOut(i, h)

    def forward(self, x, image, queries):
        a = self.attention(x, x)
        qs = self.crossattention(a[:, :queries], image)
        qs = self.output_query.LayerNorm(self.output_query.dense(F.gelu(self.intermediate_query.dense(qs))) + qs)
        t = a[:, queries:]
        t = self.output.LayerNorm(self.output.dense(F.gelu(self.intermediate.dense(t))) + t)
        return torch.cat([qs, t], dim=1)


class Qformer(nn.Module):
    """Blip2Qformer's `Qformer` (a BertLMHeadModel): bert.embeddings, bert.encoder.layer.N, cls."""

    def __init__(self, q):
        super().__init__()
        h, vocab = q['hidden'], q['vocab']
        self.bert = nn.Module()
        e = self.bert.embeddings = nn.Module()
        e.word_embeddings = nn.Embedding(vocab, h)
        e.position_embeddings = nn.Embedding(q['positions'], h)
        e.LayerNorm = nn.LayerNorm(h, eps=1e-12)
        e.register_buffer('position_ids', torch.arange(q['positions']).expand(1, -1))
        self.bert.encoder = nn.Module()
        self.bert.encoder.layer = nn.ModuleList([QformerLayer(q) for _ in range(q['layers'])])
        # the language-model head (unused by DEADiff): its decoder shares the word embeddings and the bias
        self.cls = nn.Module()
        p = self.cls.predictions = nn.Module()
        p.transform = nn.Module()
        p.transform.dense = nn.Linear(h, h)
        p.transform.LayerNorm = nn.LayerNorm(h, eps=1e-12)
        p.decoder = nn.Linear(h, vocab, bias=False)
        p.bias = nn.Parameter(torch.zeros(vocab))
        p.decoder.bias = p.bias


class Blip2Qformer(nn.Module):
    def __init__(self, q, v, embed):
        super().__init__()
        self.visual_encoder = Vit(v)
        self.ln_vision = nn.LayerNorm(v['width'])
        self.Qformer = Qformer(q)
        self.query_tokens = nn.Parameter(torch.zeros(1, q['queries'], q['hidden']))
        self.vision_proj = nn.Linear(q['hidden'], embed)
        self.text_proj = nn.Linear(q['hidden'], embed)
        self.itm_head = nn.Linear(q['hidden'], 2)
        self.temp = nn.Parameter(0.07 * torch.ones([]))

    def multimodal(self, pixels, ids):
        image = self.ln_vision(self.visual_encoder(pixels))
        n, queries = pixels.shape[0], self.query_tokens.shape[1]
        e = self.Qformer.bert.embeddings
        text = e.word_embeddings(ids) + e.position_embeddings(torch.arange(ids.shape[1]))[None]
        x = e.LayerNorm(torch.cat([self.query_tokens.expand(n, -1, -1), text.expand(n, -1, -1)], dim=1))
        for layer in self.Qformer.bert.encoder.layer:
            x = layer(x, image, queries)
        return x[:, :queries]


class ProjLayer(nn.Module):
    def __init__(self, h, hidden):
        super().__init__()
        self.dense1 = nn.Linear(h, hidden)
        self.dense2 = nn.Linear(hidden, h)
        self.LayerNorm = nn.LayerNorm(h, eps=1e-12)

    def forward(self, x):
        return x + self.dense2(quick_gelu(self.dense1(self.LayerNorm(x))))


def fill(module, gen):
    for name, p in module.named_parameters():
        r = torch.randn(p.shape, generator=gen)
        if p.dim() == 1 and name.endswith('weight'):  # the norms' gains
            p.copy_(1 + 0.2 * r)
        elif name.endswith('bias'):
            p.copy_(0.1 * r)
        elif p.dim() <= 1 or name.endswith('query_tokens') or 'embedding' in name:
            p.copy_(0.5 * r)
        else:
            p.copy_(r / p[0].numel() ** 0.5)


def main():
    job = json.load(open(sys.argv[1]))
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(job['seed'])
    c, q, v, dd = job['config'], job['qformer'], job['vit'], job['deadiff']
    vocab = job['vocab']
    q = dict(q, vocab=len(vocab) + 1, encoder_width=v['width'])  # + LAVIS's added [DEC] token
    model = ur.UNet(c).eval()
    blips = {k: Blip2Qformer(q, v, 8).eval() for k in ('style', 'content')}
    projs = {k: ProjLayer(q['hidden'], 4 * q['hidden']).eval() for k in ('style', 'content')}
    blocks = cross_attention_blocks(model)
    content_layers = set(job['content_layers'])
    with torch.no_grad():
        ur_fill = [model, *blips.values(), *projs.values()]
        for m in ur_fill:
            fill(m, gen)
        for b in blips.values():
            # LAVIS stores the image tower's Linear and Conv weights in float16
            for m in b.visual_encoder.modules():
                if isinstance(m, (nn.Linear, nn.Conv2d)):
                    m.weight.copy_(m.weight.half().float())
                    if m.bias is not None:
                        m.bias.copy_(m.bias.half().float())
        for k, (_, b) in enumerate(blocks):
            j = Joint(b.attn2, b.attn2.to_q.weight.shape[0], c['context'], k in content_layers)
            for p in (j.i_to_k.weight, j.i_to_v.weight):
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)
            j.weight = dd['weight']
            b.attn2 = j

        s = v['image']
        image01 = torch.rand(1, 3, s, s, generator=gen)
        mean = torch.tensor([0.48145466, 0.4578275, 0.40821073])[None, :, None, None]
        std = torch.tensor([0.26862954, 0.26130258, 0.27577711])[None, :, None, None]
        pixels = (image01 - mean) / std
        words = {'style': 'style', 'content': 'content'}
        ids = {k: torch.tensor([[vocab.index('[CLS]'), vocab.index(w), vocab.index('[SEP]')]]) for k, w in words.items()}
        features = {k: blips[k].multimodal(pixels, ids[k]) for k in blips}
        tokens = {k: projs[k](features[k]) for k in blips}

        n, h, w = 2, job['size'][0], job['size'][1]
        x = torch.randn(n, c['in'], h, w, generator=gen)
        text = torch.randn(n, job['length'], c['context'], generator=gen)
        t = torch.tensor(job['timesteps'])
        outputs = {'image01': image01, 'pixels': pixels, 'latents': x, 'context': text}
        for k in blips:
            outputs[f'{k}_features'] = features[k]
            outputs[f'{k}_tokens'] = tokens[k]
        for i, case in enumerate(job['cases']):
            # row 0: classifier-free guidance's unconditional row (zero tokens); row 1: the reference
            rows = {}
            for k in blips:
                zero = torch.zeros_like(tokens[k])
                rows[k] = torch.cat([zero, tokens[k] if case[k] else zero], dim=0)
            outputs[f'eps_case{i}'] = model(x, t, (text, rows['style'], rows['content']))

    sd = OrderedDict()
    for k, val in model.state_dict().items():
        sd[f"model.diffusion_model.{k.replace('attn2.inner.', 'attn2.')}"] = val
    for k in blips:
        for name, val in blips[k].state_dict().items():
            fp16 = name.startswith('visual_encoder.') and ('conv1' in name or 'c_fc' in name or 'c_proj' in name or 'out_proj' in name)
            sd[f'{k}_blip.{name}'] = val.half() if fp16 else val
        for name, val in projs[k].state_dict().items():
            sd[f'{k}_proj_layer.{name}'] = val
    sd['ctx_embeddings_cache'] = torch.zeros(1, q['queries'], q['hidden'])
    out = job['out']
    torch.save({'state_dict': sd, 'global_step': 0}, f'{out}/deadiff.ckpt')
    with open(f'{out}/vocab.txt', 'w') as f:
        f.write('\n'.join(vocab) + '\n')
    ur.write_safetensors(f'{out}/io.safetensors', outputs)
    print(json.dumps({'ok': True, 'tensors': len(sd)}))


if __name__ == '__main__':
    main()
