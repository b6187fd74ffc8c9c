"""PyTorch reference for diffusion LoRA files (Hu et al. 2021), for lora.test.ts.

Builds unet_reference.py's tiny UNet with seeded weights and a tiny text-encoder weight set in
transformers' names, then LoRA pairs (down [r, in(, kh, kw)], up [out, r(, 1, 1)]) for modules
named by their diffusers / transformers paths, written in three layouts:
- kohya.safetensors: lora_unet_<path with _>.lora_down.weight / .lora_up.weight / .alpha, and
  lora_te_<path with _> for the text encoder; includes a 3x3 conv pair (LoCon) and a 1x1 conv pair;
- peft.safetensors: unet.<path>.lora_A.weight / .lora_B.weight, text_encoder.<path>...; alpha in
  the metadata lora_adapter_metadata {"unet.lora_alpha": ..., "text_encoder.lora_alpha": ...};
- legacy.bin (torch.save): <path>.processor.to_q_lora.down.weight ... (diffusers' old attention
  processors, to_out_lora for to_out.0).
The UNet step is run with W' = W + w (alpha / r) up @ down merged into the weights for each file
alone and for a weighted stack, and the merged text weights are written for comparison.

With "mode": "train" in the job it instead computes one LoRA training step of the same UNet in
float64 (train_step): the loss mean((eps(z_t, t, c) - noise)^2) with the chosen attention
projections reading W + (alpha / r) up @ down, and its gradients with respect to every down and up.

Usage: python3 lora_reference.py job.json
"""
import importlib.util
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


unet_ref = load('unet_reference', os.path.join(HERE, 'unet_reference.py'))


def write_safetensors(path, tensors, metadata=None):
    import struct
    header, blobs, offset = {}, [], 0
    if metadata:
        header['__metadata__'] = metadata
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


def randomise_unet(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=gen)
            if ('norm' in name or 'in_layers.0' in name or 'out_layers.0' in name or name.startswith('out.0')) and name.endswith('weight'):
                p.copy_(1 + 0.2 * r)
            elif name.endswith('bias'):
                p.copy_(0.1 * r)
            else:
                p.copy_(r / p[0].numel() ** 0.5)


def text_weights(gen, width, layers, vocab, length):
    """A CLIPTextModel state dict in transformers' names (values only; no forward is needed here)."""
    sd = {}

    def add(name, shape, kind='w'):
        r = torch.randn(*shape, generator=gen)
        sd[name] = 1 + 0.1 * r if kind == 'scale' else 0.05 * r if kind == 'bias' else r / (shape[-1] ** 0.5 if len(shape) > 1 else 1)

    add('text_model.embeddings.token_embedding.weight', (vocab, width))
    add('text_model.embeddings.position_embedding.weight', (length, width))
    for i in range(layers):
        p = f'text_model.encoder.layers.{i}.'
        for q in ('q', 'k', 'v', 'out'):
            add(f'{p}self_attn.{q}_proj.weight', (width, width))
            add(f'{p}self_attn.{q}_proj.bias', (width,), 'bias')
        for n in ('layer_norm1', 'layer_norm2'):
            add(f'{p}{n}.weight', (width,), 'scale')
            add(f'{p}{n}.bias', (width,), 'bias')
        add(f'{p}mlp.fc1.weight', (4 * width, width))
        add(f'{p}mlp.fc1.bias', (4 * width,), 'bias')
        add(f'{p}mlp.fc2.weight', (width, 4 * width))
        add(f'{p}mlp.fc2.bias', (width,), 'bias')
    add('text_model.final_layer_norm.weight', (width,), 'scale')
    add('text_model.final_layer_norm.bias', (width,), 'bias')
    return sd


def pair(gen, weight, rank, strength):
    """down [r, in(, kh, kw)], up [out, r(, 1, 1)] sized so that the update is `strength` of W's scale."""
    out, fan = weight.shape[0], weight[0].numel()
    down = torch.randn((rank,) + tuple(weight.shape[1:]), generator=gen) / fan ** 0.5
    up = strength * torch.randn((out, rank) + (1, 1) * (weight.dim() == 4), generator=gen) / rank ** 0.5
    return down, up


def delta(down, up, shape):
    return (up.reshape(up.shape[0], -1) @ down.reshape(down.shape[0], -1)).reshape(shape)


def main():
    job = json.load(open(sys.argv[1]))
    if job.get('mode') == 'train':
        return train_step(job)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(job['seed'])
    c = job['config']
    model = unet_ref.UNet(c).eval()
    randomise_unet(model, gen)
    ldm = {k: v.detach().clone() for k, v in model.state_dict().items()}
    by_diffusers = unet_ref.diffusers_names({k: k for k in ldm}, c)  # diffusers name -> original name
    text = text_weights(gen, job['text']['width'], job['text']['layers'], job['text']['vocab'], job['text']['length'])

    n, (h, w) = job['batch'], job['size']
    x = torch.randn(n, c['in'], h, w, generator=gen)
    context = torch.randn(n, job['length'], c['context'], generator=gen)
    t = torch.tensor(job['timesteps'])

    files = {}
    for spec in job['files']:
        layers = []
        for module, rank, alpha in spec['unet']:
            weight = ldm[by_diffusers[module + '.weight']]
            down, up = pair(gen, weight, rank, job['strength'])
            layers.append(('unet', module, down, up, alpha))
        for module, rank, alpha in spec.get('text', []):
            down, up = pair(gen, text[module + '.weight'], rank, job['strength'])
            layers.append(('text', module, down, up, alpha))
        files[spec['name']] = (spec, layers)

        tensors, meta = {}, None
        if spec['layout'] == 'kohya':
            for comp, module, down, up, alpha in layers:
                key = ('lora_unet_' if comp == 'unet' else 'lora_te_') + module.replace('.', '_')
                tensors[f'{key}.lora_down.weight'] = down
                tensors[f'{key}.lora_up.weight'] = up
                if alpha is not None:
                    tensors[f'{key}.alpha'] = torch.tensor(float(alpha))
            write_safetensors(os.path.join(job['out'], spec['name']), tensors)
        elif spec['layout'] == 'peft':
            for comp, module, down, up, alpha in layers:
                p = 'unet.' if comp == 'unet' else 'text_encoder.'
                tensors[f'{p}{module}.lora_A.weight'] = down
                tensors[f'{p}{module}.lora_B.weight'] = up
            alphas = {f'{k}.lora_alpha': v for k, v in spec['metadataAlpha'].items()}
            write_safetensors(os.path.join(job['out'], spec['name']), tensors, {'lora_adapter_metadata': json.dumps(alphas)})
        else:  # legacy attention processors, torch.save
            for comp, module, down, up, alpha in layers:
                parent, proj = module.rsplit('.', 1) if not module.endswith('to_out.0') else (module[: -len('.to_out.0')], 'to_out')
                tensors[f'{parent}.processor.{proj}_lora.down.weight'] = down.contiguous()
                tensors[f'{parent}.processor.{proj}_lora.up.weight'] = up.contiguous()
            torch.save(tensors, os.path.join(job['out'], spec['name']))

    def scale_of(spec, comp, rank, alpha):
        if alpha is not None:
            return alpha / rank
        if spec['layout'] == 'peft':
            a = spec['metadataAlpha'].get('unet' if comp == 'unet' else 'text_encoder')
            if a is not None:
                return a / rank
        return 1.0

    def merged(stack):
        """(unet state dict, text state dict) with W + sum w (alpha / r) up down."""
        u = {k: v.clone() for k, v in ldm.items()}
        te = {k: v.clone() for k, v in text.items()}
        for name, weight in stack:
            spec, layers = files[name]
            for comp, module, down, up, alpha in layers:
                s = weight * scale_of(spec, comp, down.shape[0], alpha)
                if comp == 'unet':
                    k = by_diffusers[module + '.weight']
                    u[k] = u[k] + s * delta(down, up, u[k].shape)
                else:
                    k = module + '.weight'
                    te[k] = te[k] + s * delta(down, up, te[k].shape)
        return u, te

    out = {'latents': x, 'context': context}
    with torch.no_grad():
        out['eps.base'] = model(x, t, context)
        for i, stack in enumerate(job['stacks']):
            u, te = merged(stack)
            model.load_state_dict(u)
            out[f'eps.stack{i}'] = model(x, t, context)
            for k in job['textProbe']:
                out[f'text.stack{i}.{k}'] = te[k]
    write_safetensors(os.path.join(job['out'], 'unet.safetensors'), {f'model.diffusion_model.{k}': v for k, v in ldm.items()})
    write_safetensors(os.path.join(job['out'], 'unet-diffusers.safetensors'), unet_ref.diffusers_names(ldm, c))
    write_safetensors(os.path.join(job['out'], 'text.safetensors'), text)
    write_safetensors(os.path.join(job['out'], 'io.safetensors'), out)
    print(json.dumps({'ok': True}))




def train_step(job):
    """One LoRA training step's loss and gradients (float64): loss = mean((eps(z_t, t, c) - noise)^2)
    with the chosen Linear layers reading W + (alpha / r) up @ down."""
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(job['seed'])
    c = job['config']
    model = unet_ref.UNet(c).eval()
    randomise_unet(model, gen)
    ldm = {k: v.detach().clone() for k, v in model.state_dict().items()}
    by_diffusers = unet_ref.diffusers_names({k: k for k in ldm}, c)
    model = model.double()
    # the reference builds the sinusoidal embedding in float32: its first linear layer takes it to float64
    first = model.time_embed[0]
    first.forward = lambda x, m=first: torch.nn.functional.linear(x.double(), m.weight, m.bias)
    r, s = job['rank'], job['alpha'] / job['rank']
    pairs = {}
    for path in job['targets']:
        module = model.get_submodule(by_diffusers[path + '.weight'][: -len('.weight')])
        out, inn = module.weight.shape
        down = (torch.randn(r, inn, generator=gen) / inn ** 0.5).double().requires_grad_()
        up = (job['upScale'] * torch.randn(out, r, generator=gen) / r ** 0.5).double().requires_grad_()
        key = 'lora_unet_' + path.replace('.', '_')
        pairs[key] = (down, up)

        def forward(x, m=module, d=down, u=up):
            return torch.nn.functional.linear(x, m.weight + s * (u @ d), m.bias)
        module.forward = forward
    for p in model.parameters():
        p.requires_grad_(False)
    n, (h, w) = job['batch'], job['size']
    noisy = torch.randn(n, c['in'], h, w, generator=gen)
    noise = torch.randn(n, c['out'], h, w, generator=gen)
    context = torch.randn(n, job['length'], c['context'], generator=gen)
    t = torch.tensor(job['timesteps'])
    eps = model(noisy.double(), t, context.double())
    loss = ((eps - noise.double()) ** 2).mean()
    loss.backward()
    out = job['out']
    write_safetensors(os.path.join(out, 'train-unet.safetensors'), {f'model.diffusion_model.{k}': v for k, v in ldm.items()})
    init = {}
    io = {'noisy': noisy, 'noise': noise, 'context': context, 'loss': loss.detach().reshape(1)}
    for key, (down, up) in pairs.items():
        init[f'{key}.lora_down.weight'] = down.detach()
        init[f'{key}.lora_up.weight'] = up.detach()
        init[f'{key}.alpha'] = torch.tensor(float(job['alpha']))
        io[f'grad.{key}.lora_down.weight'] = down.grad
        io[f'grad.{key}.lora_up.weight'] = up.grad
    write_safetensors(os.path.join(out, 'train-init.safetensors'), init)
    write_safetensors(os.path.join(out, 'train-io.safetensors'), io)
    print(json.dumps({'ok': True, 'loss': loss.item()}))


if __name__ == '__main__':
    main()
