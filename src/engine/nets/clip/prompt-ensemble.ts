import { AtelierError } from '../../../core/errors.js';
import { ensembleEmbedding } from '../../losses/clip-directional.js';
import type { ClipTextWeights } from './checkpoint.js';
import { fillTemplate } from './imagenet-templates.js';
import { ClipTextEncoder } from './text-encoder.js';
import type { ClipTokenizer } from './tokenizer.js';

/**
 * Texts through CLIP's text tower by prompt ensembling (Radford et al. 2021, §3.1.4): each text in
 * every template, the projected embeddings averaged, the mean made unit. One compiled tower (batch
 * = the template count) serves all the texts.
 */
export async function promptEnsembles(
  weights: ClipTextWeights,
  tokenizer: ClipTokenizer,
  texts: readonly string[],
  templates: readonly string[],
  threads: number,
): Promise<Float64Array[]> {
  if (!weights.projection) {
    throw new AtelierError('E_WEIGHTS_INVALID', 'The CLIP text tower has no projection', {
      expected: 'a CLIP checkpoint with text_projection (the joint image–text space)',
      hint: 'use a full CLIP checkpoint such as clip-vit-b32, not a text encoder alone',
    });
  }
  const encoder = await ClipTextEncoder.create(weights, { batch: templates.length, threads });
  try {
    const out: Float64Array[] = [];
    for (const text of texts) {
      const rows = templates.map((t) => tokenizer.encode(fillTemplate(t, text), { contextLength: weights.config.contextLength, pad: 'zero' }));
      const { embeds } = await encoder.encode(rows);
      out.push(ensembleEmbedding(embeds!, templates.length));
    }
    return out;
  } finally {
    await encoder.release();
  }
}
