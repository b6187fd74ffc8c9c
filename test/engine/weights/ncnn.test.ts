import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { float32ToFloat16Bits } from '../../../src/engine/weights/dtype.js';
import { parseNcnnParam, readNcnnModel } from '../../../src/engine/weights/ncnn.js';
import { tempDir } from '../../helpers/fixtures.js';
import { sharedWeights as SHARED_WEIGHTS } from '../../helpers/torch-reference.js';

const tmp = tempDir('atelier-ncnn-');
afterAll(() => tmp.cleanup());

const PARAM = `7767517
4 4
Input            data   0 1 data
Convolution      conv1  1 1 data c1 0=2 1=1 5=1 6=6
InstanceNorm     norm1  1 1 c1 n1 0=2 1=1.000000e-05
Convolution      conv2  1 1 n1 out 0=1 1=1 5=0 6=2 -23310=2,0.5,1.5
`;

/** conv1: fp16-tagged weights [1, -2, 0.5, 3, -0.25, 4] and fp32 bias; norm γ, β; conv2: fp32 (tag 0). */
function bin(): Buffer {
  const parts: Buffer[] = [];
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const f32 = (vs: number[]) => Buffer.from(Float32Array.from(vs).buffer);
  const f16 = (vs: number[]) => { const b = Buffer.alloc(vs.length * 2); vs.forEach((v, i) => b.writeUInt16LE(float32ToFloat16Bits(v), 2 * i)); return b; };
  parts.push(u32(0x01306b47), f16([1, -2, 0.5, 3, -0.25, 4]), f32([0.1, 0.2]));
  parts.push(f32([1.5, 2.5]), f32([-1, 1]));
  parts.push(u32(0), f32([0.75, -0.125]));
  return Buffer.concat(parts);
}

function write(name: string, param: string, data: Buffer): [string, string] {
  writeFileSync(tmp.file(`${name}.param`), param);
  writeFileSync(tmp.file(`${name}.bin`), data);
  return [tmp.file(`${name}.param`), tmp.file(`${name}.bin`)];
}

async function failure(p: Promise<unknown>): Promise<AtelierError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(AtelierError);
  return e as AtelierError;
}

describe('ncnn reader', () => {
  it('parses the graph and reads fp16-tagged, fp32-tagged and untagged fp32 blobs', async () => {
    const m = await readNcnnModel(...write('ok', PARAM, bin()));
    expect(m.layers.map((l) => l.type)).toEqual(['Input', 'Convolution', 'InstanceNorm', 'Convolution']);
    const [, conv1, norm1, conv2] = m.layers;
    expect(conv1!.inputs).toEqual(['data']);
    expect(conv1!.outputs).toEqual(['c1']);
    expect(conv1!.params.get(0)).toBe(2);
    expect(norm1!.params.get(1)).toBeCloseTo(1e-5, 12);
    expect(conv2!.params.get(10)).toEqual([0.5, 1.5]);
    expect(Array.from(conv1!.weights.get('weight')!)).toEqual([1, -2, 0.5, 3, -0.25, 4]);
    expect(Array.from(conv1!.weights.get('bias')!)).toEqual([Math.fround(0.1), Math.fround(0.2)]);
    expect(Array.from(norm1!.weights.get('gamma')!)).toEqual([1.5, 2.5]);
    expect(Array.from(norm1!.weights.get('beta')!)).toEqual([-1, 1]);
    expect(Array.from(conv2!.weights.get('weight')!)).toEqual([0.75, -0.125]);
    expect(conv2!.weights.has('bias')).toBe(false);
  });

  it('refuses every truncation of the .bin, naming the file, the layer and the offset', async () => {
    const full = bin();
    for (const cut of [0, 3, 4, 10, 16, 20, 27, 36, 44, full.length - 1]) {
      const [param, data] = write(`cut${cut}`, PARAM, full.subarray(0, cut));
      const e = await failure(readNcnnModel(param, data));
      expect(e.code, `cut at ${cut}`).toBe('E_WEIGHTS_CORRUPT');
      expect(e.subject).toBe(data);
      expect(e.message).toMatch(/ends inside .* of layer "(conv1|norm1|conv2)"/);
      expect(e.expected).toMatch(/bytes from offset \d+/);
    }
  });

  it('refuses trailing bytes, an unknown tag format, a bad magic, a cycle and an unknown layer type', async () => {
    const long = await failure(readNcnnModel(...write('long', PARAM, Buffer.concat([bin(), Buffer.alloc(8)]))));
    expect(long.message).toMatch(/longer than its .param/);
    expect(long.received).toContain('8 left over');
    const int8 = bin();
    int8.writeUInt32LE(0x000d4b38, 0);
    expect((await failure(readNcnnModel(...write('int8', PARAM, int8)))).message).toMatch(/int8/);
    const notParam = await failure(readNcnnModel(...write('magic', 'hello\n', bin())));
    expect(notParam.code).toBe('E_WEIGHTS_CORRUPT');
    expect(notParam.expected).toContain('7767517');
    expect(() => parseNcnnParam('7767517\n2 2\nReLU a 1 1 y x\nReLU b 1 1 x y\n', 'cycle.param')).toThrow(/reads blob "y" before any layer makes it/);
    const unknown = PARAM.replace('InstanceNorm     norm1', 'Frobnicate       norm1');
    const e = await failure(readNcnnModel(...write('unknown', unknown, bin())));
    expect(e.code).toBe('E_WEIGHTS_CORRUPT');
    expect(e.message).toContain('"Frobnicate"');
    expect(e.received).toContain('line 5');
    expect(() => parseNcnnParam(PARAM.replace('4 4', '5 4'), 'short.param')).toThrow(/ends after 4 of its 5 layers/);
  });

  it('fuzz: every truncation and single-bit flip of the .param and .bin reads, or is refused as E_WEIGHTS_CORRUPT naming the file', async () => {
    // Only AtelierErrors of the one code may come out; a TypeError, a RangeError or a hang would be a bug.
    const param = Buffer.from(PARAM);
    const data = bin();
    const outcomes = { read: 0, refused: 0 };
    const attempt = async (name: string, p: Buffer, b: Buffer, what: string) => {
      const [pf, bf] = write(name, p.toString('latin1'), b);
      try {
        await readNcnnModel(pf, bf);
        outcomes.read++;
      } catch (e) {
        expect(e, what).toBeInstanceOf(AtelierError);
        expect((e as AtelierError).code, `${what}: ${(e as Error).message}`).toBe('E_WEIGHTS_CORRUPT');
        expect([pf, bf], what).toContain((e as AtelierError).subject);
        outcomes.refused++;
      }
    };
    for (let cut = 0; cut < param.length; cut += 3) await attempt('fz', param.subarray(0, cut), data, `.param cut at ${cut}`);
    for (let i = 0; i < param.length; i++) {
      const flipped = Buffer.from(param);
      flipped[i] ^= 1 << (i % 7);
      await attempt('fz', flipped, data, `.param byte ${i} flipped`);
    }
    for (let i = 0; i < data.length; i++) {
      for (const bit of [0, 6, 7]) {
        const flipped = Buffer.from(data);
        flipped[i] ^= 1 << bit;
        await attempt('fz', param, flipped, `.bin byte ${i} bit ${bit}`);
      }
    }
    // Flipped float bits mostly still read (a different weight), flipped tags and text mostly not.
    expect(outcomes.refused).toBeGreaterThan(50);
    expect(outcomes.read).toBeGreaterThan(50);
  });

  it.skipIf(!SHARED_WEIGHTS)(`reads the published TransformerNet .param and each style's .bin (${SHARED_WEIGHTS ? 'shared weights present' : '../shared/weights is absent: skipped'})`, async () => {
    for (const style of ['candy', 'mosaic', 'pointilism', 'rain_princess', 'udnie']) {
      const m = await readNcnnModel(`${SHARED_WEIGHTS}/fst-ncnn/styletransfer.param`, `${SHARED_WEIGHTS}/fst-ncnn/${style}.bin`);
      expect(m.layers.length).toBe(70);
      expect(m.blobCount).toBe(75);
      let params = 0;
      for (const l of m.layers) for (const w of l.weights.values()) params += w.length;
      expect(params, style).toBe(1_679_235);
    }
  });
});
