import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
} from '../../../src/engine/weights/safetensors.js';
import type { WeightTensor } from '../../../src/engine/weights/tensor.js';
import { tempDir } from '../../helpers/fixtures.js';

const dir = tempDir('atelier-safetensors-');
afterAll(() => dir.cleanup());

function seeded(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = (x / 2 ** 32 - 0.5) * 4;
  }
  return out;
}

/** A hand-made file: header JSON + raw little-endian bytes, as the format documentation lays it out. */
function handMade(header: object, data: number[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof AtelierError ? `${e.code}: ${e.message}` : String(e);
  }
  return undefined;
}

describe('safetensors', () => {
  const tensors: WeightTensor[] = [
    { name: 'conv.weight', shape: [4, 3, 3, 3], data: seeded(108, 1) },
    { name: 'conv.bias', shape: [4], data: seeded(4, 2) },
    { name: 'scalar', shape: [], data: Float32Array.of(0.25) },
    { name: 'empty', shape: [0, 5], data: new Float32Array(0) },
  ];

  it('round-trips float32 exactly, with metadata and an 8-byte aligned data section', async () => {
    const file = path.join(dir.dir, 'a.safetensors');
    await writeSafetensors(file, tensors, { metadata: { format: 'pt', source: 'test' } });
    const bytes = readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0);
    const header = await readSafetensorsHeader(file);
    expect(header.metadata).toEqual({ format: 'pt', source: 'test' });
    expect(header.entries.map((e) => [e.name, e.dtype, e.shape])).toEqual(tensors.map((t) => [t.name, 'F32', t.shape]));
    const read = await readSafetensors(file);
    expect([...read.keys()]).toEqual(tensors.map((t) => t.name));
    for (const t of tensors) {
      expect(read.get(t.name)!.shape).toEqual(t.shape);
      expect(Array.from(read.get(t.name)!.data)).toEqual(Array.from(t.data));
    }
    const inMemory = decodeSafetensors(bytes);
    expect(Array.from(inMemory.get('conv.weight')!.data)).toEqual(Array.from(tensors[0]!.data));
    const some = await readSafetensors(file, { include: (name) => name.endsWith('bias') });
    expect([...some.keys()]).toEqual(['conv.bias']);
  });

  it('writes float16 and bfloat16 rounded to nearest, within their precision', () => {
    for (const [dtype, rel] of [['F16', 2 ** -11], ['BF16', 2 ** -8]] as const) {
      const read = decodeSafetensors(encodeSafetensors(tensors, { dtype }));
      const a = tensors[0]!.data;
      const b = read.get('conv.weight')!.data;
      for (let i = 0; i < a.length; i++) expect(Math.abs(b[i]! - a[i]!)).toBeLessThanOrEqual(Math.abs(a[i]!) * rel + 1e-7);
      expect(read.get('scalar')!.data[0]).toBe(0.25);
    }
  });

  it('decodes every stored dtype to float32 (known bytes)', () => {
    const file = handMade(
      {
        h: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
        b: { dtype: 'BF16', shape: [2], data_offsets: [6, 10] },
        d: { dtype: 'F64', shape: [1], data_offsets: [10, 18] },
        l: { dtype: 'I64', shape: [2], data_offsets: [18, 34] },
        i: { dtype: 'I8', shape: [1], data_offsets: [34, 35] },
        __metadata__: { k: 'v' },
      },
      [
        0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, // f16: 1, -2, smallest subnormal 2^-24
        0x80, 0x3f, 0x49, 0x40, // bf16: 1, 3.140625
        ...new Uint8Array(Float64Array.of(-0.1).buffer),
        ...new Uint8Array(BigInt64Array.of(-3n, 2n ** 40n).buffer),
        0xfe, // i8: -2
      ],
    );
    const m = decodeSafetensors(file);
    expect(Array.from(m.get('h')!.data)).toEqual([1, -2, 2 ** -24]);
    expect(Array.from(m.get('b')!.data)).toEqual([1, 3.140625]);
    expect(m.get('d')!.data[0]).toBeCloseTo(-0.1, 7);
    expect(Array.from(m.get('l')!.data)).toEqual([-3, 2 ** 40]);
    expect(Array.from(m.get('i')!.data)).toEqual([-2]);
  });

  it('rejects truncated and corrupt files with E_WEIGHTS_INVALID, never garbage', async () => {
    const good = encodeSafetensors(tensors);
    const header = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    const cases: [string, Uint8Array, RegExp][] = [
      ['empty', new Uint8Array(0), /too short/],
      ['cut in the data', good.subarray(0, good.length - 3), /beyond the end/],
      ['cut in the header', good.subarray(0, 40), /ends inside the safetensors header/],
      ['absurd header length', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x7b]), /implausible/],
      ['header not JSON', handMade({}, []).map((b, i) => (i === 8 ? 0x5b : b)), /not valid JSON|not a JSON object/],
      ['unknown dtype', handMade({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, new Array(8).fill(0)), /dtype Atelier does not read.*C64/],
      ['shape/bytes mismatch', handMade({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Array(8).fill(0)), /does not fit its shape/],
      ['negative shape', handMade({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, new Array(8).fill(0)), /malformed shape/],
      ['reversed offsets', handMade({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, new Array(8).fill(0)), /malformed data_offsets/],
      ['overlap', handMade({ ...header, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Array(12).fill(0)), /overlap/],
      ['bad metadata', handMade({ ...header, __metadata__: { n: 1 } }, new Array(8).fill(0)), /__metadata__/],
    ];
    for (const [what, bytes, message] of cases) {
      const fromBytes = codeOf(() => decodeSafetensors(bytes, what));
      expect(fromBytes, what).toMatch(/^E_WEIGHTS_INVALID: /);
      expect(fromBytes, what).toMatch(message);
      const file = path.join(dir.dir, 'bad.safetensors');
      writeFileSync(file, bytes);
      await expect(readSafetensors(file), what).rejects.toMatchObject({ code: 'E_WEIGHTS_INVALID' });
    }
    await expect(readSafetensors(path.join(dir.dir, 'missing.safetensors'))).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
  });
});
