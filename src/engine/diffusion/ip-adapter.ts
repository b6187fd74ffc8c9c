import { AtelierError } from '../../core/errors.js';
import type { Graph, Tensor } from '../graph/graph.js';
import { layerNorm, linear, type LinearWeights, type NormWeights } from '../nets/transformer-layers.js';
import { TensorLedger } from '../weights/tensor-ledger.js';
import type { TensorMap } from '../weights/tensor.js';
import { crossAttentionLayers, decoupledInjection, layerScales, type CrossAttentionLayer, type ImageKeyValue, type InjectionStrengths } from './decoupled-cross-attention.js';
import type { UnetConfig, UnetExtension } from './unet.js';

/**
 * IP-Adapter's published checkpoints (Ye et al. 2023; tencent-ailab/IP-Adapter, weights at
 * huggingface.co/h94/IP-Adapter) for Stable Diffusion 1.5 — ip-adapter_sd15 and
 * ip-adapter_sd15_light, as `.safetensors` or as the `.bin` that `torch.save` wrote (a dict of two
 * state dicts, which the .pth reader flattens to the same dotted names):
 *
 * - `image_proj.proj.{weight [T·C, E], bias [T·C]}` and `image_proj.norm.{weight, bias} [C]`: the
 *   CLIP image embedding (E = 1024, OpenCLIP ViT-H/14's projection) becomes T = 4 tokens of the
 *   UNet's context width C = 768 (a linear layer, reshaped to [T, C], layer-normed);
 * - `ip_adapter.N.to_k_ip.weight` and `ip_adapter.N.to_v_ip.weight` [W, C] (no bias): the image
 *   key and value of one cross-attention layer. N numbers diffusers' `unet.attn_processors`, which
 *   lists every attention of the UNet (self- and cross-, two per transformer block) down blocks
 *   first, then up blocks, then the middle; only the cross-attentions (odd N) carry weights. For
 *   SD 1.5: 1, 3 (down_blocks.0), 5, 7 (down_blocks.1), 9, 11 (down_blocks.2), 13, 15, 17
 *   (up_blocks.1), 19, 21, 23 (up_blocks.2), 25, 27, 29 (up_blocks.3), 31 (mid_block): 16 layers,
 *   36 tensors with the projection's four.
 *
 * The "plus" variants (a Perceiver resampler over the image tower's penultimate states,
 * `image_proj.latents`, `image_proj.layers.*`) and the SDXL ones are refused with that reason.
 */

export interface IpAdapterWeights {
  /** Image tokens per reference image (4 for ip-adapter_sd15). */
  tokens: number;
  /** Width of the CLIP image embedding it reads (1024: ViT-H/14's projection). */
  embedDim: number;
  /** The UNet's context width (768 for SD 1.x). */
  contextDim: number;
  projection: LinearWeights;
  norm: NormWeights;
  /** One per cross-attention layer of the UNet, in the order the graph runs them (down, middle, up). */
  layers: (ImageKeyValue & CrossAttentionLayer & { processor: number })[];
  used: string[];
}

export interface IpAdapterLoadOptions {
  subject?: string;
}

/** The processor number N of each cross-attention layer (see the file comment). */
export function processorNumbers(layers: CrossAttentionLayer[]): number[] {
  const order = [...layers.filter((l) => l.block === 'down'), ...layers.filter((l) => l.block === 'up'), ...layers.filter((l) => l.block === 'middle')];
  const numbers = new Array<number>(layers.length);
  order.forEach((l, position) => {
    numbers[l.index] = 2 * position + 1;
  });
  return numbers;
}

export function loadIpAdapter(tensors: TensorMap, unet: UnetConfig, options: IpAdapterLoadOptions = {}): IpAdapterWeights {
  const infos = [...tensors.values()].map((t) => ({ name: t.name, shape: t.shape }));
  return readIpAdapter(infos, (n) => tensors.get(n)!.data, unet, options);
}

/** Check an IP-Adapter's names and shapes against a UNet (no tensor data needed). */
export function planIpAdapter(infos: { name: string; shape: number[] }[], unet: UnetConfig, options: IpAdapterLoadOptions = {}): IpAdapterWeights {
  return readIpAdapter(infos, () => new Float32Array(0), unet, options);
}

function readIpAdapter(infos: { name: string; shape: number[] }[], data: (name: string) => Float32Array, unet: UnetConfig, options: IpAdapterLoadOptions): IpAdapterWeights {
  const subject = options.subject ?? 'the IP-Adapter checkpoint';
  const names = new Set(infos.map((i) => i.name));
  if (names.has('image_proj.latents') || [...names].some((n) => n.startsWith('image_proj.layers.'))) {
    throw new AtelierError('E_WEIGHTS_INVALID', 'This is an IP-Adapter "plus" checkpoint (a resampler over the image tower\'s patch states), which Atelier does not build', {
      subject,
      expected: 'ip-adapter_sd15 or ip-adapter_sd15_light (image_proj.proj and image_proj.norm: a linear projection of the pooled image embedding)',
      received: 'image_proj.latents / image_proj.layers.* (Perceiver resampler)',
      hint: 'use ip-adapter_sd15.safetensors (`atelier models pull ip-adapter-sd15`)',
    });
  }
  if (!names.has('image_proj.proj.weight')) {
    throw new AtelierError('E_WEIGHTS_INVALID', 'The file is not an IP-Adapter checkpoint', {
      subject,
      expected: 'image_proj.proj.weight, image_proj.norm.*, ip_adapter.N.to_k_ip.weight / to_v_ip.weight',
      received: `${infos.length} tensors, e.g. ${infos.slice(0, 4).map((i) => i.name).join(', ') || 'none'}`,
      hint: 'give ip-adapter_sd15.safetensors or ip-adapter_sd15.bin from huggingface.co/h94/IP-Adapter (models/)',
    });
  }
  const ledger = new TensorLedger(new Map(infos.map((i) => [i.name, i.shape])), data, 'IP-Adapter', subject);
  const contextDim = unet.contextDim;
  const [rows, embedDim] = ledger.shape('image_proj.proj.weight', 'image projection') as [number, number];
  const normWidth = ledger.shape('image_proj.norm.weight', 'image projection norm')[0]!;
  if (normWidth !== contextDim || rows % contextDim !== 0) {
    throw new AtelierError('E_WEIGHTS_INVALID', "The IP-Adapter was made for a UNet of another context width", {
      subject,
      expected: `image tokens ${contextDim} wide (this UNet's cross-attention reads ${contextDim}-wide context): image_proj.norm.weight [${contextDim}], image_proj.proj.weight [T·${contextDim}, E]`,
      received: `image_proj.norm.weight [${normWidth}], image_proj.proj.weight [${rows}, ${embedDim}]`,
      hint: 'use the adapter made for this base model (ip-adapter_sd15 for Stable Diffusion 1.x; the sdxl_models/ ones are for SDXL)',
    });
  }
  const tokens = rows / contextDim;
  const projection: LinearWeights = {
    weight: ledger.take('image_proj.proj.weight', [rows, embedDim]),
    bias: ledger.take('image_proj.proj.bias', [rows]),
    inFeatures: embedDim,
    outFeatures: rows,
  };
  const norm: NormWeights = { weight: ledger.take('image_proj.norm.weight', [contextDim]), bias: ledger.take('image_proj.norm.bias', [contextDim]) };
  const sites = crossAttentionLayers(unet);
  const numbers = processorNumbers(sites);
  const kv = (n: string, width: number): LinearWeights => ({ weight: ledger.take(n, [width, contextDim]), inFeatures: contextDim, outFeatures: width });
  const layers = sites.map((site, i) => {
    const p = numbers[i]!;
    return { ...site, processor: p, key: kv(`ip_adapter.${p}.to_k_ip.weight`, site.width), value: kv(`ip_adapter.${p}.to_v_ip.weight`, site.width) };
  });
  ledger.finish(() => false, `IP-Adapter of a UNet with ${sites.length} cross-attention layers (widths ${[...new Set(sites.map((s) => s.width))].join(', ')})`);
  return { tokens, embedDim, contextDim, projection, norm, layers, used: ledger.used };
}

/** The image tokens [N, T, C] of CLIP image embeddings [N, E] (IP-Adapter's ImageProjModel). */
export function ipAdapterTokens(g: Graph, w: IpAdapterWeights, embeds: Tensor, name = 'ip_adapter.image_proj'): Tensor {
  const projected = linear(g, embeds, w.projection, `${name}.proj`);
  return layerNorm(g, g.reshape(projected, [0, w.tokens, w.contextDim]), w.norm, `${name}.norm`);
}

/**
 * The UNet extension that injects a reference image: graph inputs `image_embeds` [N, E] (the CLIP
 * image embeddings of each batch row; zeros for classifier-free guidance's unconditional row, as
 * IP-Adapter was trained) and `image_scales` [layers] (`layerScales`).
 */
export class IpAdapterExtension implements UnetExtension {
  constructor(readonly weights: IpAdapterWeights) {}

  attach(g: Graph, batch: number) {
    const embeds = g.input('image_embeds', [batch, this.weights.embedDim]);
    const scales = g.input('image_scales', [this.weights.layers.length]);
    return decoupledInjection(ipAdapterTokens(g, this.weights, embeds), scales, this.weights.layers);
  }

  /** The feeds of one UNet call: each batch row's embedding and the strengths. */
  feeds(embeds: Float32Array, strengths: InjectionStrengths) {
    const rows = embeds.length / this.weights.embedDim;
    if (!Number.isInteger(rows)) {
      throw new AtelierError('E_PARAM', 'The image embeddings do not match the IP-Adapter', { expected: `a multiple of ${this.weights.embedDim} values`, received: `${embeds.length}` });
    }
    return {
      image_embeds: { data: embeds, shape: [rows, this.weights.embedDim] },
      image_scales: { data: layerScales(this.weights.layers, strengths), shape: [this.weights.layers.length] },
    };
  }
}
