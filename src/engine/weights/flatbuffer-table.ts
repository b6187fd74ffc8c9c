import { ByteBuffer } from 'flatbuffers';
import { AtelierError } from '../../core/errors.js';
import { corruptFileErrors } from './corrupt-file.js';

/**
 * Bounds-checked reading of FlatBuffers tables on top of the `flatbuffers` runtime's ByteBuffer.
 * The runtime trusts its input (an offset past the end reads as 0 or garbage); a weight file may be
 * truncated or corrupt, so every offset, vtable and vector is checked against the buffer's length
 * before it is followed, and a failure names the file, what was expected and where it broke.
 *
 * FlatBuffers layout (flatbuffers.dev/internals): a table starts with an int32 offset back to its
 * vtable; the vtable holds uint16 sizes (vtable, table) then one uint16 offset per field id
 * (0 = absent). Offsets to sub-tables, vectors and strings are uint32, relative to where they sit.
 */

export type ScalarKind = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'int64';

const SIZE: Record<ScalarKind, number> = { int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, float32: 4, int64: 8 };

const corruptFile = corruptFileErrors('download or pull the model again; a file of another format cannot be read as this one');
export function corrupt(file: string, where: string, expected: string, received?: string): AtelierError {
  return corruptFile(file, `The file is corrupt or truncated at ${where}`, { expected, received });
}

export class FbTable {
  private readonly vtable: number;
  private readonly vtableSize: number;

  constructor(
    readonly bb: ByteBuffer,
    readonly pos: number,
    readonly file: string,
    /** Where this table sits, for error messages (e.g. `subgraphs[0].tensors[12]`). */
    readonly where: string,
  ) {
    const len = bb.capacity();
    if (pos < 0 || pos + 4 > len) throw corrupt(file, where, `a table inside the ${len}-byte file`, `offset ${pos}`);
    this.vtable = pos - bb.readInt32(pos);
    if (this.vtable < 0 || this.vtable + 4 > len) throw corrupt(file, where, 'a vtable inside the file', `vtable at ${this.vtable}`);
    this.vtableSize = bb.readUint16(this.vtable);
    if (this.vtableSize < 4 || this.vtableSize % 2 !== 0 || this.vtable + this.vtableSize > len) {
      throw corrupt(file, where, 'a vtable of an even size ≥ 4 inside the file', `size ${this.vtableSize} at ${this.vtable}`);
    }
  }

  /** Absolute position of a field's value, or 0 when absent. */
  private field(id: number, bytes: number): number {
    const slot = 4 + 2 * id;
    if (slot >= this.vtableSize) return 0;
    const o = this.bb.readUint16(this.vtable + slot);
    if (o === 0) return 0;
    const at = this.pos + o;
    if (at + bytes > this.bb.capacity()) throw corrupt(this.file, `${this.where} field ${id}`, `${bytes} bytes inside the file`, `offset ${at}`);
    return at;
  }

  has(id: number): boolean {
    return this.field(id, 1) !== 0;
  }

  scalar(id: number, kind: ScalarKind, fallback = 0): number {
    const at = this.field(id, SIZE[kind]);
    return at === 0 ? fallback : readScalar(this.bb, at, kind);
  }

  /** Follow a uint32 offset to an absolute position (of a table, vector or string). */
  private indirect(id: number): number {
    const at = this.field(id, 4);
    if (at === 0) return 0;
    const target = at + this.bb.readUint32(at);
    if (target + 4 > this.bb.capacity()) throw corrupt(this.file, `${this.where} field ${id}`, 'an offset inside the file', `${target}`);
    return target;
  }

  table(id: number, name: string): FbTable | undefined {
    const at = this.indirect(id);
    return at === 0 ? undefined : new FbTable(this.bb, at, this.file, `${this.where}.${name}`);
  }

  /** [start, length] of a vector with elements of `elem` bytes, checked to lie inside the file. */
  private vector(id: number, elem: number, name: string): [number, number] | undefined {
    const at = this.indirect(id);
    if (at === 0) return undefined;
    const length = this.bb.readUint32(at);
    const start = at + 4;
    if (start + length * elem > this.bb.capacity()) {
      throw corrupt(this.file, `${this.where}.${name}`, `${length} elements of ${elem} bytes inside the file`, `${this.bb.capacity() - start} bytes left`);
    }
    return [start, length];
  }

  tables(id: number, name: string): FbTable[] {
    const v = this.vector(id, 4, name);
    if (!v) return [];
    const [start, length] = v;
    const out: FbTable[] = [];
    for (let i = 0; i < length; i++) {
      const p = start + 4 * i;
      out.push(new FbTable(this.bb, p + this.bb.readUint32(p), this.file, `${this.where}.${name}[${i}]`));
    }
    return out;
  }

  scalars(id: number, kind: ScalarKind, name: string): number[] | undefined {
    const v = this.vector(id, SIZE[kind], name);
    if (!v) return undefined;
    const [start, length] = v;
    const out = new Array<number>(length);
    for (let i = 0; i < length; i++) out[i] = readScalar(this.bb, start + i * SIZE[kind], kind);
    return out;
  }

  /** A [ubyte] vector as a view on the file's bytes (no copy). */
  bytes(id: number, name: string): Uint8Array | undefined {
    const v = this.vector(id, 1, name);
    if (!v) return undefined;
    return this.bb.bytes().subarray(v[0], v[0] + v[1]);
  }

  string(id: number, name: string): string | undefined {
    const b = this.bytes(id, name);
    if (!b) return undefined;
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(b);
    } catch {
      throw corrupt(this.file, `${this.where}.${name}`, 'a UTF-8 string');
    }
  }
}

function readScalar(bb: ByteBuffer, at: number, kind: ScalarKind): number {
  switch (kind) {
    case 'int8':
      return bb.readInt8(at);
    case 'uint8':
      return bb.readUint8(at);
    case 'int16':
      return bb.readInt16(at);
    case 'uint16':
      return bb.readUint16(at);
    case 'int32':
      return bb.readInt32(at);
    case 'uint32':
      return bb.readUint32(at);
    case 'float32':
      return bb.readFloat32(at);
    case 'int64':
      return Number(bb.readInt64(at));
  }
}
