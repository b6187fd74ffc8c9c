import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { attr, encodeModel, rawBytes, type OnnxGraph } from '../../../src/engine/graph/onnx-model.js';
import { readPth } from '../../../src/engine/weights/pth.js';
import { onnxInitializers, parseOnnx, readOnnx, type OnnxAttrValue } from '../../../src/engine/weights/onnx.js';
import { tempDir } from '../../helpers/fixtures.js';
import { describeWithSharedWeights, SHARED_WEIGHTS } from '../../helpers/shared-models.js';

const dir = tempDir('atelier-onnx-');
afterAll(() => dir.cleanup());

const SUMMARY = fileURLToPath(new URL('../../helpers/onnx_summary.py', import.meta.url));
const onnxPython = ['/usr/bin/python3', 'python3'].find((py) => spawnSync(py, ['-c', 'import onnx'], { encoding: 'utf8' }).status === 0);

/** A small graph written by our own ONNX writer: conv → reflect pad → add of a constant. */
function smallGraph(): OnnxGraph {
  const w = Float32Array.from({ length: 2 * 3 * 3 * 3 }, (_, i) => Math.sin(i) / 3);
  return {
    name: 'small',
    nodes: [
      { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]), group: attr.i(1) } },
      { op: 'Pad', inputs: ['c', 'pads'], outputs: ['p'], attrs: { mode: attr.s('reflect') } },
      { op: 'Mul', inputs: ['p', 'k'], outputs: ['y'], attrs: { note: attr.floats([0.5, 2]) } },
    ],
    initializers: [
      { name: 'w', dtype: 'float32', dims: [2, 3, 3, 3], raw: rawBytes(w) },
      { name: 'pads', dtype: 'int64', dims: [8], raw: rawBytes(BigInt64Array.from([0n, 0n, 1n, 1n, 0n, 0n, 1n, 1n])) },
      { name: 'k', dtype: 'float64', dims: [], raw: rawBytes(Float64Array.of(1.5)) },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', 3, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32' }],
  };
}

describe('ONNX reader', () => {
  it('reads back what our writer wrote: nodes, attributes, initializers, inputs and outputs', () => {
    const bytes = encodeModel(smallGraph());
    const m = parseOnnx(bytes, 'small.onnx');
    expect(m.opsets).toEqual([{ domain: '', version: 18 }]);
    expect(m.graph.nodes.map((n) => [n.op, n.inputs, n.outputs])).toEqual([
      ['Conv', ['x', 'w'], ['c']],
      ['Pad', ['c', 'pads'], ['p']],
      ['Mul', ['p', 'k'], ['y']],
    ]);
    expect(m.graph.nodes[0]!.attrs).toEqual({ kernel_shape: { kind: 'ints', value: [3, 3] }, pads: { kind: 'ints', value: [1, 1, 1, 1] }, group: { kind: 'int', value: 1 } });
    expect(m.graph.nodes[1]!.attrs.mode).toEqual({ kind: 'string', value: 'reflect' });
    expect(m.graph.nodes[2]!.attrs.note).toEqual({ kind: 'floats', value: [0.5, 2] });
    expect(m.graph.inputs).toEqual([{ name: 'x', elemType: 'float', shape: ['batch', 3, 8, 8] }]);
    expect(m.graph.outputs).toEqual([{ name: 'y', elemType: 'float' }]);
    const w = m.graph.initializers.get('w')!;
    expect(w.dims).toEqual([2, 3, 3, 3]);
    expect(w.values[7]).toBe(Math.fround(Math.sin(7) / 3));
    expect(Array.from(m.graph.initializers.get('pads')!.values)).toEqual([0, 0, 1, 1, 0, 0, 1, 1]);
    expect(m.graph.initializers.get('k')).toMatchObject({ dtype: 'double', dims: [] });
    expect(onnxInitializers(m).get('w')!.shape).toEqual([2, 3, 3, 3]);
  });

  it('refuses truncated files, naming the file and the byte where the data ran out', async () => {
    const bytes = encodeModel(smallGraph());
    for (const cut of [1, 7, Math.floor(bytes.length / 3), Math.floor(bytes.length / 2), bytes.length - 1]) {
      const file = dir.file(`cut${cut}.onnx`);
      writeFileSync(file, bytes.subarray(0, cut));
      const err = await readOnnx(file).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, `cut at ${cut}`).toMatchObject({ code: 'E_WEIGHTS_CORRUPT', subject: file });
      expect((err as Error).message, `cut at ${cut}`).toMatch(/expected /);
    }
    const mid = dir.file('mid.onnx');
    writeFileSync(mid, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expect(readOnnx(mid)).rejects.toMatchObject({ message: expect.stringMatching(/field \d+ at byte \d+ declares \d+ bytes, but only \d+ remain/) });
    writeFileSync(dir.file('empty.onnx'), new Uint8Array());
    await expect(readOnnx(dir.file('empty.onnx'))).rejects.toMatchObject({ code: 'E_WEIGHTS_CORRUPT', message: expect.stringMatching(/no ONNX graph/) });
  });

  it('refuses flipped bits that break structure, and never fails with anything but E_WEIGHTS_CORRUPT', () => {
    const bytes = encodeModel(smallGraph());
    // the graph field's tag (field 7, wire type 2 = 0x3a) turned into wire type 7
    const graphTag = bytes.indexOf(0x3a);
    const flipped = bytes.slice();
    flipped[graphTag] = 0x3f;
    expect(() => parseOnnx(flipped, 'f.onnx')).toThrow(expect.objectContaining({ code: 'E_WEIGHTS_CORRUPT', message: expect.stringMatching(/invalid field tag \(wire type 7\) at byte \d+/) }));
    // a node reading a name nobody defines (one letter flipped in "c" → "b")
    const nameFlip = bytes.slice();
    const at = Buffer.from(bytes).indexOf(Buffer.from([0x0a, 0x01, 0x63, 0x0a, 0x04])); // input "c", then input "pads"
    expect(at).toBeGreaterThan(0);
    nameFlip[at + 2] = 0x62;
    expect(() => parseOnnx(nameFlip, 'n.onnx')).toThrow(expect.objectContaining({ code: 'E_WEIGHTS_CORRUPT', message: expect.stringMatching(/reads "b", which no graph input, initializer or earlier node defines/) }));
    // every single-bit flip of the file: read, or refused as corrupt; nothing else
    let refused = 0;
    for (let i = 0; i < bytes.length; i++) {
      for (const bit of [0, 3, 7]) {
        const b = bytes.slice();
        b[i] ^= 1 << bit;
        try {
          parseOnnx(b, 'x.onnx');
        } catch (e) {
          expect((e as { code?: string }).code, `byte ${i} bit ${bit}: ${(e as Error).message}`).toBe('E_WEIGHTS_CORRUPT');
          refused++;
        }
      }
    }
    expect(refused).toBeGreaterThan(0);
  });

  it('names the format of a file of another format given as ONNX', () => {
    const cases: [Uint8Array, RegExp][] = [
      [Uint8Array.from([0x1c, 0, 0, 0, 0x54, 0x46, 0x4c, 0x33, 0, 0]), /TensorFlow Lite/],
      [Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0, 0]), /zip archive/],
      [Uint8Array.from([0x80, 0x02, 0x8a, 0x0a]), /pickle/],
      [Uint8Array.from(Buffer.from('\x89HDF\r\n\x1a\n\0\0', 'latin1')), /HDF5/],
      [Uint8Array.from(Buffer.from('7767517\n66 74\n')), /ncnn/],
      [Uint8Array.from(Buffer.from('{"a": 1}')), /JSON/],
    ];
    for (const [bytes, what] of cases) expect(() => parseOnnx(bytes, 'x.onnx')).toThrow(expect.objectContaining({ code: 'E_WEIGHTS_CORRUPT', message: expect.stringMatching(what) }));
  });

  it('bounds what it reads', async () => {
    const file = dir.file('big.onnx');
    writeFileSync(file, encodeModel(smallGraph()));
    await expect(readOnnx(file, { maxBytes: 100 })).rejects.toMatchObject({ code: 'E_WEIGHTS_CORRUPT', message: expect.stringMatching(/too large.*at most 100 bytes/) });
    await expect(readOnnx(dir.file('absent.onnx'))).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
  });
});

describeWithSharedWeights('the published fst-small ONNX exports', () => {
  const files = ['candy', 'mosaic', 'rain-princess', 'udnie'].map((s) => path.join(SHARED_WEIGHTS, 'fst-small', 'onnx_models', `${s}_nc16_256x256_onnxjs014.onnx`));

  it.skipIf(!onnxPython)('read as python3-onnx reads them: every node, attribute and initializer', async () => {
    const r = spawnSync(onnxPython!, [SUMMARY, ...files], { encoding: 'utf8', maxBuffer: 256 << 20 });
    expect(r.status, r.stderr).toBe(0);
    const reference = JSON.parse(r.stdout) as Record<string, {
      ir_version: number;
      opsets: [string, number][];
      inputs: string[];
      outputs: string[];
      nodes: { op: string; inputs: string[]; outputs: string[]; attrs: Record<string, unknown> }[];
      initializers: { name: string; dims: number[]; sum: number }[];
    }>;
    const plain = (a: OnnxAttrValue): unknown =>
      a.kind === 'tensor' ? { dims: a.value.dims, values: Array.from(a.value.values) } : a.kind === 'graph' ? 'graph' : a.value;
    for (const file of files) {
      const ours = await readOnnx(file);
      const ref = reference[file]!;
      expect(ours.irVersion).toBe(ref.ir_version);
      expect(ours.opsets.map((o) => [o.domain, o.version])).toEqual(ref.opsets);
      expect(ours.graph.inputs.map((i) => i.name)).toEqual(ref.inputs);
      expect(ours.graph.outputs.map((o) => o.name)).toEqual(ref.outputs);
      expect(ours.graph.nodes).toHaveLength(ref.nodes.length);
      for (const [k, n] of ours.graph.nodes.entries()) {
        const rn = ref.nodes[k]!;
        expect([n.op, n.inputs, n.outputs], `${file} node ${k}`).toEqual([rn.op, rn.inputs, rn.outputs]);
        const attrs = Object.fromEntries(Object.entries(n.attrs).map(([name, a]) => [name, plain(a)]));
        expect(attrs, `${file} node ${k}`).toEqual(rn.attrs);
      }
      expect([...ours.graph.initializers.keys()]).toEqual(ref.initializers.map((t) => t.name));
      for (const t of ref.initializers) {
        const mine = ours.graph.initializers.get(t.name)!;
        expect(mine.dims).toEqual(t.dims);
        let sum = 0;
        for (const v of mine.values) sum += v;
        expect(Math.abs(sum - t.sum)).toBeLessThanOrEqual(1e-9 * Math.max(1, mine.values.length));
      }
    }
  });

  it('hold the same weights as the nc16 .model state dicts, in state-dict order', async () => {
    for (const file of files) {
      const style = path.basename(file).split('_nc16_')[0]!;
      const onnx = onnxInitializers(await readOnnx(file));
      const state = await readPth(path.join(SHARED_WEIGHTS, 'fst-small', 'saved_models_nc16', `${style}_nc16_b1_e2_1e05_1e10.model`));
      // the 2018 exporter numbers parameters 1…62 in the module's state_dict order
      expect([...onnx.keys()]).toEqual(Array.from({ length: state.size }, (_, i) => String(i + 1)));
      for (const [k, t] of [...state.values()].entries()) {
        const o = onnx.get(String(k + 1))!;
        expect(o.shape, `${style} ${t.name}`).toEqual(t.shape);
        expect(Buffer.from(o.data.buffer, o.data.byteOffset, o.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), `${style} ${t.name}`).toBe(true);
      }
    }
  });

  it('refuses the real file cut short at many points', () => {
    const bytes = new Uint8Array(readFileSync(files[0]!));
    for (let k = 1; k < 20; k++) {
      const cut = Math.floor((bytes.length * k) / 20);
      expect(() => parseOnnx(bytes.subarray(0, cut), files[0]!), `cut at ${cut}`).toThrow(expect.objectContaining({ code: 'E_WEIGHTS_CORRUPT', subject: files[0] }));
    }
  });
});
