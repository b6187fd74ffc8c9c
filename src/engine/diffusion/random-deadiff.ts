import { WordPieceTokenizer } from '../nets/blip2/wordpiece-tokenizer.js';
import type { TensorMap } from '../weights/tensor.js';
import { DEADIFF_GROUPS } from './deadiff.js';
import { crossAttentionLayers } from './decoupled-cross-attention.js';
import { seededTensors, TINY_SD } from './random-checkpoint.js';
import { planUnetCheckpoint } from './unet.js';

/**
 * A tiny DEADiff checkpoint of seeded random values in DEADiff's key layout, on top of the tiny
 * random Stable Diffusion (`random-checkpoint.ts`): the UNet's `attn2.i_to_k` / `i_to_v`, two LAVIS
 * Blip2Qformers (`style_blip.`, `content_blip.`: a 1-block image tower without post-norm,
 * `ln_vision`, a 1-layer BERT with cross-attention, 2 query tokens) and the two projections, so
 * that `diffusion.img2img --weights random-deadiff` runs the whole DEADiff path — WordPiece
 * tokenizer, image tower, Q-Formers, projections, joint attention — through the published readers
 * in a second. Untrained: the reference changes the output, it carries no style. The numerics are
 * proven against PyTorch in test/engine/diffusion/deadiff.test.ts.
 */

export const TINY_DEADIFF = {
  vision: { width: 16, layers: 1, heads: 2, patch: 8, image: 32 },
  qformer: { heads: 2, intermediate: 64, layers: 1, queries: 2, positions: 8 },
  /** A WordPiece vocabulary in BERT's order with DEADiff's two words. */
  vocabulary: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'style', 'content'],
} as const;

/** What the shapes do not say about the tiny DEADiff, as reader options. */
export const TINY_DEADIFF_SHAPE = {
  heads: TINY_SD.unet.heads,
  groups: TINY_SD.unet.groups,
  qformer: { heads: TINY_DEADIFF.qformer.heads, visionHeads: TINY_DEADIFF.vision.heads },
};

export function tinyDeadiffTokenizer(): WordPieceTokenizer {
  return WordPieceTokenizer.fromVocabulary(TINY_DEADIFF.vocabulary);
}

/** The DEADiff-only tensors (image keys/values, Q-Formers, projections) for the tiny SD's UNet. */
export function tinyDeadiffExtras(seed: number, sd: TensorMap): TensorMap {
  const { map, add } = seededTensors(seed);
  const unet = planUnetCheckpoint([...sd.values()].map((t) => ({ name: t.name, shape: t.shape })), { heads: TINY_SD.unet.heads, groups: TINY_SD.unet.groups }).config;
  const c = unet.contextDim;
  for (const l of crossAttentionLayers(unet)) {
    add(`model.diffusion_model.${l.ldmName}.i_to_k.weight`, [l.width, c]);
    add(`model.diffusion_model.${l.ldmName}.i_to_v.weight`, [l.width, c]);
  }
  const v = TINY_DEADIFF.vision;
  const q = TINY_DEADIFF.qformer;
  const linear = (name: string, inF: number, outF: number) => {
    add(`${name}.weight`, [outF, inF]);
    add(`${name}.bias`, [outF], 'bias');
  };
  const norm = (name: string, width: number) => {
    add(`${name}.weight`, [width], 'scale');
    add(`${name}.bias`, [width], 'bias');
  };
  for (const group of DEADIFF_GROUPS) {
    const b = `${group}_blip.`;
    const ve = `${b}visual_encoder.`;
    const grid = v.image / v.patch;
    add(`${ve}conv1.weight`, [v.width, 3, v.patch, v.patch]);
    add(`${ve}class_embedding`, [v.width], 'bias');
    add(`${ve}positional_embedding`, [grid * grid + 1, v.width], 'bias');
    norm(`${ve}ln_pre`, v.width);
    for (let i = 0; i < v.layers; i++) {
      const r = `${ve}transformer.resblocks.${i}.`;
      norm(`${r}ln_1`, v.width);
      add(`${r}attn.in_proj_weight`, [3 * v.width, v.width]);
      add(`${r}attn.in_proj_bias`, [3 * v.width], 'bias');
      linear(`${r}attn.out_proj`, v.width, v.width);
      norm(`${r}ln_2`, v.width);
      linear(`${r}mlp.c_fc`, v.width, 4 * v.width);
      linear(`${r}mlp.c_proj`, 4 * v.width, v.width);
    }
    norm(`${b}ln_vision`, v.width);
    add(`${b}query_tokens`, [1, q.queries, c], 'bias');
    const e = `${b}Qformer.bert.embeddings.`;
    add(`${e}word_embeddings.weight`, [TINY_DEADIFF.vocabulary.length + 1, c], 'bias');
    add(`${e}position_embeddings.weight`, [q.positions, c], 'bias');
    norm(`${e}LayerNorm`, c);
    for (let i = 0; i < q.layers; i++) {
      const l = `${b}Qformer.bert.encoder.layer.${i}.`;
      for (const [part, kv] of [['attention', c], ['crossattention', v.width]] as const) {
        linear(`${l}${part}.self.query`, c, c);
        linear(`${l}${part}.self.key`, kv, c);
        linear(`${l}${part}.self.value`, kv, c);
        linear(`${l}${part}.output.dense`, c, c);
        norm(`${l}${part}.output.LayerNorm`, c);
      }
      for (const [inner, outer] of [['intermediate', 'output'], ['intermediate_query', 'output_query']]) {
        linear(`${l}${inner}.dense`, c, q.intermediate);
        linear(`${l}${outer}.dense`, q.intermediate, c);
        norm(`${l}${outer}.LayerNorm`, c);
      }
    }
    const p = `${group}_proj_layer.`;
    norm(`${p}LayerNorm`, c);
    linear(`${p}dense1`, c, 4 * c);
    linear(`${p}dense2`, 4 * c, c);
  }
  return map;
}
