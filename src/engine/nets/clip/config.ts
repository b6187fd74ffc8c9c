import type { Activation } from '../transformer-layers.js';

/**
 * CLIP's tower sizes (Radford et al. 2021, "Learning Transferable Visual Models From Natural
 * Language Supervision", table 20 of the paper; the same numbers are in OpenAI's released
 * `clip/model.py` build rule and in the `config.json` of the Hugging Face copies
 * openai/clip-vit-base-patch32 and openai/clip-vit-large-patch14).
 *
 * Both towers use 64-wide attention heads (OpenAI's build rule: heads = width / 64), layer-norm
 * ε 1e-5 and QuickGELU. The text tower reads 77 tokens of a 49 408-token byte-level BPE vocabulary
 * with a causal mask and pools at the end-of-text token; the image tower is a ViT with a class
 * token, pre- and post-layer-norm.
 */

export interface ClipTextConfig {
  width: number;
  layers: number;
  heads: number;
  contextLength: number;
  vocabSize: number;
  /** Width of the joint embedding (the projection's output); undefined when the file has no projection. */
  embedDim?: number;
}

export interface ClipVisionConfig {
  width: number;
  layers: number;
  heads: number;
  patchSize: number;
  imageSize: number;
  embedDim?: number;
  /** The MLP's activation: QuickGELU (OpenAI's CLIP, the default) or exact GELU (OpenCLIP ViT-H/14). */
  activation?: Activation;
}

export interface ClipConfig {
  text: ClipTextConfig;
  vision: ClipVisionConfig;
}

export const CLIP_PRESETS = {
  'ViT-B/32': {
    text: { width: 512, layers: 12, heads: 8, contextLength: 77, vocabSize: 49408, embedDim: 512 },
    vision: { width: 768, layers: 12, heads: 12, patchSize: 32, imageSize: 224, embedDim: 512 },
  },
  'ViT-L/14': {
    text: { width: 768, layers: 12, heads: 12, contextLength: 77, vocabSize: 49408, embedDim: 768 },
    vision: { width: 1024, layers: 24, heads: 16, patchSize: 14, imageSize: 224, embedDim: 768 },
  },
} as const satisfies Record<string, ClipConfig>;

export type ClipPreset = keyof typeof CLIP_PRESETS;

/** OpenAI's head rule, used when a checkpoint (whose shapes do not say) comes without a head count. */
export const CLIP_HEAD_WIDTH = 64;

/** The image tower's input normalisation (OpenAI's preprocessing; the HF processors use the same). */
export const CLIP_PIXEL_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_PIXEL_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/** Special tokens of CLIP's vocabulary: the last two ids. */
export const CLIP_START_OF_TEXT = '<|startoftext|>';
export const CLIP_END_OF_TEXT = '<|endoftext|>';
