import { Rng } from '../../../core/rng.js';
import type { TensorMap } from '../../weights/tensor.js';
import { loadClipWeights, type ClipTextWeights, type ClipVisionWeights } from './checkpoint.js';
import { ClipTokenizer } from './tokenizer.js';

/**
 * A tiny CLIP of seeded random values in Hugging Face `transformers`' layout (the layout of the
 * store's clip-vit-b32), read back through the same checkpoint reader as the published file, so a
 * method can run its whole CLIP path — tokenizer, text tower, image tower, gradients through it —
 * without the 600 MB download. Its features mean nothing: it is for tests and for trying the
 * pipeline (`--weights random`), never a stand-in for the real model's judgement.
 *
 * The vocabulary is OpenAI's rule with no merges: the 256 byte symbols, the same with `</w>`, and
 * the two special tokens (514 ids), so any text tokenizes (byte by byte).
 */

/** Widths are multiples of 64 so that OpenAI's head rule (width / 64) reads the file as written. */
export const TINY_CLIP = {
  text: { width: 64, layers: 1, heads: 1, context: 16 },
  vision: { width: 128, layers: 2, heads: 2, patch: 8, image: 32 },
  embed: 16,
} as const;

export interface RandomClip {
  text: ClipTextWeights;
  vision: ClipVisionWeights;
  tokenizer: ClipTokenizer;
}

/** The byte-level tokenizer of the tiny CLIP (OpenAI's merges format with a header and no merges). */
export function tinyClipTokenizer(): ClipTokenizer {
  return ClipTokenizer.fromOpenAiMerges('"bpe_simple_vocab_16e6.txt#version: 0.2\n');
}

/** The tiny CLIP's tensors, transformers' names: what a test may write to a file. */
export function tinyClipCheckpoint(seed: number, vocabSize: number): TensorMap {
  const rng = new Rng(seed);
  const map: TensorMap = new Map();
  const add = (name: string, shape: number[], kind: 'weight' | 'bias' | 'scale' | 'embedding' = 'weight') => {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? n / shape[0]! : 1;
    const draw = () => (kind === 'scale' ? 1 + 0.1 * rng.normal() : kind === 'bias' ? 0.05 * rng.normal() : kind === 'embedding' ? 0.5 * rng.normal() : rng.normal() / Math.sqrt(fanIn));
    map.set(name, { name, shape, data: Float32Array.from({ length: n }, draw) });
  };
  const norm = (name: string, width: number) => {
    add(`${name}.weight`, [width], 'scale');
    add(`${name}.bias`, [width], 'bias');
  };
  const block = (prefix: string, width: number) => {
    for (const p of ['q', 'k', 'v', 'out']) {
      add(`${prefix}self_attn.${p}_proj.weight`, [width, width]);
      add(`${prefix}self_attn.${p}_proj.bias`, [width], 'bias');
    }
    norm(`${prefix}layer_norm1`, width);
    norm(`${prefix}layer_norm2`, width);
    add(`${prefix}mlp.fc1.weight`, [4 * width, width]);
    add(`${prefix}mlp.fc1.bias`, [4 * width], 'bias');
    add(`${prefix}mlp.fc2.weight`, [width, 4 * width]);
    add(`${prefix}mlp.fc2.bias`, [width], 'bias');
  };
  const t = TINY_CLIP.text;
  add('text_model.embeddings.token_embedding.weight', [vocabSize, t.width], 'embedding');
  add('text_model.embeddings.position_embedding.weight', [t.context, t.width], 'embedding');
  for (let i = 0; i < t.layers; i++) block(`text_model.encoder.layers.${i}.`, t.width);
  norm('text_model.final_layer_norm', t.width);
  add('text_projection.weight', [TINY_CLIP.embed, t.width]);
  const v = TINY_CLIP.vision;
  const grid = v.image / v.patch;
  add('vision_model.embeddings.patch_embedding.weight', [v.width, 3, v.patch, v.patch]);
  add('vision_model.embeddings.class_embedding', [v.width], 'embedding');
  add('vision_model.embeddings.position_embedding.weight', [grid * grid + 1, v.width], 'embedding');
  norm('vision_model.pre_layrnorm', v.width);
  for (let i = 0; i < v.layers; i++) block(`vision_model.encoder.layers.${i}.`, v.width);
  norm('vision_model.post_layernorm', v.width);
  add('visual_projection.weight', [TINY_CLIP.embed, v.width]);
  return map;
}

/** The tiny random CLIP, both towers and its tokenizer, through the published reader. */
export function randomClip(seed: number): RandomClip {
  const tokenizer = tinyClipTokenizer();
  const weights = loadClipWeights(tinyClipCheckpoint(seed, tokenizer.vocabSize), {
    heads: { text: TINY_CLIP.text.heads, vision: TINY_CLIP.vision.heads },
    subject: `the tiny random CLIP (seed ${seed})`,
  });
  return { text: weights.text!, vision: weights.vision!, tokenizer };
}
