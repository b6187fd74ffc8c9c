import { loadClipWeights, type ClipVisionWeights } from '../nets/clip/checkpoint.js';
import type { TensorMap } from '../weights/tensor.js';
import { crossAttentionLayers } from './decoupled-cross-attention.js';
import { loadIpAdapter, processorNumbers, type IpAdapterWeights } from './ip-adapter.js';
import { seededTensors, type SeededTensorKind } from './random-checkpoint.js';
import type { UnetConfig } from './unet.js';

/**
 * A tiny IP-Adapter and image tower of seeded random values for a given UNet, in the published
 * layouts (image_proj.* + ip_adapter.N.* as h94/IP-Adapter's files; the image tower as
 * transformers' CLIPVisionModelWithProjection, exact GELU like OpenCLIP's ViT-H/14), so that
 * `--adapter random` runs reference-image injection end to end through the same readers, in a
 * second. Untrained: the injection changes the output, it carries no style.
 */

export const TINY_IMAGE_TOWER = { width: 32, layers: 1, heads: 2, patch: 8, image: 32, embed: 24, tokens: 2 } as const;

function randomTensors(seed: number, build: (add: (name: string, shape: number[], kind?: SeededTensorKind) => void) => void): TensorMap {
  const { map, add } = seededTensors(seed);
  build(add);
  return map;
}

/** The adapter's tensors for `unet`, in IP-Adapter's names. */
export function tinyIpAdapterCheckpoint(seed: number, unet: UnetConfig): TensorMap {
  const t = TINY_IMAGE_TOWER;
  const layers = crossAttentionLayers(unet);
  const numbers = processorNumbers(layers);
  return randomTensors(seed, (add) => {
    add('image_proj.proj.weight', [t.tokens * unet.contextDim, t.embed]);
    add('image_proj.proj.bias', [t.tokens * unet.contextDim], 'bias');
    add('image_proj.norm.weight', [unet.contextDim], 'scale');
    add('image_proj.norm.bias', [unet.contextDim], 'bias');
    layers.forEach((l, i) => {
      add(`ip_adapter.${numbers[i]}.to_k_ip.weight`, [l.width, unet.contextDim]);
      add(`ip_adapter.${numbers[i]}.to_v_ip.weight`, [l.width, unet.contextDim]);
    });
  });
}

/** The image tower's tensors, in transformers' CLIPVisionModelWithProjection names. */
export function tinyImageTowerCheckpoint(seed: number): TensorMap {
  const t = TINY_IMAGE_TOWER;
  const grid = t.image / t.patch;
  return randomTensors(seed, (add) => {
    const v = 'vision_model.';
    add(`${v}embeddings.class_embedding`, [t.width], 'bias');
    add(`${v}embeddings.patch_embedding.weight`, [t.width, 3, t.patch, t.patch]);
    add(`${v}embeddings.position_embedding.weight`, [grid * grid + 1, t.width], 'bias');
    add(`${v}pre_layrnorm.weight`, [t.width], 'scale');
    add(`${v}pre_layrnorm.bias`, [t.width], 'bias');
    for (let i = 0; i < t.layers; i++) {
      const b = `${v}encoder.layers.${i}.`;
      for (const p of ['q', 'k', 'v', 'out']) {
        add(`${b}self_attn.${p}_proj.weight`, [t.width, t.width]);
        add(`${b}self_attn.${p}_proj.bias`, [t.width], 'bias');
      }
      for (const n of ['layer_norm1', 'layer_norm2']) {
        add(`${b}${n}.weight`, [t.width], 'scale');
        add(`${b}${n}.bias`, [t.width], 'bias');
      }
      add(`${b}mlp.fc1.weight`, [4 * t.width, t.width]);
      add(`${b}mlp.fc1.bias`, [4 * t.width], 'bias');
      add(`${b}mlp.fc2.weight`, [t.width, 4 * t.width]);
      add(`${b}mlp.fc2.bias`, [t.width], 'bias');
    }
    add(`${v}post_layernorm.weight`, [t.width], 'scale');
    add(`${v}post_layernorm.bias`, [t.width], 'bias');
    add('visual_projection.weight', [t.embed, t.width]);
  });
}

/** The tiny random adapter and its image tower, through the published readers. */
export function randomIpAdapter(seed: number, unet: UnetConfig): { adapter: IpAdapterWeights; encoder: ClipVisionWeights } {
  return {
    adapter: loadIpAdapter(tinyIpAdapterCheckpoint(seed, unet), unet, { subject: 'the random IP-Adapter' }),
    encoder: loadClipWeights(tinyImageTowerCheckpoint(seed + 1), { towers: ['vision'], heads: { vision: TINY_IMAGE_TOWER.heads }, visionActivation: 'gelu' }).vision!,
  };
}
