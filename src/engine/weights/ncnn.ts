import { readFile, stat } from 'node:fs/promises';
import { AtelierError } from '../../core/errors.js';
import { corruptFileErrors } from './corrupt-file.js';
import { decodeToFloat32 } from './dtype.js';

/**
 * ncnn models (Tencent's mobile inference library): a text `.param` describing the graph and a
 * `.bin` holding the layers' weights back to back, in layer order, with no names.
 *
 * `.param`: the magic 7767517, then `layer_count blob_count`, then one line per layer:
 * `Type name n_in n_out in_blob… out_blob… key=value…`. Keys are integers 0–31; a value with a
 * `.` or an exponent is a float, else an int; a key of −23300 − k carries an array for key k as
 * `count,v1,v2,…`.
 *
 * `.bin`: each layer reads its tensors in a fixed order (its type decides which). A weight read
 * "with a tag" starts with a 4-byte tag: 0x01306B47 = float16 values (the byte count padded to a
 * multiple of 4), 0 = raw float32, 0x0002C056 = raw float32, any other non-zero tag = a 256-entry
 * float32 table followed by one uint8 index per value; 0x000D4B38 (int8 with separate scales) is
 * refused. Biases and norm parameters are read without a tag, as raw float32.
 *
 * Only layer types whose weight layout is known here are accepted: an unknown type is refused by
 * name and line, since its weights (if any) would shift every later layer's.
 */

export type NcnnParamValue = number | number[];

export interface NcnnLayer {
  type: string;
  name: string;
  inputs: string[];
  outputs: string[];
  params: Map<number, NcnnParamValue>;
  /** 1-based line in the .param file, for messages. */
  line: number;
  /** Weights read from the .bin, in the layer's own order and names (see `WEIGHT_LAYOUT`). */
  weights: Map<string, Float32Array>;
}

export interface NcnnModel {
  layers: NcnnLayer[];
  blobCount: number;
}

const MAGIC = 7767517;
const MAX_PARAM_BYTES = 16 * 2 ** 20;
const MAX_BIN_BYTES = 2 ** 31;
const MAX_LAYERS = 1 << 16;
const TAG_FP16 = 0x01306b47;
const TAG_INT8 = 0x000d4b38;
const TAG_FP32_SCALED = 0x0002c056;

const corrupt = corruptFileErrors('the model files are truncated, damaged or do not belong together (a .param with another model’s .bin): install the model again');

// ------------------------------------------------------------------------------------ .param

/** Parse a .param text; `subject` names the file in errors. Layers come back without weights. */
export function parseNcnnParam(text: string, subject: string): NcnnModel {
  const lines = text.split(/\r?\n/);
  let at = 0;
  const next = (): { words: string[]; line: number } | undefined => {
    while (at < lines.length) {
      const line = lines[at++]!.trim();
      if (line !== '') return { words: line.split(/\s+/), line: at };
    }
    return undefined;
  };
  const magic = next();
  if (!magic || magic.words.length !== 1 || Number(magic.words[0]) !== MAGIC) {
    throw corrupt(subject, 'This is not an ncnn .param file', { expected: `the magic number ${MAGIC} on the first line`, received: magic ? JSON.stringify(magic.words.join(' ').slice(0, 40)) : 'an empty file' });
  }
  const counts = next();
  const layerCount = Number(counts?.words[0]);
  const blobCount = Number(counts?.words[1]);
  if (!counts || counts.words.length !== 2 || !Number.isSafeInteger(layerCount) || !Number.isSafeInteger(blobCount) || layerCount < 1 || blobCount < 1 || layerCount > MAX_LAYERS || blobCount > MAX_LAYERS * 8) {
    throw corrupt(subject, 'The ncnn .param header is malformed', { expected: `"layer_count blob_count" on line 2 (at most ${MAX_LAYERS} layers)`, received: JSON.stringify(counts?.words.join(' ') ?? '') });
  }
  const layers: NcnnLayer[] = [];
  const produced = new Set<string>();
  for (let i = 0; i < layerCount; i++) {
    const l = next();
    if (!l) throw corrupt(subject, `The .param file ends after ${i} of its ${layerCount} layers`, { expected: `${layerCount} layer lines`, received: `${i}` });
    const [type, name, nIn, nOut] = l.words;
    const ni = Number(nIn);
    const no = Number(nOut);
    const where = `line ${l.line} (layer ${i} "${name ?? ''}")`;
    if (!type || !name || !Number.isSafeInteger(ni) || !Number.isSafeInteger(no) || ni < 0 || no < 0 || l.words.length < 4 + ni + no) {
      throw corrupt(subject, `The layer on ${where} is malformed`, { expected: 'Type name n_in n_out inputs… outputs… key=value…', received: JSON.stringify(l.words.join(' ').slice(0, 80)) });
    }
    const inputs = l.words.slice(4, 4 + ni);
    const outputs = l.words.slice(4 + ni, 4 + ni + no);
    for (const b of inputs) {
      if (!produced.has(b)) throw corrupt(subject, `Layer ${where} reads blob "${b}" before any layer makes it`, { expected: 'layers in an order where each input is an earlier output (no cycles)' });
    }
    for (const b of outputs) {
      if (produced.has(b)) throw corrupt(subject, `Layer ${where} makes blob "${b}" a second time`);
      produced.add(b);
    }
    const params = new Map<number, NcnnParamValue>();
    for (const kv of l.words.slice(4 + ni + no)) {
      const eq = kv.indexOf('=');
      const key = Number(kv.slice(0, eq));
      const value = kv.slice(eq + 1);
      if (eq <= 0 || !Number.isSafeInteger(key)) throw corrupt(subject, `Layer ${where} has a malformed parameter`, { expected: 'key=value with an integer key', received: JSON.stringify(kv) });
      if (key <= -23300) {
        const parts = value.split(',');
        const n = Number(parts[0]);
        const values = parts.slice(1).map(Number);
        if (!Number.isSafeInteger(n) || n !== values.length || values.some((v) => !Number.isFinite(v))) {
          throw corrupt(subject, `Layer ${where} has a malformed array parameter ${key}`, { expected: 'count,v1,v2,… with count values', received: JSON.stringify(value.slice(0, 60)) });
        }
        params.set(-23300 - key, values);
      } else {
        const v = Number(value);
        if (value === '' || !Number.isFinite(v) || key < 0 || key > 31) {
          throw corrupt(subject, `Layer ${where} has a malformed parameter ${key}`, { expected: 'an integer key 0–31 and a number', received: JSON.stringify(kv) });
        }
        params.set(key, v);
      }
    }
    layers.push({ type, name, inputs, outputs, params, line: l.line, weights: new Map() });
  }
  if (produced.size > blobCount) throw corrupt(subject, 'The layers make more blobs than the header declares', { expected: `${blobCount} blobs`, received: `${produced.size}` });
  if (next()) throw corrupt(subject, 'The .param file has more layer lines than its header declares', { expected: `${layerCount} layers` });
  return { layers, blobCount };
}

/** An int param with its ncnn default. */
export function intParam(layer: NcnnLayer, key: number, fallback: number): number {
  const v = layer.params.get(key);
  return typeof v === 'number' ? v : fallback;
}

// ------------------------------------------------------------------------------------ .bin

/** How each layer type reads the .bin: tensor name, value count, whether it starts with a tag. */
type WeightRead = { name: string; count: number; tagged: boolean };
const p = intParam;

const WEIGHT_LAYOUT: Record<string, (l: NcnnLayer) => WeightRead[]> = {
  Convolution: convWeights,
  ConvolutionDepthWise: convWeights,
  Deconvolution: convWeights,
  DeconvolutionDepthWise: convWeights,
  InnerProduct: convWeights,
  InstanceNorm: (l) => (p(l, 2, 1) ? [{ name: 'gamma', count: p(l, 0, 0), tagged: false }, { name: 'beta', count: p(l, 0, 0), tagged: false }] : []),
  BatchNorm: (l) => ['slope', 'mean', 'variance', 'bias'].map((name) => ({ name, count: p(l, 0, 0), tagged: false })),
  Scale: (l) => [
    ...(p(l, 0, 0) === -233 ? [] : [{ name: 'scale', count: p(l, 0, 0), tagged: false }]),
    ...(p(l, 1, 0) ? [{ name: 'bias', count: p(l, 0, 0), tagged: false }] : []),
  ],
  PReLU: (l) => [{ name: 'slope', count: p(l, 0, 0), tagged: false }],
  Padding: (l) => (p(l, 6, 0) > 0 ? [{ name: 'per_channel_pad', count: p(l, 6, 0), tagged: false }] : []),
  MemoryData: (l) => [{ name: 'data', count: Math.max(1, p(l, 0, 0)) * Math.max(1, p(l, 1, 0)) * Math.max(1, p(l, 11, 0)) * Math.max(1, p(l, 2, 0)), tagged: false }],
};

/** Layer types that read nothing from the .bin. */
const WEIGHTLESS = new Set([
  'Input', 'Split', 'ReLU', 'Sigmoid', 'TanH', 'Clip', 'BinaryOp', 'UnaryOp', 'Eltwise', 'Concat', 'Slice', 'Crop',
  'Interp', 'Pooling', 'Reshape', 'Permute', 'Flatten', 'Dropout', 'Softmax', 'Noop', 'HardSigmoid', 'HardSwish',
  'Swish', 'Mish', 'ELU', 'PixelShuffle', 'Reorg', 'ShuffleChannel', 'Exp', 'Log', 'Power', 'AbsVal', 'BNLL',
]);

function convWeights(l: NcnnLayer): WeightRead[] {
  if (p(l, 8, 0) !== 0) throw new Error('int8 quantised convolutions (8=1) carry scales this reader does not handle');
  return [
    { name: 'weight', count: p(l, 6, 0), tagged: true },
    ...(p(l, 5, 0) ? [{ name: 'bias', count: p(l, 0, 0), tagged: false }] : []),
  ];
}

/** The tensors a layer reads from the .bin, in order (empty for weightless types). */
export function weightReads(layer: NcnnLayer, subject: string): WeightRead[] {
  if (WEIGHTLESS.has(layer.type)) return [];
  const layout = WEIGHT_LAYOUT[layer.type];
  if (!layout) {
    throw new AtelierError('E_WEIGHTS_CORRUPT', `ncnn layer type "${layer.type}" is not supported`, {
      subject,
      expected: `one of ${[...Object.keys(WEIGHT_LAYOUT), ...WEIGHTLESS].join(', ')}`,
      received: `"${layer.type}" at line ${layer.line} (layer "${layer.name}")`,
      hint: 'its weight layout is unknown, so every later layer’s weights would be misread; convert the model with a newer Atelier or from its source format',
    });
  }
  let reads: WeightRead[];
  try {
    reads = layout(layer);
  } catch (e) {
    throw new AtelierError('E_WEIGHTS_CORRUPT', `ncnn layer "${layer.name}" (${layer.type}, line ${layer.line}) cannot be read`, { subject, received: (e as Error).message });
  }
  for (const r of reads) {
    if (!Number.isSafeInteger(r.count) || r.count < 0 || r.count > MAX_BIN_BYTES / 2) {
      throw corrupt(subject, `ncnn layer "${layer.name}" (line ${layer.line}) declares an impossible ${r.name} size`, { received: String(r.count) });
    }
  }
  return reads;
}

/** Fill each layer's `weights` from the .bin bytes; every byte must be used. */
export function decodeNcnnBin(model: NcnnModel, bin: Uint8Array, subject: string): void {
  const view = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  let offset = 0;
  const need = (bytes: number, what: string) => {
    if (offset + bytes > bin.length) {
      throw corrupt(subject, `The .bin file ends inside ${what}`, { expected: `${bytes} bytes from offset ${offset}`, received: `${bin.length - offset} bytes (file size ${bin.length})` });
    }
  };
  for (const layer of model.layers) {
    for (const r of weightReads(layer, subject)) {
      const what = `${r.name} of layer "${layer.name}" (${layer.type}, line ${layer.line})`;
      if (!r.tagged) {
        need(r.count * 4, what);
        layer.weights.set(r.name, decodeToFloat32(bin.slice(offset, offset + r.count * 4), 'F32', true, subject));
        offset += r.count * 4;
        continue;
      }
      need(4, `the storage tag of ${what}`);
      const tag = view.getUint32(offset, true);
      const tagAt = offset;
      offset += 4;
      let values: Float32Array;
      if (tag === TAG_FP16) {
        const bytes = Math.ceil((r.count * 2) / 4) * 4;
        need(bytes, what);
        values = decodeToFloat32(bin.subarray(offset, offset + r.count * 2), 'F16', true, subject);
        offset += bytes;
      } else if (tag === 0 || tag === TAG_FP32_SCALED) {
        need(r.count * 4, what);
        values = decodeToFloat32(bin.slice(offset, offset + r.count * 4), 'F32', true, subject);
        offset += r.count * 4;
      } else if (tag === TAG_INT8) {
        throw corrupt(subject, `The ${what} is stored as int8, which needs scales this reader does not take`, { received: `tag 0x${tag.toString(16)} at offset ${tagAt}`, hint: 'use the model’s float16 or float32 release' });
      } else {
        // Any other non-zero tag: a 256-entry lookup table then one byte per value.
        const bytes = 1024 + Math.ceil(r.count / 4) * 4;
        need(bytes, what);
        const table = decodeToFloat32(bin.subarray(offset, offset + 1024), 'F32', true, subject);
        values = new Float32Array(r.count);
        for (let i = 0; i < r.count; i++) values[i] = table[bin[offset + 1024 + i]!]!;
        offset += bytes;
      }
      const bad = values.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw corrupt(subject, `The ${what} holds a non-finite value`, { expected: 'finite weights', received: `${values[bad]} (value ${bad}, tag at offset ${tagAt})` });
      layer.weights.set(r.name, values);
    }
  }
  if (offset !== bin.length) {
    throw corrupt(subject, 'The .bin file is longer than its .param describes', { expected: `${offset} bytes`, received: `${bin.length} bytes (${bin.length - offset} left over)` });
  }
}

/** Read a .param / .bin pair: the graph and every layer's weights. */
export async function readNcnnModel(paramFile: string, binFile: string): Promise<NcnnModel> {
  const sizeOf = async (file: string, cap: number): Promise<number> => {
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (e) {
      throw new AtelierError('E_FILE_NOT_FOUND', 'The ncnn model file does not exist', { subject: file, cause: e });
    }
    if (size > cap) throw corrupt(file, 'The file is too large for an ncnn model part', { expected: `at most ${cap} bytes`, received: `${size} bytes` });
    return size;
  };
  await sizeOf(paramFile, MAX_PARAM_BYTES);
  await sizeOf(binFile, MAX_BIN_BYTES);
  const bytes = await readFile(paramFile);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw corrupt(paramFile, 'The .param file is not text', { expected: 'a UTF-8 ncnn .param (a binary .param.bin is not supported)' });
  }
  const model = parseNcnnParam(text, paramFile);
  decodeNcnnBin(model, await readFile(binFile), binFile);
  return model;
}
