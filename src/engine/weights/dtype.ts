import { AtelierError } from '../../core/errors.js';

/**
 * Element types weight files store, and their conversion to float32 (the only type networks
 * use). Integer and boolean tensors convert exactly up to 2^24; beyond that they round, which is
 * fine for what state dicts hold in them (counters such as BatchNorm's `num_batches_tracked`).
 */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_SIZE: Record<DType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isDType(s: string): s is DType {
  return Object.hasOwn(DTYPE_SIZE, s);
}

const hostLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let halfTable: Float32Array | undefined;

/** All 65536 float16 values as float32: one table lookup per element beats bit fiddling. */
function float16Table(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac === 0 ? sign * Infinity : NaN;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  halfTable = t;
  return t;
}

/** float32 → float16 bits, round to nearest even (for the safetensors writer). */
export function float32ToFloat16Bits(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // a carry into the exponent is correct
  return sign | half;
}

/**
 * Decode `bytes` (a whole number of elements of `dtype`) to float32. Aligned little-endian
 * float32 comes back as a view on the same memory, without a copy.
 */
export function decodeToFloat32(bytes: Uint8Array, dtype: DType, littleEndian = true, subject = 'weights'): Float32Array {
  const size = DTYPE_SIZE[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new AtelierError('E_WEIGHTS_INVALID', `A ${dtype} tensor's byte length is not a multiple of ${size}`, {
      subject,
      received: `${bytes.byteLength} bytes`,
    });
  }
  const n = bytes.byteLength / size;
  if (littleEndian !== hostLittleEndian && size > 1) bytes = byteSwapped(bytes, size);
  if (dtype === 'F32') {
    if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    return new Float32Array(bytes.slice().buffer);
  }
  const out = new Float32Array(n);
  const aligned = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  switch (dtype) {
    case 'F64': {
      const src = new Float64Array(aligned.buffer, aligned.byteOffset, n);
      for (let i = 0; i < n; i++) out[i] = src[i]!;
      break;
    }
    case 'F16': {
      const src = new Uint16Array(aligned.buffer, aligned.byteOffset, n);
      const table = float16Table();
      for (let i = 0; i < n; i++) out[i] = table[src[i]!]!;
      break;
    }
    case 'BF16': {
      const src = new Uint16Array(aligned.buffer, aligned.byteOffset, n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = src[i]! << 16;
      break;
    }
    case 'I64': {
      // low word unsigned + high word signed: exact up to 2^53, rounded beyond.
      const src = new Int32Array(aligned.buffer, aligned.byteOffset, n * 2);
      const lo = hostLittleEndian ? 0 : 1;
      for (let i = 0; i < n; i++) out[i] = (src[2 * i + lo]! >>> 0) + src[2 * i + 1 - lo]! * 4294967296;
      break;
    }
    case 'I32':
      out.set(new Int32Array(aligned.buffer, aligned.byteOffset, n));
      break;
    case 'I16':
      out.set(new Int16Array(aligned.buffer, aligned.byteOffset, n));
      break;
    case 'I8':
      out.set(new Int8Array(aligned.buffer, aligned.byteOffset, n));
      break;
    case 'U8':
    case 'BOOL':
      out.set(aligned);
      break;
  }
  return out;
}

function byteSwapped(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) for (let k = 0; k < size; k++) out[i + k] = bytes[i + size - 1 - k]!;
  return out;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a contiguous tensor of `shape`. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/**
 * Copy the view (`offset`, `shape`, `stride`, in elements) of `storage` into a new contiguous
 * array: how a transposed or sliced tensor saved by torch becomes row-major. Size-1 dimensions'
 * strides do not matter and are ignored.
 */
export function gatherStrided(storage: Float32Array, offset: number, shape: readonly number[], stride: readonly number[]): Float32Array {
  const n = numelOf(shape);
  const out = new Float32Array(n);
  if (n === 0) return out;
  const rank = shape.length;
  if (rank === 0) {
    out[0] = storage[offset]!;
    return out;
  }
  const inner = shape[rank - 1]!;
  const innerStride = stride[rank - 1]!;
  const index = new Array<number>(rank - 1).fill(0);
  let base = offset;
  for (let o = 0; o < n; o += inner) {
    if (innerStride === 1) out.set(storage.subarray(base, base + inner), o);
    else for (let k = 0, s = base; k < inner; k++, s += innerStride) out[o + k] = storage[s]!;
    // advance the odometer over the outer dimensions
    for (let d = rank - 2; d >= 0; d--) {
      index[d]!++;
      base += stride[d]!;
      if (index[d]! < shape[d]!) break;
      base -= stride[d]! * shape[d]!;
      index[d] = 0;
    }
  }
  return out;
}

/** The highest storage element a view touches, plus one (0 for an empty view). */
export function viewExtent(offset: number, shape: readonly number[], stride: readonly number[]): number {
  if (numelOf(shape) === 0) return 0;
  let last = offset;
  for (let d = 0; d < shape.length; d++) last += (shape[d]! - 1) * stride[d]!;
  return last + 1;
}

/** Whether a view reads its elements in storage order without gaps. */
export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] === 1) continue;
    if (stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}
