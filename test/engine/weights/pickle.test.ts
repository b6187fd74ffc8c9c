import { describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { PickleTruncated, PyGlobal, isPyTuple, unpickle, type PickleHooks } from '../../../src/engine/weights/pickle.js';

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((h) => parseInt(h, 16)));

/** Hooks that know only Python's `set` (what protocol 2 uses to pickle a set) and refuse the rest. */
const setOnly: PickleHooks = {
  global(module, name) {
    if (name === 'set' && (module === '__builtin__' || module === 'builtins')) return new PyGlobal(module, name);
    throw new AtelierError('E_WEIGHTS_INVALID', `refused ${module}.${name}`);
  },
  call(callable, args) {
    if (callable instanceof PyGlobal && callable.name === 'set') return new Set(args[0] as unknown[]);
    throw new AtelierError('E_WEIGHTS_INVALID', 'refused call');
  },
  build() {
    throw new AtelierError('E_WEIGHTS_INVALID', 'refused build');
  },
  persistentLoad() {
    throw new AtelierError('E_WEIGHTS_INVALID', 'refused pid');
  },
};

// pickle.dumps({'a': [1, 2.5, None, True, False], 'b': (1, 2, 3, 4), 'c': 'é€', 'big': 2**70, 'neg': -5,
//               'n300': 300, 'n70000': 70000, 't1': (7,), 'e': (), 's': {3}}, protocol=P) from CPython 3.11
const PICKLES: Record<number, string> = {
  2: '80027d71002858010000006171015d7102284b014740040000000000004e8889655801000000627103284b014b024b034b0474710458010000006371055805000000c3a9e282ac7106580300000062696771078a0900000000000000004058030000006e656771084afbffffff58040000006e33303071094d2c0158060000006e3730303030710a4a7011010058020000007431710b4b0785710c580100000065710d29580100000073710e635f5f6275696c74696e5f5f0a7365740a710f5d71104b0361857111527112752e',
  4: '80049582000000000000007d94288c0161945d94284b014740040000000000004e8889658c016294284b014b024b034b0474948c0163948c05c3a9e282ac948c03626967948a090000000000000000408c036e6567944afbffffff8c046e333030944d2c018c066e3730303030944a701101008c027431944b0785948c016594298c0173948f94284b0390752e',
  5: '80059582000000000000007d94288c0161945d94284b014740040000000000004e8889658c016294284b014b024b034b0474948c0163948c05c3a9e282ac948c03626967948a090000000000000000408c036e6567944afbffffff8c046e333030944d2c018c066e3730303030944a701101008c027431944b0785948c016594298c0173948f94284b0390752e',
};

describe('pickle interpreter', () => {
  for (const [protocol, bytes] of Object.entries(PICKLES)) {
    it(`reads CPython's protocol ${protocol} output value for value`, () => {
      const data = hex(bytes);
      const { value, end } = unpickle(data, setOnly, 'test');
      expect(end).toBe(data.length);
      const m = value as Map<string, unknown>;
      expect(m).toBeInstanceOf(Map);
      expect([...m.keys()]).toEqual(['a', 'b', 'c', 'big', 'neg', 'n300', 'n70000', 't1', 'e', 's']);
      expect(m.get('a')).toEqual([1, 2.5, null, true, false]);
      expect(isPyTuple(m.get('a'))).toBe(false);
      expect(m.get('b')).toEqual([1, 2, 3, 4]);
      expect(isPyTuple(m.get('b'))).toBe(true);
      expect(m.get('c')).toBe('é€');
      expect(m.get('big')).toBe(2n ** 70n);
      expect(m.get('neg')).toBe(-5);
      expect(m.get('n300')).toBe(300);
      expect(m.get('n70000')).toBe(70000);
      expect(m.get('t1')).toEqual([7]);
      expect(m.get('e')).toEqual([]);
      expect(m.get('s')).toEqual(new Set([3]));
    });
  }

  it('reads protocol 0 text opcodes (MARK, LIST, INT, APPEND, PUT)', () => {
    // pickle.dumps([[1, 2], [3]], protocol=0)
    const data = new TextEncoder().encode('(lp0\n(lp1\nI1\naI2\naa(lp2\nI3\naa.');
    expect(unpickle(data, setOnly, 'test').value).toEqual([[1, 2], [3]]);
  });

  it('resolves memo references to the same object', () => {
    // outer = []; x = [] (BINPUT 0); APPEND; BINGET 0; APPEND → [x, x]
    const data = Uint8Array.from([0x80, 2, 0x5d, 0x5d, 0x71, 0, 0x61, 0x68, 0, 0x61, 0x2e]);
    const v = unpickle(data, setOnly, 'test').value as unknown[][];
    expect(v).toHaveLength(2);
    expect(v[0]).toBe(v[1]);
  });

  it('refuses globals its hooks refuse, before anything could run', () => {
    // pickle.dumps(os.system) reduced: c posix\nsystem\n (X 'true' tR.
    const data = new TextEncoder().encode("cposix\nsystem\n(X\x04\x00\x00\x00truetR.");
    expect(() => unpickle(data, setOnly, 'test')).toThrow(/posix\.system/);
  });

  it('reports truncated and malformed data as E_WEIGHTS_CORRUPT with the byte where it broke', () => {
    const data = hex(PICKLES[2]!);
    for (const cut of [1, 10, 60, data.length - 1]) {
      const e = (() => {
        try {
          unpickle(data.subarray(0, cut), setOnly, 'test');
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(PickleTruncated);
      expect((e as AtelierError).code).toBe('E_WEIGHTS_CORRUPT');
      expect((e as AtelierError).message).toMatch(new RegExp(`at byte \\d+.*expected a pickle that runs to its STOP opcode.*${cut} bytes`));
    }
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0xff]), setOnly, 'test')).toThrow(expect.objectContaining({ code: 'E_WEIGHTS_CORRUPT', message: expect.stringMatching(/unknown opcode 0xff at byte 3.*expected a pickle of data opcodes/) }));
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x73, 0x2e]), setOnly, 'test')).toThrow(/empty stack/);
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x68, 5, 0x2e]), setOnly, 'test')).toThrow(/memo entry 5/);
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x4e, 0x4e, 0x2e]), setOnly, 'test')).toThrow(/malformed stack/);
  });
});
