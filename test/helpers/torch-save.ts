import { writeFileSync } from 'node:fs';
import yazl from 'yazl';
import { DTYPE_SIZE, float32ToFloat16Bits, type DType } from '../../src/engine/weights/dtype.js';

/**
 * A writer that produces files the way `torch.save` does, so that the .pth reader can be tested
 * without Python: the same pickle opcodes (protocol 2, as torch.save's default), the same
 * persistent ids for storages, `_rebuild_tensor_v2` calls with offset/size/stride (so shared and
 * non-contiguous views can be written), OrderedDicts with `_metadata` state, and both
 * containers (zip, torch ≥ 1.6; legacy stream, torch < 1.6, optionally with Python 2 strings).
 * Where torch itself is installed, test/engine/weights/pth-torch.test.ts checks files it wrote.
 */

export type SavedDType = Extract<DType, 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'U8'>;

export interface SavedStorage {
  key: string;
  dtype: SavedDType;
  /** Element values (converted to the dtype when written). */
  values: ArrayLike<number>;
}

export interface SavedTensor {
  kind: 'tensor';
  storage: SavedStorage;
  offset: number;
  size: number[];
  stride: number[];
  /** Save as an nn.Parameter (`_rebuild_parameter`), as `torch.save(model)` pieces do. */
  parameter?: boolean;
}

/** What can be saved: tensors, OrderedDicts (Map), plain dicts ({dict}), lists, numbers, strings. */
export type SavedValue = SavedTensor | Map<string, SavedValue> | { dict: Record<string, SavedValue> } | SavedValue[] | number | string | boolean | null;

let storageCounter = 0;

/** A contiguous tensor with a storage of its own. */
export function savedTensor(values: ArrayLike<number>, size: number[], dtype: SavedDType = 'F32', key?: string): SavedTensor {
  const storage = { key: key ?? String(storageCounter++), dtype, values };
  return { kind: 'tensor', storage, offset: 0, size, stride: contiguous(size) };
}

/** Another view onto an existing tensor's storage (a transpose, a slice, an expand). */
export function savedView(of: SavedTensor, offset: number, size: number[], stride: number[]): SavedTensor {
  return { kind: 'tensor', storage: of.storage, offset, size, stride };
}

export function contiguous(size: number[]): number[] {
  const s = new Array<number>(size.length);
  let acc = 1;
  for (let i = size.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= size[i]!;
  }
  return s;
}

/** A state dict as torch produces it: an OrderedDict of tensors in module order. */
export function stateDict(entries: Iterable<[string, SavedValue]>): Map<string, SavedValue> {
  return new Map(entries);
}

// ---------------------------------------------------------------------------------------------

class PickleWriter {
  private parts: number[] = [];
  private memo = new Map<unknown, number>();
  constructor(private readonly py2Strings: boolean) {}

  byte(...b: number[]): void {
    for (const x of b) this.parts.push(x);
  }
  u32(v: number): void {
    this.byte(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }
  bytes(b: Uint8Array): void {
    for (const x of b) this.parts.push(x);
  }
  put(key: unknown): void {
    const i = this.memo.size;
    this.memo.set(key, i);
    if (i < 256) this.byte(0x71, i);
    else {
      this.byte(0x72);
      this.u32(i);
    }
  }
  /** BINGET for something already memoised; true when it was. */
  get(key: unknown): boolean {
    const i = this.memo.get(key);
    if (i === undefined) return false;
    if (i < 256) this.byte(0x68, i);
    else {
      this.byte(0x6a);
      this.u32(i);
    }
    return true;
  }
  str(s: string): void {
    if (this.get(`str:${s}`)) return;
    const b = new TextEncoder().encode(s);
    if (this.py2Strings && b.length < 256) this.byte(0x55, b.length); // SHORT_BINSTRING
    else {
      this.byte(0x58); // BINUNICODE
      this.u32(b.length);
    }
    this.bytes(b);
    this.put(`str:${s}`);
  }
  int(v: number): void {
    if (v >= 0 && v < 256) this.byte(0x4b, v);
    else if (v >= 0 && v < 65536) this.byte(0x4d, v & 0xff, v >> 8);
    else if (v >= -(2 ** 31) && v < 2 ** 31) {
      this.byte(0x4a);
      this.u32(v >>> 0);
    } else this.long(BigInt(v));
  }
  long(v: bigint): void {
    const out: number[] = [];
    let x = v;
    do {
      out.push(Number(x & 0xffn));
      x >>= 8n;
    } while (!(x === 0n && (out[out.length - 1]! & 0x80) === 0) && !(x === -1n && (out[out.length - 1]! & 0x80) !== 0));
    this.byte(0x8a, out.length, ...out);
  }
  global(module: string, name: string): void {
    if (this.get(`global:${module}.${name}`)) return;
    this.byte(0x63);
    this.bytes(new TextEncoder().encode(`${module}\n${name}\n`));
    this.put(`global:${module}.${name}`);
  }
  /** A tuple as pickle protocol 2 writes it: TUPLE1/2/3 for short ones, MARK…TUPLE otherwise. */
  tuple(items: (() => void)[]): void {
    if (items.length === 0) return this.byte(0x29);
    if (items.length > 3) this.byte(0x28);
    for (const item of items) item();
    this.byte(items.length > 3 ? 0x74 : [0, 0x85, 0x86, 0x87][items.length]!);
    this.put({});
  }
  done(): Uint8Array {
    this.byte(0x2e);
    return Uint8Array.from(this.parts);
  }
}

const STORAGE_CLASS: Record<SavedDType, string> = {
  F32: 'FloatStorage',
  F16: 'HalfStorage',
  BF16: 'BFloat16Storage',
  F64: 'DoubleStorage',
  I64: 'LongStorage',
  I32: 'IntStorage',
  U8: 'ByteStorage',
};

function writeValue(w: PickleWriter, v: SavedValue, storages: Map<string, SavedStorage>, legacy: boolean): void {
  if (v === null) return w.byte(0x4e);
  if (typeof v === 'boolean') return w.byte(v ? 0x88 : 0x89);
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return w.int(v);
    const b = new Uint8Array(9);
    b[0] = 0x47;
    new DataView(b.buffer).setFloat64(1, v, false);
    return w.bytes(b);
  }
  if (typeof v === 'string') return w.str(v);
  if (Array.isArray(v)) {
    w.byte(0x5d); // EMPTY_LIST
    w.put({});
    if (v.length > 0) {
      w.byte(0x28);
      for (const x of v) writeValue(w, x, storages, legacy);
      w.byte(0x65); // APPENDS
    }
    return;
  }
  if (v instanceof Map) {
    // OrderedDict.__reduce__: (OrderedDict, (), state, None, items) → GLOBAL () REDUCE, SETITEMS, BUILD
    w.global('collections', 'OrderedDict');
    w.byte(0x29, 0x52);
    w.put({});
    writeItems(w, [...v.entries()], storages, legacy);
    // state_dict() carries `_metadata` (per-module versions) as instance state
    w.byte(0x7d);
    w.put({});
    w.str('_metadata');
    w.global('collections', 'OrderedDict');
    w.byte(0x29, 0x52);
    w.put({});
    w.str('');
    w.byte(0x7d);
    w.put({});
    w.str('version');
    w.int(1);
    w.byte(0x73); // SETITEM version
    w.byte(0x73); // SETITEM ''
    w.byte(0x73); // SETITEM _metadata
    w.byte(0x62); // BUILD
    return;
  }
  if ('dict' in v) {
    w.byte(0x7d);
    w.put({});
    writeItems(w, Object.entries(v.dict), storages, legacy);
    return;
  }
  // a tensor: _rebuild_tensor_v2(storage_pid, offset, size, stride, requires_grad, backward_hooks)
  const t = v;
  storages.set(t.storage.key, t.storage);
  if (t.parameter) w.global('torch._utils', '_rebuild_parameter');
  w.global('torch._utils', '_rebuild_tensor_v2');
  w.tuple([
    () =>
      w.tuple([
        () => w.str('storage'),
        () => w.global('torch', STORAGE_CLASS[t.storage.dtype]),
        () => w.str(t.storage.key),
        () => w.str('cpu'),
        () => w.int(t.storage.values.length),
        ...(legacy ? [() => w.byte(0x4e)] : []),
      ]),
    // BINPERSID turns the pid tuple just written into the storage: an item that adds no stack value
    () => w.byte(0x51),
    () => w.int(t.offset),
    () => w.tuple(t.size.map((d) => () => w.int(d))),
    () => w.tuple(t.stride.map((d) => () => w.int(d))),
    () => w.byte(0x89),
    () => {
      w.global('collections', 'OrderedDict');
      w.byte(0x29, 0x52);
      w.put({});
    },
  ]);
  w.byte(0x52); // REDUCE
  w.put({});
  if (t.parameter) {
    // _rebuild_parameter(data, requires_grad, backward_hooks)
    w.byte(0x88);
    w.global('collections', 'OrderedDict');
    w.byte(0x29, 0x52);
    w.put({});
    w.byte(0x87, 0x52); // TUPLE3 REDUCE
    w.put({});
  }
}

function writeItems(w: PickleWriter, items: [string, SavedValue][], storages: Map<string, SavedStorage>, legacy: boolean): void {
  if (items.length === 0) return;
  w.byte(0x28);
  for (const [k, x] of items) {
    w.str(k);
    writeValue(w, x, storages, legacy);
  }
  w.byte(0x75); // SETITEMS
}

function storageBytes(s: SavedStorage): Uint8Array {
  if (s.dtype === 'F32') return new Uint8Array(Float32Array.from(s.values).buffer);
  const size = DTYPE_SIZE[s.dtype];
  const out = new Uint8Array(s.values.length * size);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < s.values.length; i++) {
    const v = s.values[i]!;
    switch (s.dtype) {
      case 'F64':
        dv.setFloat64(i * 8, v, true);
        break;
      case 'F16':
        dv.setUint16(i * 2, float32ToFloat16Bits(v), true);
        break;
      case 'BF16':
        dv.setUint16(i * 2, new Uint32Array(new Float32Array([v]).buffer)[0]! >>> 16, true);
        break;
      case 'I64':
        dv.setBigInt64(i * 8, BigInt(Math.trunc(v)), true);
        break;
      case 'I32':
        dv.setInt32(i * 4, v, true);
        break;
      case 'U8':
        dv.setUint8(i, v);
        break;
    }
  }
  return out;
}

function picklePayload(value: SavedValue, legacy: boolean, py2Strings: boolean): { pkl: Uint8Array; storages: SavedStorage[] } {
  const w = new PickleWriter(py2Strings);
  w.byte(0x80, 2);
  const storages = new Map<string, SavedStorage>();
  writeValue(w, value, storages, legacy);
  return { pkl: w.done(), storages: [...storages.values()] };
}

/** torch.save(obj, file) with the zip container (torch ≥ 1.6). */
export async function writeTorchZip(file: string, value: SavedValue, options: { archiveName?: string; /** deflate the records (torch never does; other zip tools may) */ compress?: boolean } = {}): Promise<void> {
  const { pkl, storages } = picklePayload(value, false, false);
  const prefix = `${options.archiveName ?? 'archive'}/`;
  const zip = new yazl.ZipFile();
  const add = (name: string, data: Uint8Array | string) => zip.addBuffer(Buffer.from(data), prefix + name, { compress: options.compress ?? false, mtime: new Date(0) });
  add('data.pkl', pkl);
  add('byteorder', 'little');
  for (const s of storages) add(`data/${s.key}`, storageBytes(s));
  add('version', '3\n');
  add('.data/serialization_id', '1234567890123456789012345678901234567890');
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) chunks.push(c);
  writeFileSync(file, Buffer.concat(chunks));
}

/** torch.save(obj, file, _use_new_zipfile_serialization=False): the legacy stream. */
export function writeTorchLegacy(file: string, value: SavedValue, options: { py2Strings?: boolean } = {}): void {
  const py2 = options.py2Strings ?? false;
  const parts: Uint8Array[] = [];
  const small = (emit: (w: PickleWriter) => void) => {
    const w = new PickleWriter(py2);
    w.byte(0x80, 2);
    emit(w);
    parts.push(w.done());
  };
  small((w) => w.long(0x1950a86a20f9469cfc6cn));
  small((w) => w.int(1001));
  small((w) => {
    w.byte(0x7d);
    w.put({});
    w.byte(0x28);
    w.str('protocol_version');
    w.int(1001);
    w.str('little_endian');
    w.byte(0x88);
    w.str('type_sizes');
    w.byte(0x7d);
    w.put({});
    w.byte(0x28);
    for (const [k, n] of [['short', 2], ['int', 4], ['long', 4]] as const) {
      w.str(k);
      w.int(n);
    }
    w.byte(0x75, 0x75);
  });
  const { pkl, storages } = picklePayload(value, true, py2);
  parts.push(pkl);
  const keys = storages.map((s) => s.key).sort();
  small((w) => {
    w.byte(0x5d);
    w.put({});
    w.byte(0x28);
    for (const k of keys) w.str(k);
    w.byte(0x65);
  });
  for (const k of keys) {
    const s = storages.find((x) => x.key === k)!;
    const count = new Uint8Array(8);
    new DataView(count.buffer).setBigInt64(0, BigInt(s.values.length), true);
    parts.push(count, storageBytes(s));
  }
  writeFileSync(file, Buffer.concat(parts));
}
