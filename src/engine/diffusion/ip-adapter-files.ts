import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { loadClipWeights, type ClipVisionWeights } from '../nets/clip/checkpoint.js';
import type { Activation } from '../nets/transformer-layers.js';
import { readWeights } from '../weights/read.js';
import { loadIpAdapter, type IpAdapterWeights } from './ip-adapter.js';
import type { UnetConfig } from './unet.js';

/**
 * IP-Adapter from its published files, laid out as h94/IP-Adapter's `models/` folder has them:
 * the adapter (`ip-adapter_sd15.safetensors` or `.bin`) with `image_encoder/` beside it, the image
 * tower as transformers' CLIPVisionModelWithProjection (`model.safetensors` or `pytorch_model.bin`,
 * and `config.json`). That tower is OpenCLIP's ViT-H/14 (laion2B): 32 layers 1280 wide, 16 heads of
 * 80 (not OpenAI's width / 64), exact GELU, a 1024-wide projection; the heads and the activation
 * are read from config.json (`num_attention_heads`, `hidden_act`) and default to ViT-H/14's.
 */

const ENCODER_FILES = ['model.safetensors', 'pytorch_model.bin'];
/** OpenCLIP ViT-H/14, as models/image_encoder/config.json gives it. */
const VIT_H14 = { heads: 16, activation: 'gelu' as Activation };

export interface ReferenceWeights {
  adapter: IpAdapterWeights;
  encoder: ClipVisionWeights;
}

function encoderShape(dir: string): { heads: number; activation: Activation } {
  const file = path.join(dir, 'config.json');
  if (!existsSync(file)) return VIT_H14;
  let config: Record<string, unknown>;
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    config = (raw.vision_config as Record<string, unknown> | undefined) ?? raw;
  } catch (cause) {
    throw new AtelierError('E_WEIGHTS_INVALID', "The image encoder's config.json is not JSON", { subject: file, cause, hint: 'download it again with the model' });
  }
  const act = config.hidden_act;
  if (act !== undefined && act !== 'gelu' && act !== 'quick_gelu') {
    throw new AtelierError('E_WEIGHTS_INVALID', "The image encoder's activation is not one CLIP towers use", { subject: file, expected: 'hidden_act "gelu" or "quick_gelu"', received: String(act) });
  }
  const heads = typeof config.num_attention_heads === 'number' ? config.num_attention_heads : VIT_H14.heads;
  return { heads, activation: (act as Activation | undefined) ?? VIT_H14.activation };
}

/** Read an IP-Adapter file and the image tower in `image_encoder/` beside it, for `unet`. */
export async function readIpAdapterFiles(adapterFile: string, unet: UnetConfig): Promise<ReferenceWeights> {
  if (!existsSync(adapterFile) || statSync(adapterFile).isDirectory()) {
    throw new AtelierError('E_FILE_NOT_FOUND', 'No IP-Adapter file there', {
      subject: adapterFile,
      expected: 'an IP-Adapter checkpoint such as ip-adapter_sd15.safetensors (or .bin), with image_encoder/ beside it',
      hint: 'install the published one with `atelier models pull ip-adapter-sd15`',
    });
  }
  const dir = path.join(path.dirname(adapterFile), 'image_encoder');
  const encoderFile = ENCODER_FILES.map((f) => path.join(dir, f)).find((f) => existsSync(f));
  if (!encoderFile) {
    throw new AtelierError('E_FILE_NOT_FOUND', 'No image encoder beside the IP-Adapter', {
      subject: adapterFile,
      expected: `${dir}/model.safetensors (or pytorch_model.bin) and config.json: the image_encoder/ folder of h94/IP-Adapter's models/`,
      hint: 'copy the image_encoder/ folder next to the adapter, or install both with `atelier models pull ip-adapter-sd15`',
    });
  }
  const adapter = loadIpAdapter(await readWeights(adapterFile), unet, { subject: adapterFile });
  const { heads, activation } = encoderShape(dir);
  const encoder = loadClipWeights(await readWeights(encoderFile), { towers: ['vision'], heads: { vision: heads }, visionActivation: activation, subject: encoderFile }).vision!;
  if (encoder.config.embedDim !== adapter.embedDim) {
    throw new AtelierError('E_WEIGHTS_INVALID', 'The image encoder does not give the embedding the IP-Adapter reads', {
      subject: encoderFile,
      expected: `a ${adapter.embedDim}-wide image embedding (image_proj.proj.weight is [${adapter.tokens * adapter.contextDim}, ${adapter.embedDim}])`,
      received: encoder.config.embedDim === undefined ? 'a tower without a visual projection' : `${encoder.config.embedDim}-wide`,
      hint: 'ip-adapter_sd15 reads OpenCLIP ViT-H/14 (models/image_encoder); the vit-G adapter reads ViT-bigG (sdxl_models/image_encoder)',
    });
  }
  return { adapter, encoder };
}
