import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { AtelierError, isAtelierError } from '../../core/errors.js';
import { resolveTrainedModel } from '../store/trained.js';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '../weights/safetensors.js';
import type { WeightTensor } from '../weights/tensor.js';

/**
 * A LoRA adapter (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", applied to
 * convolutions): for each chosen weight W of a network, a low-rank update
 *
 *   ΔW = (α / r) · B · A,   A: [r, d1·kh·kw],   B: [d0, r],
 *
 * where W is [d0, d1, kh, kw] as the network stores it (a conv's [out, in, kh, kw]; a PyTorch-layout
 * transposed conv's [in, out, kh, kw]; a depthwise conv's [C, 1, kh, kw]) and B·A is reshaped to
 * W's shape. The rank r can be at most min(d0, d1·kh·kw). B starts at zero, so an untrained adapter
 * leaves the network unchanged.
 *
 * File format: safetensors (`docs/lora.md` says the same, with examples). Keys, float32:
 *   `<weight name>.lora_A`  [r, d1·kh·kw]
 *   `<weight name>.lora_B`  [d0, r]
 * where `<weight name>` is the name the network gives the weight in the engine (e.g.
 * `res1.conv1.conv2d.weight` for a fast-style net, `decoder.dec1.conv1.conv_layer.weight` for
 * MicroAST, the TFLite tensor name for an imported network). `__metadata__` (all strings):
 *   format       `atelier-lora-1`
 *   base         the base model's name (e.g. `fst-small16-candy`)
 *   base_sha256  SHA-256 of the base weights the adapter changes (see `baseFingerprint`)
 *   rank, alpha  r and α (one pair for the whole adapter)
 *   network      the base's architecture (`johnson`, `tflite`, `microast-decoder`, …)
 * and optionally what it was trained on (`style_images`, `steps`, `trainer`).
 */

export const LORA_FORMAT = 'atelier-lora-1';

export interface LoraLayer {
  /** The base weight this layer changes. */
  name: string;
  /** The base weight's shape. */
  shape: number[];
  /** [r, d1·kh·kw], row-major. */
  a: Float32Array;
  /** [d0, r], row-major. */
  b: Float32Array;
}

export interface LoraAdapter {
  base: string;
  baseSha256: string;
  network: string;
  rank: number;
  alpha: number;
  layers: LoraLayer[];
  /** Anything else the file's metadata said (training facts). */
  extra: Record<string, string>;
}

/** The largest rank a weight allows: min(d0, d1·kh·kw). */
export function maxRank(shape: readonly number[]): number {
  const [d0, ...rest] = shape;
  return Math.min(d0!, rest.reduce((p, q) => p * q, 1));
}

/** Columns of A for a weight: d1·kh·kw. */
export function fanIn(shape: readonly number[]): number {
  return shape.slice(1).reduce((p, q) => p * q, 1);
}

/** Refuse a rank the weight cannot hold (or that is not a positive integer). */
export function checkRank(name: string, shape: readonly number[], rank: number): void {
  if (!Number.isInteger(rank) || rank < 1) {
    throw new AtelierError('E_PARAM', 'The LoRA rank must be a positive integer', { subject: 'rank', received: String(rank) });
  }
  const limit = maxRank(shape);
  if (rank > limit) {
    throw new AtelierError('E_PARAM', `Rank ${rank} is larger than the layer ${name} allows`, {
      subject: 'rank',
      expected: `at most min(${shape[0]}, ${shape.slice(1).join('·')}) = ${limit} for a weight of shape [${shape.join(', ')}]`,
      received: String(rank),
      hint: `lower --rank to ${limit} or less, or leave ${name} out of --targets`,
    });
  }
}

/**
 * SHA-256 of base weights, in a form that does not depend on the file they came from: for each
 * weight in name order, its UTF-8 name, a zero byte, its shape as little-endian uint32s, then its
 * float32 values little-endian. An adapter records this over the weights it changes.
 */
export function baseFingerprint(weights: Iterable<{ name: string; shape: readonly number[]; data: ArrayLike<number> }>): string {
  const list = [...weights].sort((p, q) => (p.name < q.name ? -1 : p.name > q.name ? 1 : 0));
  const h = createHash('sha256');
  for (const w of list) {
    h.update(w.name, 'utf8');
    h.update(new Uint8Array([0]));
    h.update(new Uint8Array(Uint32Array.from(w.shape).buffer));
    const f = w.data instanceof Float32Array ? w.data : Float32Array.from(w.data);
    h.update(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
  }
  return h.digest('hex');
}

/** The adapter as safetensors tensors and metadata (the layout in the file comment). */
export function adapterTensors(adapter: LoraAdapter): { tensors: WeightTensor[]; metadata: Record<string, string> } {
  const tensors: WeightTensor[] = [];
  for (const l of adapter.layers) {
    tensors.push({ name: `${l.name}.lora_A`, shape: [adapter.rank, fanIn(l.shape)], data: l.a });
    tensors.push({ name: `${l.name}.lora_B`, shape: [l.shape[0]!, adapter.rank], data: l.b });
  }
  const metadata: Record<string, string> = {
    ...adapter.extra,
    format: LORA_FORMAT,
    base: adapter.base,
    base_sha256: adapter.baseSha256,
    network: adapter.network,
    rank: String(adapter.rank),
    alpha: String(adapter.alpha),
    // The base weights' shapes, so a file can be checked against a base without loading it.
    shapes: JSON.stringify(Object.fromEntries(adapter.layers.map((l) => [l.name, l.shape]))),
  };
  return { tensors, metadata };
}

export async function writeLoraAdapter(file: string, adapter: LoraAdapter): Promise<void> {
  const { tensors, metadata } = adapterTensors(adapter);
  await writeSafetensors(file, tensors, { metadata });
}

const corrupt = (file: string, summary: string, details: { expected?: string; received?: string; cause?: unknown } = {}) =>
  new AtelierError('E_WEIGHTS_CORRUPT', summary, { subject: file, ...details, hint: 'the LoRA file is truncated or damaged: train or copy it again' });

/**
 * Read and check a LoRA file: the safetensors container (a truncated or damaged file is
 * E_WEIGHTS_CORRUPT), the format tag, rank and α, and that every A/B pair fits its recorded base
 * shape with the adapter's rank and holds finite numbers (else E_WEIGHTS_INVALID).
 */
export async function readLoraAdapter(file: string): Promise<LoraAdapter> {
  let header;
  let tensors;
  try {
    header = await readSafetensorsHeader(file);
    tensors = await readSafetensors(file);
  } catch (e) {
    if (isAtelierError(e) && (e.code === 'E_WEIGHTS_INVALID' || e.code === 'E_WEIGHTS_CORRUPT')) throw corrupt(file, `Not a readable LoRA file: ${e.message}`, { cause: e });
    throw e;
  }
  const m = header.metadata;
  const invalid = (summary: string, details: { expected?: string; received?: string } = {}) =>
    new AtelierError('E_WEIGHTS_INVALID', summary, { subject: file, ...details, hint: 'make adapters with `atelier train lora`' });
  if (m.format !== LORA_FORMAT) throw invalid('Not an Atelier LoRA adapter', { expected: `safetensors metadata format ${LORA_FORMAT}`, received: m.format ?? 'no format' });
  const rank = Number(m.rank);
  const alpha = Number(m.alpha);
  if (!Number.isInteger(rank) || rank < 1) throw invalid('The LoRA file has no valid rank', { received: JSON.stringify(m.rank) });
  if (!Number.isFinite(alpha)) throw invalid('The LoRA file has no valid alpha', { received: JSON.stringify(m.alpha) });
  let shapes: Record<string, number[]>;
  try {
    shapes = JSON.parse(m.shapes ?? '') as Record<string, number[]>;
  } catch {
    throw invalid('The LoRA file does not record its base shapes', { expected: 'metadata "shapes": {"<weight>": [d0, d1, kh, kw], …}' });
  }
  const layers: LoraLayer[] = [];
  for (const [name, shape] of Object.entries(shapes)) {
    if (!Array.isArray(shape) || shape.length < 2 || !shape.every((d) => Number.isInteger(d) && d > 0)) throw invalid(`The recorded shape of ${name} is malformed`, { received: JSON.stringify(shape) });
    const a = tensors.get(`${name}.lora_A`);
    const b = tensors.get(`${name}.lora_B`);
    if (!a || !b) throw invalid(`The LoRA file lacks ${name}.lora_${a ? 'B' : 'A'}`);
    const wantA = [rank, fanIn(shape)];
    const wantB = [shape[0]!, rank];
    const same = (p: number[], q: number[]) => p.length === q.length && p.every((d, i) => d === q[i]);
    if (!same(a.shape, wantA) || !same(b.shape, wantB)) {
      throw invalid(`The A/B pair of ${name} does not fit its base shape at rank ${rank}`, {
        expected: `A [${wantA.join(', ')}] and B [${wantB.join(', ')}] for a weight [${shape.join(', ')}]`,
        received: `A [${a.shape.join(', ')}] and B [${b.shape.join(', ')}]`,
      });
    }
    if (rank > maxRank(shape)) throw invalid(`Rank ${rank} is larger than ${name} [${shape.join(', ')}] allows (${maxRank(shape)})`);
    for (const t of [a, b]) {
      const bad = t.data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw invalid(`The LoRA tensor ${t.name} holds a non-finite value`, { received: `${t.data[bad]} at index ${bad}` });
    }
    layers.push({ name, shape, a: a.data, b: b.data });
  }
  const orphans = [...tensors.keys()].filter((k) => !shapes[k.replace(/\.lora_[AB]$/, '')]);
  if (orphans.length > 0) throw invalid(`The LoRA file holds tensors its metadata does not describe`, { received: orphans.slice(0, 3).join(', ') });
  if (layers.length === 0) throw invalid('The LoRA file changes no weight');
  const { format: _f, base, base_sha256, network, rank: _r, alpha: _a, shapes: _s, ...extra } = m;
  return { base: base ?? 'unknown', baseSha256: base_sha256 ?? '', network: network ?? 'unknown', rank, alpha, layers, extra };
}

/** One adapter of a stack and its weight (`--lora FILE[:weight]`). */
export interface WeightedAdapter {
  adapter: LoraAdapter;
  weight: number;
  /** Where it came from (for messages). */
  source: string;
}

/**
 * Parse `FILE[:weight]` (weight default 1). The weight is the last `:`-separated part when it reads
 * as a number, so Windows drive letters and paths with colons still work.
 */
export function parseLoraSpec(spec: string): { file: string; weight: number } {
  const at = spec.lastIndexOf(':');
  if (at > 0) {
    const tail = spec.slice(at + 1).trim();
    if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(tail)) return { file: spec.slice(0, at), weight: Number(tail) };
    if (/^[-+]?(nan|inf(inity)?)$/i.test(tail)) {
      throw new AtelierError('E_PARAM', `The weight of LoRA ${spec.slice(0, at)} is not a finite number`, {
        subject: 'lora',
        expected: 'FILE or FILE:WEIGHT with a finite WEIGHT such as 0.5 or 1',
        received: JSON.stringify(spec),
      });
    }
  }
  return { file: spec, weight: 1 };
}

/** The kind of model adapters are stored as (`models/NAME/` with `network: 'lora'`). */
export const LORA_KIND = 'lora';

/**
 * Read each `FILE[:weight]` of a stack. FILE is a path, the name of an adapter stored by `atelier
 * train lora --name`, or of one installed in the model store (by a server training job, which is
 * how the HTTP API names one).
 */
export async function loadLoraStack(specs: readonly string[]): Promise<WeightedAdapter[]> {
  const out: WeightedAdapter[] = [];
  for (const s of specs) {
    const { file, weight } = parseLoraSpec(s);
    const path = existsSync(file) ? file : resolveTrainedModel(LORA_KIND, file);
    out.push({ adapter: await readLoraAdapter(path), weight, source: file });
  }
  return out;
}
