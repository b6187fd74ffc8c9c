import { rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { AtelierError, wrapError } from '../../core/errors.js';
import { DTYPE_SIZE, decodeToFloat32, float32ToFloat16Bits, isDType, numelOf, type DType } from './dtype.js';
import type { TensorMap, WeightTensor } from './tensor.js';
import { openWeights, readFully, uninitialised } from './weight-file.js';

/**
 * safetensors (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length
 * N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {…}}`,
 * then the raw little-endian tensor bytes, offsets relative to the end of the header. Every
 * offset and length is checked before anything is read, so a truncated or corrupt file fails
 * with E_WEIGHTS_INVALID instead of returning garbage.
 */

/** The same cap the reference implementation uses: a larger header is not a weight file. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** Byte range within the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Where the data section starts in the file (8 + header length). */
  dataStart: number;
}

export interface ReadWeightsOptions {
  /** Read only the tensors this accepts (the others are validated but not read). */
  include?: (name: string) => boolean;
}

function invalid(subject: string, summary: string, details: { expected?: string; received?: string } = {}): AtelierError {
  return new AtelierError('E_WEIGHTS_INVALID', summary, {
    subject,
    ...details,
    hint: 'the file is truncated, corrupt or not a safetensors file: download or import it again',
  });
}

/** Parse and validate the header given its JSON bytes and the size of the data section. */
export function parseSafetensorsHeader(json: Uint8Array, dataBytes: number, subject: string): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch {
    throw invalid(subject, 'The safetensors header is not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid(subject, 'The safetensors header is not a JSON object');
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
        throw invalid(subject, 'The safetensors __metadata__ is not a map of strings');
      }
      metadata = { ...(value as Record<string, string>) };
      continue;
    }
    const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (typeof v !== 'object' || v === null) throw invalid(subject, `Tensor "${name}" has no description in the header`);
    if (typeof v.dtype !== 'string') throw invalid(subject, `Tensor "${name}" has no dtype`);
    if (!isDType(v.dtype)) {
      throw new AtelierError('E_WEIGHTS_INVALID', `Tensor "${name}" has a dtype Atelier does not read`, {
        subject,
        expected: Object.keys(DTYPE_SIZE).join(', '),
        received: v.dtype,
        hint: 'convert the file to float32 or float16',
      });
    }
    const shape = v.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw invalid(subject, `Tensor "${name}" has a malformed shape`, { received: JSON.stringify(shape) });
    }
    const offsets = v.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      throw invalid(subject, `Tensor "${name}" has malformed data_offsets`, { received: JSON.stringify(offsets) });
    }
    const [begin, end] = offsets as [number, number];
    const expectedBytes = numelOf(shape as number[]) * DTYPE_SIZE[v.dtype];
    if (end - begin !== expectedBytes) {
      throw invalid(subject, `Tensor "${name}" has a byte range that does not fit its shape`, {
        expected: `${expectedBytes} bytes for ${v.dtype}[${shape.join(', ')}]`,
        received: `${end - begin} bytes`,
      });
    }
    if (end > dataBytes) {
      throw invalid(subject, `Tensor "${name}" lies beyond the end of the file`, {
        expected: `a data section of at least ${end} bytes`,
        received: `${dataBytes} bytes`,
      });
    }
    entries.push({ name, dtype: v.dtype, shape: [...(shape as number[])], begin, end });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.begin < sorted[i - 1]!.end) throw invalid(subject, `Tensors "${sorted[i - 1]!.name}" and "${sorted[i]!.name}" overlap`);
  }
  return { entries, metadata, dataStart: 8 + json.length };
}

function headerLength(first8: Uint8Array, fileBytes: number, subject: string): number {
  if (first8.length < 8) throw invalid(subject, 'The file is too short to be safetensors', { received: `${fileBytes} bytes` });
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw invalid(subject, 'The safetensors header length is implausible', { received: `${n} bytes` });
  if (8 + Number(n) > fileBytes) {
    throw invalid(subject, 'The file ends inside the safetensors header', { expected: `at least ${8 + Number(n)} bytes`, received: `${fileBytes} bytes` });
  }
  return Number(n);
}

/** Decode a whole safetensors file held in memory. */
export function decodeSafetensors(bytes: Uint8Array, subject = 'safetensors data', options: ReadWeightsOptions = {}): TensorMap {
  const n = headerLength(bytes.subarray(0, 8), bytes.length, subject);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n, subject);
  const out: TensorMap = new Map();
  for (const e of header.entries) {
    if (options.include && !options.include(e.name)) continue;
    // copy: the caller may keep tensors while dropping the file buffer
    const raw = bytes.slice(header.dataStart + e.begin, header.dataStart + e.end);
    out.set(e.name, { name: e.name, shape: e.shape, data: decodeToFloat32(raw, e.dtype, true, subject) });
  }
  return out;
}

/** Read a file's header: names, dtypes, shapes and metadata, without reading tensor data. */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  const fh = await openWeights(file);
  try {
    return await readHeader(fh, file);
  } finally {
    await fh.close();
  }
}

async function readHeader(fh: FileHandle, file: string): Promise<SafetensorsHeader> {
  const { size } = await fh.stat();
  const first = new Uint8Array(8);
  const { bytesRead } = await fh.read(first, 0, 8, 0);
  const n = headerLength(first.subarray(0, bytesRead), size, file);
  const json = new Uint8Array(n);
  await readFully(fh, json, 8);
  return parseSafetensorsHeader(json, size - 8 - n, file);
}

/** Read a safetensors file, tensor by tensor (never the whole file at once), converting to float32. */
export async function readSafetensors(file: string, options: ReadWeightsOptions = {}): Promise<TensorMap> {
  const fh = await openWeights(file);
  try {
    const header = await readHeader(fh, file);
    const out: TensorMap = new Map();
    for (const e of header.entries) {
      if (options.include && !options.include(e.name)) continue;
      const raw = uninitialised(e.end - e.begin);
      if ((await readFully(fh, raw, header.dataStart + e.begin)) !== raw.length) throw invalid(file, `The file ended while reading tensor "${e.name}"`);
      out.set(e.name, { name: e.name, shape: e.shape, data: decodeToFloat32(raw, e.dtype, true, file) });
    }
    return out;
  } finally {
    await fh.close();
  }
}

export interface WriteSafetensorsOptions {
  /** Stored element type (default F32). F16/BF16 halve the file; values round to nearest even. */
  dtype?: 'F32' | 'F16' | 'BF16';
  metadata?: Record<string, string>;
}

/** Encode tensors as a safetensors file image, in the order given. */
export function encodeSafetensors(tensors: Iterable<WeightTensor>, options: WriteSafetensorsOptions = {}): Uint8Array {
  const dtype = options.dtype ?? 'F32';
  const size = DTYPE_SIZE[dtype];
  const list = [...tensors];
  const header: Record<string, unknown> = {};
  if (options.metadata) header.__metadata__ = options.metadata;
  let offset = 0;
  for (const t of list) {
    const n = numelOf(t.shape);
    if (t.data.length !== n) {
      throw new AtelierError('E_INTERNAL', `Tensor "${t.name}" has ${t.data.length} values for shape [${t.shape.join(', ')}]`, {
        expected: `${n} values`,
      });
    }
    if (Object.hasOwn(header, t.name)) throw new AtelierError('E_INTERNAL', `Tensor "${t.name}" is given twice`);
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + n * size] };
    offset += n * size;
  }
  let json = JSON.stringify(header);
  // pad with spaces so the data section starts 8-byte aligned, as the reference writer does
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const jsonBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + jsonBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);
  out.set(jsonBytes, 8);
  let at = 8 + jsonBytes.length;
  const view = new DataView(out.buffer);
  for (const t of list) {
    const d = t.data;
    if (dtype === 'F32') {
      out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
      at += d.byteLength;
    } else if (dtype === 'F16') {
      for (let i = 0; i < d.length; i++, at += 2) view.setUint16(at, float32ToFloat16Bits(d[i]!), true);
    } else {
      const bits = new Uint32Array(Float32Array.from(d).buffer);
      for (let i = 0; i < bits.length; i++, at += 2) {
        const x = bits[i]!;
        // round to nearest even on the dropped 16 bits; NaN stays NaN
        const rounded = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
        view.setUint16(at, rounded & 0xffff, true);
      }
    }
  }
  return out;
}

/** Write a safetensors file atomically (a temporary file renamed into place). */
export async function writeSafetensors(file: string, tensors: Iterable<WeightTensor>, options: WriteSafetensorsOptions = {}): Promise<void> {
  const bytes = encodeSafetensors(tensors, options);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw wrapError(e, 'E_OUTPUT_WRITE', 'The safetensors file could not be written', { subject: file });
  }
}
