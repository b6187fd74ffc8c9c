import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { WordPieceTokenizer } from '../nets/blip2/wordpiece-tokenizer.js';
import { loadClipWeights } from '../nets/clip/checkpoint.js';
import { ClipTokenizer } from '../nets/clip/tokenizer.js';
import { readWeights } from '../weights/read.js';
import type { TensorMap } from '../weights/tensor.js';
import { isDeadiffCheckpoint, loadDeadiff } from './deadiff.js';
import type { DiffusionParts } from './pipeline.js';
import { tinyStableDiffusionCheckpoint, TINY_SD } from './random-checkpoint.js';
import { tinyDeadiffExtras, tinyDeadiffTokenizer, TINY_DEADIFF_SHAPE } from './random-deadiff.js';
import { loadUnetWeights } from './unet.js';
import { loadVaeWeights } from './vae.js';

/**
 * Stable Diffusion 1.x from its published files, in either layout:
 * - the original single file (v1-5-pruned-emaonly.safetensors / .ckpt): the text tower under
 *   `cond_stage_model.transformer.`, the UNet under `model.diffusion_model.`, the VAE under
 *   `first_stage_model.`; the single file has no tokenizer, so CLIP's vocabulary is read from a
 *   `tokenizer/` folder beside it (vocab.json + merges.txt, as the diffusers repository has it);
 * - the diffusers folder: `tokenizer/`, `text_encoder/model.safetensors`,
 *   `unet/diffusion_pytorch_model.safetensors`, `vae/diffusion_pytorch_model.safetensors`
 *   (or their .bin twins).
 * SD 1.x's CLIP is ViT-L/14's text tower (12 heads of 64), its UNet has 8 heads, its group norms 32
 * groups: those are the defaults of the readers.
 *
 * A DEADiff checkpoint (deadiff_v1.ckpt: a single file whose UNet has `attn2.i_to_k` / `i_to_v`,
 * with its two Q-Formers and projections, `deadiff.ts`) reads as SD 1.5 plus `deadiff`; its
 * Q-Formers' WordPiece vocabulary (bert-base-uncased's vocab.txt, which the file does not carry)
 * is read from `vocab.txt` beside the file, or from `wordPieceVocabulary`.
 */

const FOLDER_FILES = {
  text: ['text_encoder/model.safetensors', 'text_encoder/pytorch_model.bin'],
  unet: ['unet/diffusion_pytorch_model.safetensors', 'unet/diffusion_pytorch_model.bin'],
  vae: ['vae/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.bin'],
};

function firstExisting(dir: string, candidates: string[], what: string): string {
  for (const c of candidates) if (existsSync(path.join(dir, c))) return path.join(dir, c);
  throw new AtelierError('E_FILE_NOT_FOUND', `The diffusers folder has no ${what}`, {
    subject: dir,
    expected: candidates.join(' or '),
    hint: 'give the whole folder of a diffusers Stable Diffusion 1.x repository, or its single .safetensors file',
  });
}

function tokenizerBeside(dir: string, subject: string): ClipTokenizer {
  const folder = path.join(dir, 'tokenizer');
  if (!existsSync(folder)) {
    throw new AtelierError('E_FILE_NOT_FOUND', 'No CLIP tokenizer beside the Stable Diffusion checkpoint', {
      subject,
      expected: `${folder} with vocab.json and merges.txt (the tokenizer/ folder of the diffusers repository)`,
      hint: 'a single-file checkpoint carries no vocabulary: copy the tokenizer/ folder of stable-diffusion-v1-5 next to it, or install the model with `atelier models pull sd15`',
    });
  }
  return ClipTokenizer.fromFiles(folder);
}

/** What the shapes do not say, for checkpoints other than SD 1.x's (defaults: SD 1.x's). */
export interface StableDiffusionShape {
  textHeads?: number;
  unetHeads?: number;
  unetGroups?: number;
  vaeGroups?: number;
  /** A DEADiff checkpoint's Q-Former heads and their image towers' (default width / 64). */
  qformerHeads?: number;
  qformerVisionHeads?: number;
  /** BERT's vocab.txt for a DEADiff checkpoint without one beside it. */
  wordPieceVocabulary?: string;
  /** CLIP ViT-L/14 (a CLIP checkpoint file) for a DEADiff checkpoint saved without its Q-Formers' frozen image towers. */
  clipVisionTower?: string;
}

function wordPieceBeside(file: string, fallback: string | undefined): WordPieceTokenizer {
  const beside = path.join(path.dirname(file), 'vocab.txt');
  if (existsSync(beside)) return WordPieceTokenizer.fromFile(beside);
  if (fallback !== undefined) return WordPieceTokenizer.fromFile(fallback);
  throw new AtelierError('E_WEIGHTS_MISSING', "No WordPiece vocabulary for the DEADiff checkpoint's Q-Formers", {
    subject: file,
    expected: `${beside} (bert-base-uncased's vocab.txt), which the checkpoint does not carry`,
    hint: 'install the whole model with `atelier models pull deadiff --accept-licence`, or `atelier models pull bert-base-uncased`, or copy bert-base-uncased\'s vocab.txt next to the checkpoint',
  });
}

/** SD 1.x's parts from one file's tensors; a DEADiff checkpoint also gives its Q-Formers. */
async function singleFileParts(tensors: TensorMap, source: string, shape: StableDiffusionShape, tokenizer: ClipTokenizer, wordPiece: () => WordPieceTokenizer): Promise<DiffusionParts> {
  const heads = shape.textHeads === undefined ? {} : { heads: { text: shape.textHeads } };
  const unetOptions = { subject: source, heads: shape.unetHeads, groups: shape.unetGroups };
  const text = loadClipWeights(tensors, { towers: ['text'], subject: source, ...heads }).text!;
  const vae = loadVaeWeights(tensors, { subject: source, groups: shape.vaeGroups });
  if (!isDeadiffCheckpoint(tensors.keys())) return { text, unet: loadUnetWeights(tensors, unetOptions), vae, tokenizer };
  const withoutTower = ![...tensors.keys()].some((n) => n.startsWith('style_blip.visual_encoder.'));
  const visionTower = withoutTower && shape.clipVisionTower !== undefined ? loadClipWeights(await readWeights(shape.clipVisionTower), { towers: ['vision'], subject: shape.clipVisionTower }).vision : undefined;
  const qformer = {
    ...(shape.qformerHeads !== undefined && { heads: shape.qformerHeads }),
    ...(shape.qformerVisionHeads !== undefined && { visionHeads: shape.qformerVisionHeads }),
    ...(visionTower && { visionTower }),
  };
  const weights = loadDeadiff(tensors, { ...unetOptions, qformer });
  return { text, unet: weights.unet, vae, tokenizer, deadiff: { weights, tokenizer: wordPiece() } };
}

/** Read SD 1.x from a single file or a diffusers folder. */
export async function readStableDiffusion(source: string, shape: StableDiffusionShape = {}): Promise<DiffusionParts> {
  const heads = shape.textHeads === undefined ? {} : { heads: { text: shape.textHeads } };
  const unetOptions = { heads: shape.unetHeads, groups: shape.unetGroups };
  const vaeOptions = { groups: shape.vaeGroups };
  if (!existsSync(source)) throw new AtelierError('E_FILE_NOT_FOUND', 'No Stable Diffusion checkpoint there', { subject: source, expected: 'a .safetensors/.ckpt single file or a diffusers folder' });
  if (statSync(source).isDirectory()) {
    const textFile = firstExisting(source, FOLDER_FILES.text, 'text encoder');
    const unetFile = firstExisting(source, FOLDER_FILES.unet, 'UNet');
    const vaeFile = firstExisting(source, FOLDER_FILES.vae, 'VAE');
    const text = loadClipWeights(await readWeights(textFile), { towers: ['text'], subject: textFile, ...heads }).text!;
    const unet = loadUnetWeights(await readWeights(unetFile), { subject: unetFile, ...unetOptions });
    const vae = loadVaeWeights(await readWeights(vaeFile), { subject: vaeFile, ...vaeOptions });
    return { text, unet, vae, tokenizer: tokenizerBeside(source, source) };
  }
  const tokenizer = tokenizerBeside(path.dirname(source), source);
  const tensors = await readWeights(source);
  const parts = await singleFileParts(tensors, source, shape, tokenizer, () => wordPieceBeside(source, shape.wordPieceVocabulary));
  tensors.clear();
  return parts;
}

/** A tiny vocabulary in OpenAI's merges form: the byte symbols and a few merges. */
const TINY_MERGES = '"bpe_simple_vocab_16e6.txt#version: 0.2\nt h\nth e</w>\no i\noi l</w>\np a\npa i\npai n\npain t\npaint i\npainti n\npaintin g</w>\n';

/** The tiny random DEADiff of `random-deadiff.ts` (the tiny SD with DEADiff's parts), through the same readers. */
export function randomDeadiff(seed: number): Promise<DiffusionParts> {
  const tokenizer = ClipTokenizer.fromOpenAiMerges(TINY_MERGES);
  const tensors = tinyDeadiffCheckpoint(seed, tokenizer.vocabSize);
  const shape = { textHeads: TINY_SD.text.heads, unetHeads: TINY_SD.unet.heads, unetGroups: TINY_SD.unet.groups, vaeGroups: TINY_SD.vae.groups, qformerHeads: TINY_DEADIFF_SHAPE.qformer.heads, qformerVisionHeads: TINY_DEADIFF_SHAPE.qformer.visionHeads };
  return singleFileParts(tensors, 'the random DEADiff', shape, tokenizer, tinyDeadiffTokenizer);
}

/** The tiny random DEADiff's single file: the tiny SD checkpoint and DEADiff's tensors. */
export function tinyDeadiffCheckpoint(seed: number, vocabSize: number): TensorMap {
  const sd = tinyStableDiffusionCheckpoint(seed, vocabSize);
  for (const [name, t] of tinyDeadiffExtras(seed + 1, sd)) sd.set(name, t);
  return sd;
}

/** The tiny random Stable Diffusion of `random-checkpoint.ts`, through the same readers. */
export function randomStableDiffusion(seed: number): DiffusionParts {
  const tokenizer = ClipTokenizer.fromOpenAiMerges(TINY_MERGES);
  const tensors = tinyStableDiffusionCheckpoint(seed, tokenizer.vocabSize);
  return {
    text: loadClipWeights(tensors, { towers: ['text'], heads: { text: TINY_SD.text.heads } }).text!,
    unet: loadUnetWeights(tensors, { heads: TINY_SD.unet.heads, groups: TINY_SD.unet.groups }),
    vae: loadVaeWeights(tensors, { groups: TINY_SD.vae.groups }),
    tokenizer,
  };
}
