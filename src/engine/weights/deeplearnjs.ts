import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { corruptFileErrors } from './corrupt-file.js';
import { numelOf } from './dtype.js';
import type { TensorMap } from './tensor.js';

/**
 * deeplearn.js checkpoints (the format of `dl.CheckpointLoader`, used by the browser ports of
 * fast style transfer): a folder holding `manifest.json`, `{variable: {filename, shape}}`, and
 * one file per variable of raw little-endian float32 values in row-major order of `shape`
 * (TensorFlow's layout: conv kernels HWIO). Nothing but that JSON and those bytes is read; every
 * file name and size is checked against the manifest first, so a truncated, padded or missing
 * variable file fails with E_WEIGHTS_CORRUPT naming it, before any tensor is built.
 */

/** A larger manifest is not a checkpoint manifest (the fast-style ones are 4.7 kB). */
const MAX_MANIFEST_BYTES = 4 * 2 ** 20;
/** One variable of more than 2^28 floats (1 GiB) is not something this reader should hold. */
const MAX_VARIABLE_VALUES = 2 ** 28;

export interface DeeplearnVariable {
  name: string;
  filename: string;
  shape: number[];
}

const corrupt = corruptFileErrors('the checkpoint is incomplete or damaged: install it again (`atelier models pull NAME --force`)');

/** Parse and check a manifest's text; `subject` names the file in errors. */
export function parseDeeplearnManifest(text: string, subject: string): DeeplearnVariable[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw corrupt(subject, 'The deeplearn.js manifest is not valid JSON', { received: (e as Error).message });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw corrupt(subject, 'The deeplearn.js manifest is not a JSON object', { expected: '{"Variable": {"filename": "Variable", "shape": [9, 9, 3, 32]}, …}' });
  }
  const vars: DeeplearnVariable[] = [];
  const files = new Set<string>();
  for (const [name, entry] of Object.entries(raw as Record<string, unknown>)) {
    const e = entry as { filename?: unknown; shape?: unknown } | null;
    if (typeof e !== 'object' || e === null) throw corrupt(subject, `Variable "${name}" has no entry`, { expected: '{filename, shape}' });
    const { filename, shape } = e;
    // A bare file name: the manifest must not reach outside its folder.
    if (typeof filename !== 'string' || filename === '' || filename === '.' || filename === '..' || /[/\\\0]/.test(filename)) {
      throw corrupt(subject, `Variable "${name}" has an unusable filename`, { expected: 'a file name inside the checkpoint folder', received: JSON.stringify(filename) });
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw corrupt(subject, `Variable "${name}" has a malformed shape`, { expected: 'an array of non-negative integers', received: JSON.stringify(shape) });
    }
    if (numelOf(shape) > MAX_VARIABLE_VALUES) {
      throw corrupt(subject, `Variable "${name}" is implausibly large`, { expected: `at most ${MAX_VARIABLE_VALUES} values`, received: `shape [${shape.join(', ')}]` });
    }
    if (files.has(filename)) throw corrupt(subject, `Two variables share the file "${filename}"`);
    files.add(filename);
    vars.push({ name, filename, shape: [...shape] });
  }
  if (vars.length === 0) throw corrupt(subject, 'The deeplearn.js manifest lists no variables');
  return vars;
}

/** Read a deeplearn.js checkpoint folder (or the path of its manifest.json) into float32 tensors. */
export async function readDeeplearnCheckpoint(location: string): Promise<TensorMap> {
  const manifestFile = path.basename(location) === 'manifest.json' ? location : path.join(location, 'manifest.json');
  const dir = path.dirname(manifestFile);
  let size: number;
  try {
    size = (await stat(manifestFile)).size;
  } catch (e) {
    throw new AtelierError('E_FILE_NOT_FOUND', 'The deeplearn.js checkpoint has no manifest.json', { subject: manifestFile, cause: e });
  }
  if (size > MAX_MANIFEST_BYTES) {
    throw corrupt(manifestFile, 'The file is too large to be a deeplearn.js manifest', { expected: `at most ${MAX_MANIFEST_BYTES} bytes`, received: `${size} bytes` });
  }
  const vars = parseDeeplearnManifest(await readFile(manifestFile, 'utf8'), manifestFile);
  // Check every file's presence and size before reading any: nothing is half-loaded.
  for (const v of vars) {
    const file = path.join(dir, v.filename);
    const expected = numelOf(v.shape) * 4;
    let actual: number;
    try {
      const s = await stat(file);
      if (!s.isFile()) throw new Error('not a regular file');
      actual = s.size;
    } catch {
      throw corrupt(file, `The manifest lists variable "${v.name}" but its file is missing`, {
        expected: `${v.filename} beside ${path.basename(manifestFile)}, ${expected} bytes (float32 [${v.shape.join(', ')}])`,
        received: 'no such file',
      });
    }
    if (actual !== expected) {
      throw corrupt(file, `Variable "${v.name}" has the wrong size for its shape`, {
        expected: `${expected} bytes (float32 [${v.shape.join(', ')}])`,
        received: `${actual} bytes (${actual < expected ? `truncated at byte ${actual}` : `${actual - expected} bytes too many`})`,
      });
    }
  }
  const out: TensorMap = new Map();
  for (const v of vars) {
    const file = path.join(dir, v.filename);
    const bytes = await readFile(file);
    const expected = numelOf(v.shape) * 4;
    if (bytes.length !== expected) throw corrupt(file, `Variable "${v.name}" changed size while being read`, { expected: `${expected} bytes`, received: `${bytes.length} bytes` });
    const data = new Float32Array(numelOf(v.shape));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(i * 4, true);
    const bad = data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) {
      throw corrupt(file, `Variable "${v.name}" holds a non-finite value`, { expected: 'finite float32 weights', received: `${data[bad]} at byte offset ${bad * 4}` });
    }
    out.set(v.name, { name: v.name, shape: v.shape, data });
  }
  return out;
}
