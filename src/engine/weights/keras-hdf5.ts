import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AtelierError, wrapError } from '../../core/errors.js';
import { corruptFileErrors } from './corrupt-file.js';
import { describeForeignFormat } from './sniff-format.js';
import type { TensorMap, WeightTensor } from './tensor.js';

/**
 * Keras HDF5 weight files (`model.save_weights` / the `*_weights_tf_dim_ordering_tf_kernels*.h5`
 * files of Keras-era model zoos), read through jsfive.
 *
 * Why jsfive and not h5wasm (both maintained by the same NIST group): jsfive is plain JavaScript
 * reading from an ArrayBuffer we hand it, so the file is read by us with our size bound, a corrupt
 * file fails with a catchable exception, and nothing else is loaded. h5wasm runs the HDF5 C
 * library compiled to WebAssembly behind an Emscripten virtual file system: more complete (writing,
 * every filter, slicing huge datasets), none of which weight files need, at the cost of a several-MB
 * wasm module, file copies into its FS, and a C library whose failures on damaged input can abort
 * the wasm instance rather than throw. Keras weight files use only groups, string-array attributes
 * and contiguous (or gzip-chunked, which jsfive reads with pako) float datasets.
 *
 * Layout read (Keras 1 and 2): the root attribute `layer_names` lists the layers in order; each
 * layer group's attribute `weight_names` lists its weights in order (kernel, then bias for
 * convolutions) as paths inside the group. Conv kernels are HWIO (TensorFlow dim ordering).
 */

/** Weight files read whole into memory; the published SqueezeNet is 3 MB. */
export const MAX_HDF5_BYTES = 512 * 1024 * 1024;

export interface KerasLayer {
  name: string;
  /** In Keras's order (kernel before bias); names as `layer/weight`. */
  weights: WeightTensor[];
}

export interface KerasWeights {
  file: string;
  /** Every layer of `layer_names`, those without weights (ReLU, pooling) included. */
  layers: KerasLayer[];
  /** All weights keyed `layer/weight name`. */
  tensors: TensorMap;
  kerasVersion?: string;
  backend?: string;
}


const corruptFile = corruptFileErrors('pull the model again (`atelier models pull NAME --force`); only Keras HDF5 weight files can be read here');
const corrupt = (file: string, summary: string, expected: string, received?: string, cause?: unknown) => corruptFile(file, summary, { expected, received, cause });

export async function readKerasHdf5(file: string, options: { maxBytes?: number } = {}): Promise<KerasWeights> {
  const limit = options.maxBytes ?? MAX_HDF5_BYTES;
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (e) {
    throw new AtelierError('E_FILE_NOT_FOUND', 'The weight file does not exist', { subject: file, cause: e });
  }
  if (size > limit) throw corrupt(file, 'The file is too large to be a Keras weight file Atelier reads', `at most ${limit} bytes`, `${size} bytes`);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (e) {
    throw wrapError(e, 'E_WEIGHTS_CORRUPT', 'The weight file could not be read', { subject: file });
  }
  return parseKerasHdf5(bytes, file);
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The superblock's end-of-file address (HDF5 spec, "Superblock": versions 0/1 keep it after the
 * base and free-space addresses, versions 2/3 after the base and extension addresses): a file
 * shorter than it was cut.
 */
function declaredEnd(bytes: Uint8Array): number | undefined {
  const version = bytes[8];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = (at: number, width: number): number | undefined => {
    if (at + width > bytes.length) return undefined;
    if (width === 8) return Number(view.getBigUint64(at, true));
    if (width === 4) return view.getUint32(at, true);
    return undefined;
  };
  if (version === 0 || version === 1) {
    const offsets = bytes[13]!;
    const start = version === 0 ? 24 : 28; // v1 adds indexed-storage K and 2 reserved bytes
    return read(start + 2 * offsets, offsets);
  }
  if (version === 2 || version === 3) {
    const offsets = bytes[9]!;
    return read(12 + 2 * offsets, offsets);
  }
  return undefined;
}

/** HDF5 fixed-length strings come NUL-padded; attributes may hold bytes or strings. Anything else is damage. */
function names(value: unknown, file: string, where: string): string[] {
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.map((v) => {
    if (typeof v === 'string') return v.replace(/\0+$/, '');
    if (ArrayBuffer.isView(v)) return new TextDecoder().decode(v as Uint8Array).replace(/\0+$/, '');
    throw corrupt(file, `The HDF5 attribute ${where} does not hold names`, 'a list of strings', typeof v);
  });
}

export async function parseKerasHdf5(bytes: Uint8Array, file: string): Promise<KerasWeights> {
  if (bytes.length < 8 || HDF5_SIGNATURE.some((b, i) => bytes[i] !== b)) {
    const foreign = describeForeignFormat(bytes, 'hdf5');
    throw corrupt(file, foreign ? `The file is ${foreign}, not a Keras HDF5 weight file` : 'The file is not an HDF5 file', 'the HDF5 signature \\x89HDF\\r\\n\\x1a\\n at byte 0', foreign ?? `${bytes.length} bytes without it`);
  }
  const end = declaredEnd(bytes);
  if (end !== undefined && end > bytes.length) {
    throw corrupt(file, `The HDF5 file is truncated: its superblock says it ends at byte ${end}, but it has ${bytes.length} bytes`, `${end} bytes`, `${bytes.length} bytes`);
  }
  const raw = await walkInWorker(bytes, file);
  if ('error' in raw) {
    if (raw.where === 'layer_names') {
      throw corrupt(file, 'The HDF5 file has no layer_names attribute: it is not a Keras weight file', 'a root attribute layer_names listing the layers', raw.error);
    }
    throw corrupt(file, `The HDF5 file is damaged at ${raw.where} (${raw.error})`, 'readable groups, attributes and datasets');
  }
  const layerNames = names(raw.layerNames, file, 'layer_names');
  if (layerNames.length === 0) {
    throw corrupt(file, 'The HDF5 file has no layer_names attribute: it is not a Keras weight file', 'a root attribute layer_names listing the layers');
  }
  const layers: KerasLayer[] = [];
  const tensors: TensorMap = new Map();
  for (const [k, layer] of layerNames.entries()) {
    const found = raw.layers[k];
    if (!found || found.missing) throw corrupt(file, `The Keras layer "${layer}" named in layer_names has no group`, `a group /${layer}`, 'none');
    const weightNames = names(found.weightNames, file, `${layer}/weight_names`);
    const weights: WeightTensor[] = [];
    for (const [j, w] of weightNames.entries()) {
      const name = `${layer}/${w}`;
      const ds = found.weights[j];
      if (!ds || ds.missing) throw corrupt(file, `The Keras weight "${name}" listed in weight_names is missing`, `a dataset /${name}`, 'none');
      if (!/^[<>|]?f[48]$/.test(ds.dtype)) throw corrupt(file, `The Keras weight "${name}" is not floating point`, 'float32 or float64 values', ds.dtype);
      const shape = ds.shape;
      if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw corrupt(file, `The Keras weight "${name}" has a malformed shape`, 'sizes ≥ 0', `[${String(shape)}]`);
      const count = shape.reduce((p, q) => p * q, 1);
      if (!ds.values || ds.values.length !== count) {
        throw corrupt(file, `The Keras weight "${name}" holds the wrong number of values`, `${count} for shape [${shape.join(', ')}]`, `${ds.values?.length ?? 0}`);
      }
      if (!ds.values.every(Number.isFinite)) throw corrupt(file, `The Keras weight "${name}" holds non-finite values`, 'finite numbers', 'NaN or infinity');
      const tensor = { name, shape, data: ds.values };
      weights.push(tensor);
      tensors.set(name, tensor);
    }
    layers.push({ name: layer, weights });
  }
  const text = (v: unknown) => (v === undefined || v === null ? undefined : names(v, file, 'keras_version/backend')[0]);
  const kerasVersion = text(raw.kerasVersion);
  const backend = text(raw.backend);
  return { file, layers, tensors, ...(kerasVersion && { kerasVersion }), ...(backend && { backend }) };
}

/** What the worker finds: raw attribute values and datasets, checked by parseKerasHdf5. */
type WalkResult =
  | { error: string; where: string }
  | {
      layerNames: unknown;
      kerasVersion: unknown;
      backend: unknown;
      layers: ({ missing: true } | { missing?: false; weightNames: unknown; weights: ({ missing: true } | { missing?: false; dtype: string; shape: number[]; values: Float32Array })[] })[];
    };

/**
 * jsfive runs in a worker thread with a memory limit and a deadline: on damaged input (a flipped
 * bit in a dataspace size, a B-tree pointing at itself) it can try to allocate without bound or
 * loop, and a worker can be stopped where in-process code could not. Datasets declaring more
 * elements than the file could hold are refused before their values are read.
 */
const WALK_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { jsfive, buffer, maxElements } = workerData;
import(jsfive).then((mod) => {
  const hdf5 = mod.File ? mod : mod.default;
  let where = 'the superblock';
  try {
    const f = new hdf5.File(buffer, 'weights.h5');
    where = 'layer_names';
    const layerNames = f.attrs.layer_names;
    if (layerNames === undefined) throw new Error('absent');
    where = 'the root attributes';
    const kerasVersion = f.attrs.keras_version ?? null;
    const backend = f.attrs.backend ?? null;
    const list = Array.isArray(layerNames) ? layerNames : [layerNames];
    const text = (v) => (typeof v === 'string' ? v : new TextDecoder().decode(v)).replace(/\\0+$/, '');
    const layers = [];
    for (const l of list) {
      const name = text(l);
      where = 'layer ' + name;
      const g = f.get(name);
      if (!g || !('keys' in g)) { layers.push({ missing: true }); continue; }
      const weightNames = g.attrs.weight_names;
      const wl = weightNames === undefined ? [] : Array.isArray(weightNames) ? weightNames : [weightNames];
      const weights = [];
      for (const w of wl) {
        const wn = text(w);
        where = 'dataset ' + name + '/' + wn;
        const d = g.get(wn);
        if (!d || !('shape' in d)) { weights.push({ missing: true }); continue; }
        const shape = Array.from(d.shape ?? []);
        const count = shape.reduce((p, q) => p * q, 1);
        if (!(count <= maxElements)) throw new Error('it declares ' + count + ' elements, more than the file can hold');
        const dtype = String(d.dtype);
        weights.push({ dtype, shape, values: /^[<>|]?f[48]$/.test(dtype) ? Float32Array.from(d.value) : new Float32Array(0) });
      }
      layers.push({ weightNames: weightNames ?? [], weights });
    }
    parentPort.postMessage({ layerNames, kerasVersion, backend, layers });
  } catch (e) {
    parentPort.postMessage({ error: String((e && e.message) || e), where });
  }
});
`;

const jsfiveUrl = pathToFileURL(createRequire(import.meta.url).resolve('jsfive')).href;

function walkInWorker(bytes: Uint8Array, file: string): Promise<WalkResult> {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const megabytes = bytes.byteLength / 2 ** 20;
  // jsfive holds values as JS numbers (≈ 9 bytes each) plus its own copy of the file
  const memoryMb = Math.ceil(96 + 24 * megabytes);
  const deadline = 20_000 + 2_000 * megabytes;
  // gzip can expand at most ~1032×; uncompressed float32 data needs 4 bytes an element
  const maxElements = Math.min(2 ** 28, bytes.byteLength * 1032);
  return new Promise((resolve, reject) => {
    const worker = new Worker(WALK_SOURCE, {
      eval: true,
      workerData: { jsfive: jsfiveUrl, buffer, maxElements },
      transferList: [buffer],
      resourceLimits: { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: 32 },
      // jsfive prints warnings about types it skips; they are not ours to show
      stdout: true,
      stderr: true,
    });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(corrupt(file, `Reading the HDF5 file did not finish within ${Math.round(deadline / 1000)} s: its structure loops`, 'a finite HDF5 structure'));
    }, deadline);
    worker.once('message', (m: WalkResult) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(m);
    });
    worker.once('error', (e: Error & { code?: string }) => {
      clearTimeout(timer);
      reject(
        e.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? corrupt(file, `Reading the HDF5 file needed more than ${memoryMb} MB: a size inside it is damaged`, `at most ${memoryMb} MB for a ${bytes.byteLength}-byte file`, undefined, e)
          : corrupt(file, `The HDF5 file could not be read (${e.message})`, 'a readable HDF5 file', undefined, e),
      );
    });
  });
}
