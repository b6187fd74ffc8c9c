/**
 * A minimal WebAssembly binary writer: enough to emit one exported function over an imported
 * memory, for filter kernels whose inner loops JavaScript cannot vectorise. It knows only the
 * opcodes those kernels use (integer address arithmetic, float arithmetic, loads and stores,
 * 128-bit SIMD on four floats, blocks and loops). Encodings follow the WebAssembly core
 * specification (binary format, §5) and its fixed-width SIMD extension.
 */

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
export type ValueType = 'i32' | 'f32' | 'v128';
const typeCode = (t: ValueType) => (t === 'i32' ? I32 : t === 'f32' ? F32 : V128);

/** The body of one function, written instruction by instruction. */
export class FunctionBody {
  readonly bytes: number[] = [];

  private emit(...b: number[]): this {
    for (const x of b) this.bytes.push(x);
    return this;
  }

  localGet(i: number): this {
    return this.emit(0x20, ...uleb(i));
  }
  localSet(i: number): this {
    return this.emit(0x21, ...uleb(i));
  }
  localTee(i: number): this {
    return this.emit(0x22, ...uleb(i));
  }
  i32Const(v: number): this {
    return this.emit(0x41, ...sleb(v));
  }
  i32Add(): this {
    return this.emit(0x6a);
  }
  i32Sub(): this {
    return this.emit(0x6b);
  }
  i32Shl(): this {
    return this.emit(0x74);
  }
  i32Eqz(): this {
    return this.emit(0x45);
  }
  /** i32.load at the address on the stack plus `offset` bytes. */
  i32Load(offset: number): this {
    return this.emit(0x28, 2, ...uleb(offset));
  }
  f32Const(v: number): this {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    return this.emit(0x43, ...b);
  }
  f32Sqrt(): this {
    return this.emit(0x91);
  }
  f32Add(): this {
    return this.emit(0x92);
  }
  f32Sub(): this {
    return this.emit(0x93);
  }
  f32Mul(): this {
    return this.emit(0x94);
  }
  f32Div(): this {
    return this.emit(0x95);
  }
  f32Min(): this {
    return this.emit(0x96);
  }
  f32Max(): this {
    return this.emit(0x97);
  }
  /** f32.store: address, then value, on the stack. */
  f32Store(offset: number): this {
    return this.emit(0x38, 2, ...uleb(offset));
  }
  /** v128.load at the address on the stack plus `offset` bytes (16-byte aligned). */
  v128Load(offset: number): this {
    return this.emit(0xfd, 0x00, 4, ...uleb(offset));
  }
  /** v128.store: address, then value, on the stack. */
  v128Store(offset: number): this {
    return this.emit(0xfd, 0x0b, 4, ...uleb(offset));
  }
  f32x4Splat(): this {
    return this.emit(0xfd, ...uleb(0x13));
  }
  f32x4ExtractLane(lane: number): this {
    return this.emit(0xfd, ...uleb(0x1f), lane);
  }
  f32x4Add(): this {
    return this.emit(0xfd, ...uleb(0xe4));
  }
  f32x4Mul(): this {
    return this.emit(0xfd, ...uleb(0xe6));
  }
  f32x4Div(): this {
    return this.emit(0xfd, ...uleb(0xe7));
  }
  block(): this {
    return this.emit(0x02, 0x40);
  }
  loop(): this {
    return this.emit(0x03, 0x40);
  }
  br(depth: number): this {
    return this.emit(0x0c, ...uleb(depth));
  }
  brIf(depth: number): this {
    return this.emit(0x0d, ...uleb(depth));
  }
  end(): this {
    return this.emit(0x0b);
  }
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

function name(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...uleb(b.length), ...b];
}

/**
 * A module that imports memory `env.memory` (of any size: the caller's, grown as it needs) and exports one
 * function `name` with the given i32 parameters, extra locals and body.
 */
export function singleFunctionModule(fn: { name: string; params: number; locals: ValueType[]; body: FunctionBody }): Uint8Array {
  const type = section(1, [1, 0x60, ...uleb(fn.params), ...Array<number>(fn.params).fill(I32), 0]);
  const imports = section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 0]);
  const functions = section(3, [1, 0]);
  const exports = section(7, [1, ...name(fn.name), 0x00, 0]);
  // Locals as runs of one type.
  const runs: number[][] = [];
  for (const t of fn.locals) {
    const last = runs[runs.length - 1];
    if (last && last[1] === typeCode(t)) last[0]!++;
    else runs.push([1, typeCode(t)]);
  }
  const locals = [...uleb(runs.length), ...runs.flatMap(([n, t]) => [...uleb(n!), t!])];
  const body = [...locals, ...fn.body.bytes, 0x0b];
  const code = section(10, [1, ...uleb(body.length), ...body]);
  return Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...type, ...imports, ...functions, ...exports, ...code]);
}
