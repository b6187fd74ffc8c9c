import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { AtelierError } from '../../../src/core/errors.js';
import { readPth, readPthIndex } from '../../../src/engine/weights/pth.js';
import { detectWeightFormat, readWeights } from '../../../src/engine/weights/read.js';
import { writeSafetensors } from '../../../src/engine/weights/safetensors.js';
import type { TensorMap } from '../../../src/engine/weights/tensor.js';
import { tempDir } from '../../helpers/fixtures.js';
import {
  savedTensor,
  savedView,
  stateDict,
  writeTorchLegacy,
  writeTorchZip,
  type SavedValue,
} from '../../helpers/torch-save.js';
import { normalisedVgg19Layout, torchvisionVgg19Layout, type LayerShape } from '../../helpers/vgg-layouts.js';

const dir = tempDir('atelier-pth-');
afterAll(() => dir.cleanup());

function seeded(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = (x / 2 ** 32 - 0.5) * scale;
  }
  return out;
}

const range = (n: number) => Float32Array.from({ length: n }, (_, i) => i);

/** Write `value` in each container torch.save has used; returns [label, file] pairs. */
async function inEveryContainer(name: string, value: SavedValue): Promise<[string, string][]> {
  const zip = dir.file(`${name}.pt`);
  await writeTorchZip(zip, value);
  const deflated = dir.file(`${name}-deflated.pt`);
  await writeTorchZip(deflated, value, { compress: true });
  const legacy = dir.file(`${name}-legacy.pth`);
  writeTorchLegacy(legacy, value);
  const py2 = dir.file(`${name}-py2.pth`);
  writeTorchLegacy(py2, value, { py2Strings: true });
  return [
    ['zip', zip],
    ['zip, re-compressed', deflated],
    ['legacy', legacy],
    ['legacy, Python 2 strings', py2],
  ];
}

function expectSameTensors(a: TensorMap, b: TensorMap): void {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [name, t] of a) {
    const u = b.get(name)!;
    expect(u.shape, name).toEqual(t.shape);
    expect(u.data.length, name).toBe(t.data.length);
    let same = true;
    for (let i = 0; i < t.data.length && same; i++) same = Object.is(t.data[i], u.data[i]);
    expect(same, `${name} differs`).toBe(true);
  }
}

function layoutDict(layout: LayerShape[], seed: number): { saved: Map<string, SavedValue>; expected: TensorMap } {
  const saved = new Map<string, SavedValue>();
  const expected: TensorMap = new Map();
  layout.forEach(({ name, shape }, i) => {
    const data = seeded(shape.reduce((a, b) => a * b, 1), seed + i, 0.1);
    saved.set(name, savedTensor(data, shape));
    expected.set(name, { name, shape, data });
  });
  return { saved, expected };
}

describe('.pth reader', () => {
  it('reads state dicts in the zip and legacy containers alike', async () => {
    const w = range(24);
    const value = stateDict([
      ['conv.weight', savedTensor(w, [2, 3, 2, 2])],
      ['conv.bias', savedTensor(Float32Array.of(-1.5, 2.25), [2])],
      ['scalar', savedTensor(Float32Array.of(7), [])],
    ]);
    for (const [label, file] of await inEveryContainer('basic', value)) {
      expect(await detectWeightFormat(file)).toBe('pth');
      const m = await readPth(file);
      expect([...m.keys()], label).toEqual(['conv.weight', 'conv.bias', 'scalar']);
      expect(m.get('conv.weight')!.shape).toEqual([2, 3, 2, 2]);
      expect(Array.from(m.get('conv.weight')!.data), label).toEqual(Array.from(w));
      expect(Array.from(m.get('conv.bias')!.data)).toEqual([-1.5, 2.25]);
      expect(m.get('scalar')!.shape).toEqual([]);
      expect(Array.from(m.get('scalar')!.data)).toEqual([7]);
    }
  });

  it('gathers non-contiguous views of shared storages (transpose, slice, expand)', async () => {
    const base = savedTensor(range(12), [3, 4]);
    const value = stateDict([
      ['base', base],
      // base.t(): size (4, 3), stride (1, 4)
      ['transposed', savedView(base, 0, [4, 3], [1, 4])],
      // base[1:, 1:3]: offset 5, size (2, 2), stride (4, 1)
      ['sliced', savedView(base, 5, [2, 2], [4, 1])],
      // base[:, ::2]: size (3, 2), stride (4, 2)
      ['strided', savedView(base, 0, [3, 2], [4, 2])],
      // base[2].expand(2, 4): stride 0
      ['expanded', savedView(base, 8, [2, 4], [0, 1])],
      // a 4-d permute of a conv weight: (O, I, kh, kw) → (kh, kw, I, O) as used by channels-last code
      ['permuted', savedView(savedTensor(range(2 * 3 * 2 * 2), [2, 3, 2, 2]), 0, [2, 2, 3, 2], [2, 1, 4, 12])],
    ]);
    const expected: Record<string, number[]> = {
      base: [...range(12)],
      transposed: [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11],
      sliced: [5, 6, 9, 10],
      strided: [0, 2, 4, 6, 8, 10],
      expanded: [8, 9, 10, 11, 8, 9, 10, 11],
    };
    const permuted: number[] = [];
    for (let kh = 0; kh < 2; kh++) for (let kw = 0; kw < 2; kw++) for (let i = 0; i < 3; i++) for (let o = 0; o < 2; o++) permuted.push(o * 12 + i * 4 + kh * 2 + kw);
    for (const [label, file] of await inEveryContainer('views', value)) {
      const m = await readPth(file);
      for (const [name, values] of Object.entries(expected)) expect(Array.from(m.get(name)!.data), `${label} ${name}`).toEqual(values);
      expect(m.get('permuted')!.shape).toEqual([2, 2, 3, 2]);
      expect(Array.from(m.get('permuted')!.data), label).toEqual(permuted);
      // views never alias each other's memory
      m.get('base')!.data[0] = 99;
      expect(m.get('transposed')!.data[0]).toBe(0);
    }
  });

  it('converts float16, bfloat16, float64, int64, int32 and uint8 storages to float32', async () => {
    const halfValues = [1, -2, 0.5, 65504, 2 ** -24, 0.333251953125];
    const value = stateDict([
      ['half', savedTensor(halfValues, [6], 'F16')],
      ['half_t', savedView(savedTensor(range(6), [2, 3], 'F16'), 0, [3, 2], [1, 3])],
      ['bf16', savedTensor([1, 3.140625, -0.0078125], [3], 'BF16')],
      ['double', savedTensor([0.1, -1e-3], [2], 'F64')],
      ['num_batches_tracked', savedTensor([123456789], [], 'I64')],
      ['int', savedTensor([-7, 9], [2], 'I32')],
      ['byte', savedTensor([0, 255], [2], 'U8')],
    ]);
    for (const [label, file] of await inEveryContainer('dtypes', value)) {
      const m = await readPth(file);
      expect(Array.from(m.get('half')!.data), label).toEqual(halfValues);
      expect(Array.from(m.get('half_t')!.data)).toEqual([0, 3, 1, 4, 2, 5]);
      expect(Array.from(m.get('bf16')!.data)).toEqual([1, 3.140625, -0.0078125]);
      expect(m.get('double')!.data[0]).toBeCloseTo(0.1, 7);
      expect(m.get('double')!.data[1]).toBeCloseTo(-1e-3, 9);
      expect(Array.from(m.get('num_batches_tracked')!.data)).toEqual([Math.fround(123456789)]);
      expect(Array.from(m.get('int')!.data)).toEqual([-7, 9]);
      expect(Array.from(m.get('byte')!.data)).toEqual([0, 255]);
      const index = await readPthIndex(file);
      expect(index.find((t) => t.name === 'half')).toEqual({ name: 'half', shape: [6], dtype: 'F16' });
    }
  });

  it("finds the state_dict inside a training checkpoint (CAP-VSTNet's {'state_dict': …}), nested dicts as dotted names", async () => {
    const weight = savedTensor(range(4), [2, 2]);
    const checkpoint: SavedValue = {
      dict: {
        state_dict: stateDict([
          ['module_list.0.conv.weight', weight],
          ['module_list.0.conv.bias', savedTensor([1, 2], [2])],
        ]),
        optimizer: { dict: { state: { dict: {} }, param_groups: [{ dict: { lr: 0.0001, params: [0, 1], betas: [0.5, 0.999] } }] } },
        epoch: 3,
        note: 'trained',
      },
    };
    for (const [label, file] of await inEveryContainer('checkpoint', checkpoint)) {
      const m = await readPth(file);
      expect([...m.keys()], label).toEqual(['module_list.0.conv.weight', 'module_list.0.conv.bias']);
      const nested: SavedValue = { dict: { enc: stateDict([['w', weight]]), dec: [stateDict([['w', weight]])], step: 1 } };
      await writeTorchZip(dir.file('nested.pt'), nested);
      expect([...(await readPth(dir.file('nested.pt'))).keys()]).toEqual(['enc.w', 'dec.0.w']);
      expect([...(await readPth(dir.file('nested.pt'), { root: 'dec.0' })).keys()]).toEqual(['w']);
      await expect(readPth(file, { root: 'model' }), label).rejects.toThrow(/no entry "model".*state_dict, optimizer, epoch, note/);
      await expect(readPth(file, { root: 'epoch' }), label).rejects.toMatchObject({ code: 'E_WEIGHTS_INVALID', message: expect.stringMatching(/no tensors/) });
    }
  });

  it('reads nn.Parameter entries (_rebuild_parameter) and any archive name', async () => {
    const value = stateDict([['p', { ...savedTensor([1, 2, 3], [3]), parameter: true }]]);
    const file = dir.file('param.pt');
    await writeTorchZip(file, value, { archiveName: 'vgg19' });
    expect(Array.from((await readPth(file)).get('p')!.data)).toEqual([1, 2, 3]);
  });

  it('refuses code (any other Python global) with a clear error and never guesses', async () => {
    // a pickle that would call os.system('true') if a real unpickler loaded it
    const evil = new Uint8Array([0x80, 0x02, ...new TextEncoder().encode('cos\nsystem\nX\x04\x00\x00\x00true\x85R.')]);
    const evilFile = dir.file('evil.pth');
    writeFileSync(evilFile, evil);
    await expect(readPth(evilFile)).rejects.toMatchObject({ code: 'E_WEIGHTS_INVALID' });
    // wrapped as a legacy file so the reader gets as far as the object pickle
    const legacy = dir.file('evil-legacy.pth');
    writeTorchLegacy(legacy, null);
    const bytes = readFileSync(legacy);
    const objectAt = bytes.indexOf(Buffer.from([0x80, 0x02, 0x4e, 0x2e]));
    writeFileSync(legacy, Buffer.concat([bytes.subarray(0, objectAt), evil, bytes.subarray(objectAt + 4)]));
    await expect(readPth(legacy)).rejects.toThrow(/Python object os\.system, which Atelier does not construct/);
    // a whole pickled model: the hint says to save the state_dict instead
    const model = new Uint8Array([0x80, 0x02, ...new TextEncoder().encode('ctorch.nn.modules.conv\nConv2d\n)\x81.')]);
    writeFileSync(legacy, Buffer.concat([bytes.subarray(0, objectAt), model, bytes.subarray(objectAt + 4)]));
    await expect(readPth(legacy)).rejects.toThrow(/whole pickled model.*state_dict/);
  });

  it('rejects truncated, corrupt and foreign files with E_WEIGHTS_CORRUPT naming the file, what was expected and where', async () => {
    const value = stateDict([['w', savedTensor(seeded(4096, 5), [64, 64])]]);
    const zip = dir.file('t.pt');
    await writeTorchZip(zip, value);
    const legacy = dir.file('t-legacy.pth');
    writeTorchLegacy(legacy, value);
    for (const file of [zip, legacy]) {
      const bytes = readFileSync(file);
      for (const cut of [3, 100, Math.floor(bytes.length / 2), bytes.length - 10]) {
        writeFileSync(dir.file('cut.pth'), bytes.subarray(0, cut));
        const e = await readPth(dir.file('cut.pth')).then(() => undefined, (err: unknown) => err as AtelierError);
        expect(e, `${file} cut at ${cut}`).toMatchObject({ code: 'E_WEIGHTS_CORRUPT', subject: dir.file('cut.pth'), expected: expect.any(String) });
        expect(e!.message, `${file} cut at ${cut}`).toMatch(/\bbytes?\b/);
      }
    }
    // single bit flips anywhere in either container: read, or refused as corrupt/invalid; never a crash or another code
    for (const file of [zip, legacy]) {
      const bytes = readFileSync(file);
      let refused = 0;
      for (let i = 0; i < bytes.length; i += Math.max(1, Math.floor(bytes.length / 300))) {
        const flipped = Buffer.from(bytes);
        flipped[i] ^= 1 << (i % 8);
        writeFileSync(dir.file('flip.pth'), flipped);
        try {
          await readPth(dir.file('flip.pth'));
        } catch (err) {
          expect(String((err as AtelierError).code), `${file} byte ${i}: ${(err as Error).stack}`).toMatch(/^E_WEIGHTS_(CORRUPT|INVALID)$/);
          refused++;
        }
      }
      expect(refused).toBeGreaterThan(0);
    }
    // a zip whose storage record is shorter than the pickle says
    const shortStorage = dir.file('short.pt');
    await writeTorchZip(shortStorage, stateDict([['w', savedView(savedTensor(range(4), [4]), 0, [8], [1])]]));
    await expect(readPth(shortStorage)).rejects.toThrow(/reaches past the end of its storage/);
    // an expand() view claiming 2^40 elements from one stored value
    const huge = dir.file('huge.pt');
    await writeTorchZip(huge, stateDict([['w', savedView(savedTensor([1], [1]), 0, [2 ** 20, 2 ** 20], [0, 0])]]));
    await expect(readPth(huge)).rejects.toThrow(/implausibly large/);
    // a list that contains itself (pickle memo), beside a real tensor: no endless walk
    const cyclic = new Uint8Array([0x80, 0x02, 0x5d, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2e]); // l = []; l.append(l)
    const cyclicFile = dir.file('cyclic-legacy.pth');
    writeTorchLegacy(cyclicFile, null);
    const plain = readFileSync(cyclicFile);
    const at = plain.indexOf(Buffer.from([0x80, 0x02, 0x4e, 0x2e]));
    writeFileSync(cyclicFile, Buffer.concat([plain.subarray(0, at), cyclic, plain.subarray(at + 4)]));
    await expect(readPth(cyclicFile)).rejects.toThrow(/holds no tensors/);
    writeFileSync(dir.file('text.pth'), 'not weights at all');
    await expect(readPth(dir.file('text.pth'))).rejects.toThrow(/not a PyTorch weight file/);
    await expect(readPth(dir.file('missing.pth'))).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
  });
});

describe('published VGG-19 layouts: .pth and safetensors agree tensor for tensor', () => {
  it('pytorch-AdaIN vgg_normalised.pth (legacy container, exact names and shapes)', async () => {
    const layout = normalisedVgg19Layout();
    expect(layout.map((l) => l.name.split('.')[0]).filter((_, i) => i % 2 === 0)).toEqual(
      ['0', '2', '5', '9', '12', '16', '19', '22', '25', '29', '32', '35', '38', '42', '45', '48', '51'],
    );
    const { saved, expected } = layoutDict(layout, 100);
    const pth = dir.file('vgg_normalised.pth');
    writeTorchLegacy(pth, saved, { py2Strings: true });
    const st = dir.file('vgg_normalised.safetensors');
    await writeSafetensors(st, expected.values());
    const fromPth = await readWeights(pth);
    const fromSt = await readWeights(st);
    expectSameTensors(expected, fromPth);
    expectSameTensors(fromPth, fromSt);
    expect(fromPth.get('51.weight')!.shape).toEqual([512, 512, 3, 3]);
  });

  it('torchvision vgg19-dcbb9e9d.pth (zip and legacy containers; classifier widths scaled unless ATELIER_SLOW=1)', async () => {
    const full = process.env.ATELIER_SLOW === '1';
    const layout = torchvisionVgg19Layout(full ? 1 : 64);
    const { saved, expected } = layoutDict(layout, 200);
    const st = dir.file('vgg19.safetensors');
    await writeSafetensors(st, expected.values());
    const fromSt = await readWeights(st);
    expectSameTensors(expected, fromSt);
    const zip = dir.file('vgg19.pth');
    await writeTorchZip(zip, saved, { archiveName: 'vgg19' });
    expectSameTensors(fromSt, await readWeights(zip));
    const legacy = dir.file('vgg19-legacy.pth');
    writeTorchLegacy(legacy, saved);
    expectSameTensors(fromSt, await readWeights(legacy));
    expect([...fromSt.keys()].filter((k) => k.endsWith('.weight')).map((k) => k.replace('.weight', ''))).toEqual([
      ...[0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34].map((i) => `features.${i}`),
      'classifier.0',
      'classifier.3',
      'classifier.6',
    ]);
  });
});
