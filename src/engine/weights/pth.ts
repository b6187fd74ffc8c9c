import type { FileHandle } from 'node:fs/promises';
import yauzl from 'yauzl';
import { AtelierError, wrapError } from '../../core/errors.js';
import { DTYPE_SIZE, decodeToFloat32, gatherStrided, isContiguous, numelOf, viewExtent, type DType } from './dtype.js';
import { PickleTruncated, PyGlobal, isPyTuple, unpickle, type PickleHooks, type PyTuple } from './pickle.js';
import type { ReadWeightsOptions } from './safetensors.js';
import type { TensorMap } from './tensor.js';
import { openWeights, readFully, uninitialised } from './weight-file.js';

/**
 * PyTorch `.pth` / `.pt` files as written by `torch.save`, read without Python and without ever
 * running code from the file:
 * - the zip format (torch ≥ 1.6): `<archive>/data.pkl` (a pickle) plus one record per storage,
 *   `<archive>/data/<key>`, raw little-endian bytes (`<archive>/byteorder` says otherwise);
 * - the legacy format (torch 0.1.10 – 1.5, and every torchvision / AdaIN / LPIPS file published
 *   then): five pickles back to back (magic number, protocol version, system info, the object,
 *   the storage keys) followed by each storage as an int64 element count and its raw bytes.
 * Storages are referenced from the pickle by persistent ids; tensors are
 * `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)` calls, so a tensor may be
 * a non-contiguous view into a shared storage: it is gathered into row-major order here.
 * A damaged file (truncated, malformed pickle or archive) is refused with E_WEIGHTS_CORRUPT,
 * naming where it broke; a sound file that holds something else (a whole pickled model, no
 * tensors) with E_WEIGHTS_INVALID.
 */

export interface ReadPthOptions extends ReadWeightsOptions {
  /**
   * Dotted path to the part of the saved object that holds the tensors (e.g. `state_dict`).
   * Default: the `state_dict` entry of a top-level dict when there is one (training checkpoints
   * such as CAP-VSTNet's), else the whole object. Nested dicts and lists become dotted names.
   */
  root?: string;
}

export interface PthTensorInfo {
  name: string;
  shape: number[];
  dtype: DType;
}

/** Read every tensor of a .pth file (or those `include` accepts), converted to float32. */
export async function readPth(file: string, options: ReadPthOptions = {}): Promise<TensorMap> {
  const archive = await openPth(file);
  try {
    const refs = selectTensors(archive.object, options.root, file).filter((t) => !options.include || options.include(t.name));
    return await materialise(refs, archive, file);
  } finally {
    await archive.close();
  }
}

/** Names, shapes and stored dtypes of a .pth file's tensors, without reading tensor data. */
export async function readPthIndex(file: string, options: { root?: string } = {}): Promise<PthTensorInfo[]> {
  const archive = await openPth(file);
  try {
    return selectTensors(archive.object, options.root, file).map((t) => ({ name: t.name, shape: t.size, dtype: t.storage.dtype }));
  } finally {
    await archive.close();
  }
}

// ---------------------------------------------------------------------------------------------
// What the pickle builds: storage and tensor references, resolved to data afterwards.

interface StorageType {
  kind: 'storage-type';
  dtype: DType;
}

interface StorageRef {
  kind: 'storage';
  key: string;
  dtype: DType;
  /** Elements in the storage as the pickle declares it. */
  numel: number;
  /** Legacy storage views: where this view starts in its root storage, in elements. */
  viewOffset: number;
}

interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
}

interface NamedTensorRef extends TensorRef {
  name: string;
}

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
  UntypedStorage: 'U8',
};

/** Globals the file may name. Only these become values; nothing is ever imported or called. */
const ALLOWED_CALLABLES = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch._tensor._rebuild_from_type_v2',
  'torch.Size',
  'builtins.set',
  'builtins.frozenset',
  '__builtin__.set',
  '__builtin__.frozenset',
  '_codecs.encode',
]);

/** Globals that only appear as arguments (a tensor's Python type, a dtype): harmless names. */
const ALLOWED_TOKENS = new Set([
  'torch.Tensor',
  'torch._tensor.Tensor',
  'torch.nn.parameter.Parameter',
  ...['float32', 'float', 'float16', 'half', 'bfloat16', 'float64', 'double', 'int64', 'long', 'int32', 'int', 'int16', 'int8', 'uint8', 'bool'].map((d) => `torch.${d}`),
]);

function refuseGlobal(module: string, name: string, subject: string): never {
  const wholeModel = module.startsWith('torch.nn.modules') || /^(models?|net|networks?)(\.|$)/.test(module) || module === '__main__';
  throw new AtelierError('E_WEIGHTS_INVALID', `The file asks for the Python object ${module}.${name}, which Atelier does not construct`, {
    subject,
    expected: 'tensors in (ordered) dicts and lists, as torch.save(model.state_dict()) writes them',
    hint: wholeModel
      ? 'it holds a whole pickled model, not a state_dict: in Python, load it and save model.state_dict() (or convert it to safetensors); Atelier never runs code from weight files'
      : 'Atelier never runs code from weight files: save only the state_dict (tensors), or convert the file to safetensors',
  });
}

function torchHooks(subject: string, storages: Map<string, StorageRef>): PickleHooks {
  const bad = (what: string): never => {
    throw new AtelierError('E_WEIGHTS_CORRUPT', `Malformed PyTorch pickle: ${what}`, {
      subject,
      expected: 'tensors rebuilt from (storage, offset, size, stride) as torch.save writes them',
      received: what,
      hint: 'the file is corrupt or was not written by torch.save: download or import it again',
    });
  };
  const intList = (v: unknown, what: string): number[] => {
    if (!Array.isArray(v) || !v.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) bad(`${what} is not a tuple of sizes`);
    return [...(v as number[])];
  };
  const rebuildTensor = (args: PyTuple): TensorRef => {
    const [storage, offset, size, stride] = args;
    if (!isRecord(storage, 'storage')) bad('a tensor whose storage is not a storage reference');
    if (!Number.isSafeInteger(offset) || (offset as number) < 0) bad('a tensor with a malformed storage offset');
    const s = storage as unknown as StorageRef;
    const sizes = intList(size, 'a tensor size');
    const strides = intList(stride, 'a tensor stride');
    if (sizes.length !== strides.length) bad('a tensor whose size and stride differ in length');
    return { kind: 'tensor', storage: s, offset: (offset as number) + s.viewOffset, size: sizes, stride: strides };
  };
  return {
    global(module, name) {
      const qualified = `${module}.${name}`;
      if ((module === 'torch' || module === 'torch.cuda') && Object.hasOwn(STORAGE_DTYPES, name)) {
        return { kind: 'storage-type', dtype: STORAGE_DTYPES[name]! } satisfies StorageType;
      }
      if (ALLOWED_CALLABLES.has(qualified) || ALLOWED_TOKENS.has(qualified)) return new PyGlobal(module, name);
      return refuseGlobal(module, name, subject);
    },
    call(callable, args) {
      if (!(callable instanceof PyGlobal) || !ALLOWED_CALLABLES.has(callable.qualifiedName)) {
        return bad(`a call to ${callable instanceof PyGlobal ? callable.qualifiedName : 'something that is not a function'}`);
      }
      switch (callable.qualifiedName) {
        case 'collections.OrderedDict': {
          const m = new Map<unknown, unknown>();
          // Python 2 era files pass the items as a list of [key, value] pairs
          if (args.length > 0 && Array.isArray(args[0])) {
            for (const pair of args[0] as unknown[]) {
              if (!Array.isArray(pair) || pair.length !== 2) bad('an OrderedDict item that is not a pair');
              m.set((pair as unknown[])[0], (pair as unknown[])[1]);
            }
          }
          return m;
        }
        case 'torch._utils._rebuild_tensor':
        case 'torch._utils._rebuild_tensor_v2':
          return rebuildTensor(args);
        case 'torch._utils._rebuild_parameter':
        case 'torch._utils._rebuild_parameter_with_state':
          return args[0];
        case 'torch._tensor._rebuild_from_type_v2': {
          const [fn, , fnArgs] = args;
          if (!Array.isArray(fnArgs)) return bad('_rebuild_from_type_v2 without arguments');
          return this.call(fn, isPyTuple(fnArgs) ? fnArgs : Object.freeze([...(fnArgs as unknown[])]));
        }
        case 'torch.Size':
          return Object.freeze([...((args[0] as unknown[]) ?? [])]);
        case 'builtins.set':
        case 'builtins.frozenset':
        case '__builtin__.set':
        case '__builtin__.frozenset':
          return new Set(Array.isArray(args[0]) ? args[0] : []);
        case '_codecs.encode': {
          // how protocol 2 stores Python 3 bytes: encode(text, 'latin1')
          const [text] = args;
          if (typeof text !== 'string') return bad('_codecs.encode of something that is not text');
          return Uint8Array.from(text as string, (c) => c.charCodeAt(0) & 0xff);
        }
      }
      return bad(`a call to ${callable.qualifiedName}`);
    },
    build(obj, _state) {
      // OrderedDict state (`_metadata`, module versions) and tensor/Parameter state carry nothing we use.
      if (obj instanceof Map || isRecord(obj, 'tensor')) return obj;
      return bad('a BUILD on an object that is neither a dict nor a tensor');
    },
    persistentLoad(pid) {
      if (!Array.isArray(pid) || pid[0] !== 'storage') {
        return bad(`a persistent id that is not a storage (${Array.isArray(pid) ? String(pid[0]) : typeof pid}); files from PyTorch before 0.1.10 are not supported`);
      }
      const [, type, key, , numel, view] = pid as unknown[];
      if (!isRecord(type, 'storage-type')) return bad('a storage of an unknown type');
      if (typeof key !== 'string' && typeof key !== 'number') return bad('a storage key that is not text');
      if (!Number.isSafeInteger(numel) || (numel as number) < 0) return bad('a storage with a malformed size');
      const dtype = (type as unknown as StorageType).dtype;
      const k = String(key);
      let root = storages.get(k);
      if (!root) {
        root = { kind: 'storage', key: k, dtype, numel: numel as number, viewOffset: 0 };
        storages.set(k, root);
      } else if (root.dtype !== dtype) {
        return bad(`storage ${k} used with two element types`);
      }
      if (view !== undefined && view !== null) {
        // legacy storage view: (view_key, offset, view_size)
        const [, offset] = view as unknown[];
        if (!Number.isSafeInteger(offset)) return bad('a storage view with a malformed offset');
        return { ...root, viewOffset: offset as number };
      }
      return root;
    },
  };
}

function isRecord(v: unknown, kind: string): boolean {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === kind;
}

// ---------------------------------------------------------------------------------------------
// Finding the tensors in the saved object.

function selectTensors(object: unknown, root: string | undefined, subject: string): NamedTensorRef[] {
  let node = object;
  if (root !== undefined && root !== '') {
    for (const part of root.split('.')) {
      const next = child(node, part);
      if (next === undefined) {
        throw new AtelierError('E_WEIGHTS_INVALID', `The file has no entry "${root}"`, {
          subject,
          expected: `one of: ${topKeys(object).join(', ') || '(no named entries)'}`,
          received: root,
        });
      }
      node = next;
    }
  } else if (node instanceof Map && node.get('state_dict') instanceof Map) {
    node = node.get('state_dict');
  }
  const out: NamedTensorRef[] = [];
  // A pickle can build cycles (a list holding itself) and arbitrary depth: walk each container once.
  const seen = new Set<unknown>();
  const walk = (v: unknown, prefix: string, depth: number): void => {
    if (isRecord(v, 'tensor')) {
      out.push({ ...(v as TensorRef), name: prefix });
      return;
    }
    if (!(v instanceof Map) && !Array.isArray(v)) return;
    if (seen.has(v)) return;
    seen.add(v);
    if (depth > MAX_NESTING) {
      throw new AtelierError('E_WEIGHTS_INVALID', `The saved object nests deeper than ${MAX_NESTING} levels`, { subject, received: `at "${prefix}"` });
    }
    const at = (k: string | number) => (prefix === '' ? String(k) : `${prefix}.${k}`);
    if (v instanceof Map) {
      for (const [k, x] of v) if (typeof k === 'string' || typeof k === 'number') walk(x, at(k), depth + 1);
    } else v.forEach((x, i) => walk(x, at(i), depth + 1));
  };
  walk(node, '', 0);
  if (out.length === 0) {
    throw new AtelierError('E_WEIGHTS_INVALID', 'The file holds no tensors', {
      subject,
      ...(root !== undefined && { received: `entry "${root}"` }),
      hint: 'check that it is a weight file saved with torch.save(model.state_dict())',
    });
  }
  return out;
}

const MAX_NESTING = 64;

/** Beyond this a "tensor" is an attack or corruption, not weights (2^33 float32 = 32 GB). */
const MAX_TENSOR_ELEMENTS = 2 ** 33;

function child(node: unknown, key: string): unknown {
  if (node instanceof Map) return node.has(key) ? node.get(key) : node.get(Number(key));
  if (Array.isArray(node) && /^\d+$/.test(key)) return node[Number(key)];
  return undefined;
}

function topKeys(node: unknown): string[] {
  return node instanceof Map ? [...node.keys()].filter((k) => typeof k === 'string').slice(0, 12) : [];
}

// ---------------------------------------------------------------------------------------------
// The two containers.

interface PthArchive {
  object: unknown;
  storages: Map<string, StorageRef>;
  littleEndian: boolean;
  /** Raw bytes of a root storage (at least `numel` elements of its dtype). */
  readStorage(ref: StorageRef): Promise<Uint8Array>;
  close(): Promise<void>;
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

async function openPth(file: string): Promise<PthArchive> {
  const fh = await openWeights(file);
  const head = new Uint8Array(4);
  let keepOpen = false;
  try {
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    if (bytesRead === 4 && ZIP_MAGIC.every((b, i) => head[i] === b)) return await openZip(file);
    if (bytesRead >= 2 && head[0] === 0x80) {
      keepOpen = true;
      return await openLegacy(fh, file);
    }
    throw new AtelierError('E_WEIGHTS_CORRUPT', 'The file is not a PyTorch weight file', {
      subject: file,
      expected: 'a zip archive (torch ≥ 1.6) or a legacy pickle stream written by torch.save',
      received: bytesRead === 0 ? 'an empty file' : `a file starting with bytes ${[...head.subarray(0, bytesRead)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`,
      hint: 'PyTorch files from before version 0.1.10 (tar archives) are not supported',
    });
  } catch (e) {
    if (keepOpen) await fh.close().catch(() => {});
    throw e;
  } finally {
    if (!keepOpen) await fh.close();
  }
}

async function openZip(file: string): Promise<PthArchive> {
  const fh = await openWeights(file);
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false, strictFileNames: false });
  } catch (e) {
    const size = (await fh.stat()).size;
    await fh.close();
    throw wrapError(e, 'E_WEIGHTS_CORRUPT', 'The .pth zip archive is unreadable', { subject: file, expected: 'a zip archive whose last bytes hold its central directory', received: `${size} bytes`, hint: 'the file is truncated or corrupt: download or import it again' });
  }
  try {
    const fileSize = (await fh.stat()).size;
    const entries = new Map<string, yauzl.Entry>();
    try {
      for await (const entry of zip.eachEntry()) entries.set(entry.fileName, entry);
    } catch (e) {
      throw wrapError(e, 'E_WEIGHTS_CORRUPT', `The .pth zip archive's directory is damaged (after ${entries.size} entries)`, {
        subject: file,
        expected: 'central directory entries whose sizes and offsets fit the file',
        received: `${fileSize} bytes`,
        hint: 'the file is truncated or corrupt: download or import it again',
      });
    }
    const pickles = [...entries.keys()].filter((n) => n.endsWith('/data.pkl') && n.split('/').length === 2);
    if (pickles.length !== 1) {
      throw new AtelierError('E_WEIGHTS_CORRUPT', 'The zip archive is not a torch.save file', {
        subject: file,
        expected: 'exactly one <archive>/data.pkl record',
        received: pickles.length === 0 ? 'none' : pickles.join(', '),
      });
    }
    const prefix = pickles[0]!.slice(0, -'data.pkl'.length);
    const readEntry = async (entry: yauzl.Entry): Promise<Uint8Array> => {
      try {
        // torch.save stores records uncompressed: read those straight from the file (≈20× faster
        // than yauzl's stream); anything compressed goes through yauzl.
        return entry.compressionMethod === 0 && !entry.isEncrypted() ? await readStored(fh, entry, fileSize) : await readThroughStream(zip, entry);
      } catch (e) {
        throw wrapError(e, 'E_WEIGHTS_CORRUPT', `Record ${entry.fileName} of the .pth archive is unreadable (at byte ${entry.relativeOffsetOfLocalHeader})`, {
          subject: file,
          expected: `${entry.uncompressedSize} bytes of record data`,
          hint: 'the file is truncated or corrupt: download or import it again',
        });
      }
    };
    let littleEndian = true;
    const byteorder = entries.get(`${prefix}byteorder`);
    if (byteorder) {
      const text = new TextDecoder().decode(await readEntry(byteorder)).trim();
      if (text !== 'little' && text !== 'big') throw new AtelierError('E_WEIGHTS_CORRUPT', 'Unknown byte order in the .pth archive', { subject: file, expected: '"little" or "big" in the byteorder record', received: text });
      littleEndian = text === 'little';
    }
    const storages = new Map<string, StorageRef>();
    const pkl = await readEntry(entries.get(pickles[0]!)!);
    const { value } = unpickle(pkl, torchHooks(file, storages), file);
    return {
      object: value,
      storages,
      littleEndian,
      async readStorage(ref) {
        const entry = entries.get(`${prefix}data/${ref.key}`);
        if (!entry) throw new AtelierError('E_WEIGHTS_CORRUPT', `The archive lacks the data of storage ${ref.key}`, { subject: file, received: 'no such record', expected: `a record ${prefix}data/${ref.key}` });
        return readEntry(entry);
      },
      async close() {
        zip.close();
        await fh.close();
      },
    };
  } catch (e) {
    zip.close();
    await fh.close();
    throw e;
  }
}

/** An uncompressed zip record: its bytes follow the local header (30 bytes + name + extra field). */
async function readStored(fh: FileHandle, entry: yauzl.Entry, fileSize: number): Promise<Uint8Array> {
  const header = new Uint8Array(30);
  const got = await fh.read(header, 0, 30, entry.relativeOffsetOfLocalHeader);
  const dv = new DataView(header.buffer);
  if (got.bytesRead !== 30 || dv.getUint32(0, true) !== 0x04034b50) throw new Error('bad local file header');
  const start = entry.relativeOffsetOfLocalHeader + 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
  if (start + entry.uncompressedSize > fileSize) throw new Error(`record claims ${entry.uncompressedSize} bytes beyond the end of the file`);
  const out = uninitialised(entry.uncompressedSize);
  const bytesRead = await readFully(fh, out, start);
  if (bytesRead !== out.length) throw new Error(`record ends after ${bytesRead} of ${out.length} bytes`);
  return out;
}

async function readThroughStream(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Uint8Array> {
  const out = new Uint8Array(entry.uncompressedSize);
  let at = 0;
  const stream = await zip.openReadStreamPromise(entry);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (at + chunk.length > out.length) throw new Error('entry longer than its declared size');
    out.set(chunk, at);
    at += chunk.length;
  }
  if (at !== out.length) throw new Error(`record ends after ${at} of ${out.length} bytes`);
  return out;
}

/** 0x1950a86a20f9469cfc6c: the number legacy torch.save writes first. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

async function openLegacy(fh: FileHandle, file: string): Promise<PthArchive> {
  const { size } = await fh.stat();
  const storages = new Map<string, StorageRef>();
  // The pickles are small next to the storages after them: read a prefix, more if they run past it.
  let chunk = Math.min(size, 1 << 20);
  let parsed: { sysInfo: unknown; object: unknown; keys: unknown; end: number } | undefined;
  for (;;) {
    const buf = new Uint8Array(chunk);
    await readFully(fh, buf, 0);
    try {
      storages.clear();
      const magic = unpickle(buf, torchHooks(file, storages), file, 0);
      if (magic.value !== LEGACY_MAGIC) {
        throw new AtelierError('E_WEIGHTS_CORRUPT', 'The file is a pickle but not one written by torch.save', {
          subject: file,
          expected: `torch.save's magic number ${LEGACY_MAGIC} as the first pickle`,
          received: `${String(magic.value).slice(0, 40)} (bytes 0–${magic.end})`,
          hint: 'Atelier reads .pth files written by torch.save (zip or legacy format)',
        });
      }
      const protocol = unpickle(buf, torchHooks(file, storages), file, magic.end);
      if (protocol.value !== 1001) throw new AtelierError('E_WEIGHTS_CORRUPT', `Unknown legacy torch.save protocol version (the pickle at byte ${magic.end})`, { subject: file, expected: '1001', received: String(protocol.value) });
      const sysInfo = unpickle(buf, torchHooks(file, storages), file, protocol.end);
      const object = unpickle(buf, torchHooks(file, storages), file, sysInfo.end);
      const keys = unpickle(buf, torchHooks(file, storages), file, object.end);
      parsed = { sysInfo: sysInfo.value, object: object.value, keys: keys.value, end: keys.end };
      break;
    } catch (e) {
      if (!(e instanceof PickleTruncated) || chunk >= size) throw e;
      chunk = Math.min(size, chunk * 4);
    }
  }
  const littleEndian = !(parsed.sysInfo instanceof Map) || parsed.sysInfo.get('little_endian') !== false;
  if (!Array.isArray(parsed.keys) || !parsed.keys.every((k) => typeof k === 'string')) {
    throw new AtelierError('E_WEIGHTS_CORRUPT', `Malformed legacy .pth file: the storage key list is missing (the pickle at byte ${parsed.end})`, { subject: file, expected: 'a list of storage keys (strings) after the object pickle', received: Array.isArray(parsed.keys) ? 'a list with a non-string entry' : typeof parsed.keys });
  }
  // Storages follow in key order, each as <int64 element count><bytes>: find where each one starts.
  const where = new Map<string, { at: number; numel: number }>();
  let at = parsed.end;
  const count = new Uint8Array(8);
  for (const key of parsed.keys as string[]) {
    const ref = storages.get(key);
    if (!ref) throw new AtelierError('E_WEIGHTS_CORRUPT', `Malformed legacy .pth file: storage ${key} is listed but never used`, { subject: file, expected: `a storage the object pickle refers to (${[...storages.keys()].slice(0, 5).join(', ')}…)`, received: `key ${key} at byte ${at}` });
    const { bytesRead } = await fh.read(count, 0, 8, at);
    if (bytesRead !== 8) throw truncated(file, size);
    const dv = new DataView(count.buffer);
    const numel = Number(dv.getBigInt64(0, littleEndian));
    if (numel < 0 || numel < ref.numel) throw new AtelierError('E_WEIGHTS_CORRUPT', `Malformed legacy .pth file: storage ${key} has a bad length (at byte ${at})`, { subject: file, expected: `at least ${ref.numel} elements`, received: String(numel) });
    where.set(key, { at: at + 8, numel });
    at += 8 + numel * DTYPE_SIZE[ref.dtype];
    if (at > size) throw truncated(file, size, at);
  }
  return {
    object: parsed.object,
    storages,
    littleEndian,
    async readStorage(ref) {
      const loc = where.get(ref.key);
      if (!loc) throw new AtelierError('E_WEIGHTS_CORRUPT', `Malformed legacy .pth file: storage ${ref.key} has no data`, { subject: file, expected: `storage ${ref.key} in the key list`, received: 'a tensor referring to a storage the list does not hold' });
      const out = uninitialised(loc.numel * DTYPE_SIZE[ref.dtype]);
      if ((await readFully(fh, out, loc.at)) !== out.length) throw truncated(file, size);
      return out;
    },
    async close() {
      await fh.close();
    },
  };
}

function truncated(file: string, size: number, needed?: number): AtelierError {
  return new AtelierError('E_WEIGHTS_CORRUPT', `The .pth file ends before its tensor data does (at byte ${size})`, {
    subject: file,
    expected: needed !== undefined ? `at least ${needed} bytes` : 'every storage in full',
    received: `${size} bytes`,
    hint: 'the file is truncated: download or import it again',
  });
}

// ---------------------------------------------------------------------------------------------
// Turning references into float32 tensors.

async function materialise(refs: NamedTensorRef[], archive: PthArchive, file: string): Promise<TensorMap> {
  const byStorage = new Map<string, NamedTensorRef[]>();
  for (const t of refs) {
    const list = byStorage.get(t.storage.key) ?? [];
    list.push(t);
    byStorage.set(t.storage.key, list);
  }
  const out: TensorMap = new Map();
  for (const [key, tensors] of byStorage) {
    const root = archive.storages.get(key)!;
    const bytes = await archive.readStorage(root);
    const available = Math.floor(bytes.length / DTYPE_SIZE[root.dtype]);
    if (available < root.numel) {
      throw new AtelierError('E_WEIGHTS_CORRUPT', `Storage ${key} holds fewer elements than declared`, {
        subject: file,
        expected: `${root.numel} ${root.dtype} elements`,
        received: `${available}`,
      });
    }
    const values = decodeToFloat32(bytes.subarray(0, root.numel * DTYPE_SIZE[root.dtype]), root.dtype, archive.littleEndian, file);
    for (const t of tensors) {
      if (viewExtent(t.offset, t.size, t.stride) > root.numel) {
        throw new AtelierError('E_WEIGHTS_CORRUPT', `Tensor "${t.name}" reaches past the end of its storage`, {
          subject: file,
          expected: `at most ${root.numel} elements`,
          received: `offset ${t.offset}, size [${t.size.join(', ')}], stride [${t.stride.join(', ')}]`,
        });
      }
      const n = numelOf(t.size);
      if (n > MAX_TENSOR_ELEMENTS) {
        throw new AtelierError('E_WEIGHTS_CORRUPT', `Tensor "${t.name}" is implausibly large`, { subject: file, expected: `at most ${MAX_TENSOR_ELEMENTS} elements`, received: `size [${t.size.join(', ')}]` });
      }
      let data: Float32Array;
      if (isContiguous(t.size, t.stride)) {
        // the only view of a storage it fills keeps the decoded array; shared storages get copies
        const whole = tensors.length === 1 && t.offset === 0 && n === values.length;
        data = whole ? values : values.slice(t.offset, t.offset + n);
      } else {
        data = gatherStrided(values, t.offset, t.size, t.stride);
      }
      out.set(t.name, { name: t.name, shape: t.size, data });
    }
  }
  // keep the file's order, not storage order
  return new Map(refs.filter((t) => out.has(t.name)).map((t) => [t.name, out.get(t.name)!]));
}
