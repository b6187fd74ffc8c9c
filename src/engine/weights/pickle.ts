import { AtelierError } from '../../core/errors.js';

/**
 * A Python pickle *interpreter that never executes code*. It runs the pickle virtual machine
 * (protocols 0–5, data opcodes) and builds plain JavaScript values; every point where a real
 * unpickler would import a module or call a function (GLOBAL, REDUCE, NEWOBJ, BUILD, INST, OBJ,
 * persistent ids) is handed to the caller's `PickleHooks`, which may only build values from an
 * allow-list (their refusals are theirs to word). Damaged data (truncated, an unknown opcode, a
 * malformed stack) is refused with E_WEIGHTS_CORRUPT, naming the byte where it broke.
 *
 * Values: None → null, bool → boolean, int → number (bigint beyond 2^53), float → number,
 * str → string, bytes → Uint8Array, list → Array, tuple → PyTuple (a frozen Array),
 * dict → Map, set → Set, a global reference → PyGlobal.
 */

/** A reference to a Python global (`module.name`), never imported: only a name. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A Python tuple: a frozen array, so it can be told apart from a list when that matters. */
export type PyTuple = readonly unknown[];

export function isPyTuple(v: unknown): v is PyTuple {
  return Array.isArray(v) && Object.isFrozen(v);
}

function tuple(items: unknown[]): PyTuple {
  return Object.freeze(items);
}

export interface PickleHooks {
  /** Resolve `module.name`; throw (refuse) if it is not allowed. The result stands for it on the stack. */
  global(module: string, name: string): unknown;
  /** `callable(*args)` for REDUCE / NEWOBJ / INST / OBJ, where callable came from `global`. */
  call(callable: unknown, args: PyTuple): unknown;
  /** `obj.__setstate__(state)` for BUILD; return the object that stays on the stack. */
  build(obj: unknown, state: unknown): unknown;
  /** A persistent id (how torch refers to tensor storages). */
  persistentLoad(pid: unknown): unknown;
}

export interface UnpickleResult {
  value: unknown;
  /** Offset just past the STOP opcode: legacy torch files hold several pickles back to back. */
  end: number;
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

/** Thrown when the data ends before STOP: callers that read a file in pieces read more and retry. */
export class PickleTruncated extends AtelierError {
  constructor(subject: string, at: number, length: number) {
    super('E_WEIGHTS_CORRUPT', `The pickle data ends before its STOP opcode (at byte ${at})`, {
      subject,
      expected: 'a pickle that runs to its STOP opcode (0x2e)',
      received: `${length} bytes, and the opcode at byte ${at} needs more`,
      hint: 'the file is truncated or corrupt: download or copy it again',
    });
  }
}

/**
 * Run the pickle at `data[start..]` until STOP. `subject` names the file in error messages.
 */
export function unpickle(data: Uint8Array, hooks: PickleHooks, subject: string, start = 0): UnpickleResult {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = start;
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();

  const fail = (what: string): never => {
    throw new AtelierError('E_WEIGHTS_CORRUPT', `Unsupported or corrupt pickle: ${what} at byte ${pos}`, {
      subject,
      expected: 'a pickle of data opcodes (protocol 2–5), as torch.save writes',
      received: `${what} at byte ${pos}`,
      hint: 'the file is damaged or not a torch.save pickle: download or copy it again (Atelier reads tensors saved with torch.save and never runs code from a weight file)',
    });
  };
  const need = (n: number): void => {
    if (pos + n > data.length) throw new PickleTruncated(subject, pos, data.length);
  };
  const u8 = (): number => {
    need(1);
    return data[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = (): number => {
    need(4);
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('a length beyond 2^53');
    return Number(v);
  };
  const bytes = (n: number): Uint8Array => {
    need(n);
    const b = data.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = (): string => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) throw new PickleTruncated(subject, pos, data.length);
    const s = latin1(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const utf8 = (n: number): string => {
    try {
      return textDecoder.decode(bytes(n));
    } catch (e) {
      if (e instanceof AtelierError) throw e;
      return fail('a string that is not valid UTF-8');
    }
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!)) fail('a pop from an empty stack');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('an empty stack');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('a missing MARK');
    return stack.splice(m!);
  };
  const memoGet = (i: number): unknown => {
    if (!memo.has(i)) fail(`a reference to memo entry ${i}, which was never stored`);
    return memo.get(i);
  };
  const setItems = (dict: unknown, items: unknown[]): void => {
    if (items.length % 2 !== 0) fail('an odd number of items for a dict');
    if (!(dict instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    for (let i = 0; i < items.length; i += 2) (dict as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const appendItems = (list: unknown, items: unknown[]): void => {
    if (!Array.isArray(list) || Object.isFrozen(list)) fail('APPEND(S) on something that is not a list');
    for (const item of items) (list as unknown[]).push(item);
  };
  const longFromBytes = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const intFromText = (s: string): number | bigint | boolean => {
    const t = s.trim().replace(/L$/, '');
    if (t === '00') return false;
    if (t === '01') return true;
    if (!/^[-+]?\d+$/.test(t)) fail(`a malformed integer ${JSON.stringify(s)}`);
    const v = BigInt(t);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const asTuple = (v: unknown): PyTuple => {
    if (!Array.isArray(v)) fail('call arguments that are not a tuple');
    return isPyTuple(v) ? v : tuple([...(v as unknown[])]);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('a pickle protocol newer than 5');
        break;
      case 0x95: // FRAME: a length prefix only; the opcodes follow inline
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length !== 0) fail('a STOP with a malformed stack');
        return { value: stack[0], end: pos };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length > 0 && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      // --- constants and numbers
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(longFromBytes(bytes(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0) fail('a negative LONG4 length');
        stack.push(longFromBytes(bytes(n)));
        break;
      }
      case 0x49: // INT (text)
        stack.push(intFromText(line()));
        break;
      case 0x4c: // LONG (text)
        stack.push(intFromText(line()));
        break;
      case 0x47: {
        // BINFLOAT: big-endian float64
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x46: {
        // FLOAT (text)
        const v = Number(line());
        if (Number.isNaN(v)) fail('a malformed float');
        stack.push(v);
        break;
      }
      // --- strings and bytes
      case 0x58: // BINUNICODE
        stack.push(utf8(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(u64()));
        break;
      case 0x54: {
        // BINSTRING: a Python 2 str; torch.load decodes these as text
        const n = i32();
        if (n < 0) fail('a negative BINSTRING length');
        stack.push(latin1(bytes(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING (Python 2 str)
        stack.push(latin1(bytes(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(bytes(u64()).slice());
        break;
      // --- containers
      case 0x29: // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case 0x74: // TUPLE
        stack.push(tuple(popMark()));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const m = new Map();
        setItems(m, popMark());
        stack.push(m);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail('ADDITEMS on something that is not a set');
        for (const item of items) (s as Set<unknown>).add(item);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      // --- memo
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x70: // PUT (text)
        memo.set(Number(line()), top());
        break;
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x67: // GET (text)
        stack.push(memoGet(Number(line())));
        break;
      // --- the points where a real unpickler runs code: all go through the hooks
      case 0x63: {
        // GLOBAL 'module\nname\n'
        const module = line();
        const name = line();
        stack.push(hooks.global(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL with non-string names');
        stack.push(hooks.global(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        stack.push(hooks.call(callable, asTuple(args)));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        stack.push(hooks.call(cls, asTuple(args)));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof Map) || kwargs.size > 0) fail('NEWOBJ_EX with keyword arguments');
        stack.push(hooks.call(cls, asTuple(args)));
        break;
      }
      case 0x69: {
        // INST 'module\nname\n' with arguments since MARK
        const module = line();
        const name = line();
        const args = popMark();
        stack.push(hooks.call(hooks.global(module, name), tuple(args)));
        break;
      }
      case 0x6f: {
        // OBJ: MARK cls args…
        const items = popMark();
        if (items.length === 0) fail('OBJ without a class');
        stack.push(hooks.call(items[0], tuple(items.slice(1))));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = pop();
        stack.push(hooks.build(obj, state));
        break;
      }
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop()));
        break;
      case 0x50: // PERSID (text)
        stack.push(hooks.persistentLoad(line()));
        break;
      case 0x53: // STRING (protocol 0 repr-quoted text)
      case 0x56: // UNICODE (protocol 0 raw-unicode-escape text)
        return fail('a protocol-0 text string (re-save the file with a current torch.save)');
      case 0x82:
      case 0x83:
      case 0x84:
        return fail('an extension-registry reference (EXT1/2/4)');
      case 0x97:
      case 0x98:
        return fail('an out-of-band buffer (protocol 5)');
      default:
        return fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}
