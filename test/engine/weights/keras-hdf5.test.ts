import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseKerasHdf5, readKerasHdf5 } from '../../../src/engine/weights/keras-hdf5.js';
import { tempDir } from '../../helpers/fixtures.js';
import { describeWithSharedWeights, SHARED_WEIGHTS } from '../../helpers/shared-models.js';

/** Keras HDF5 weights through jsfive, checked against Debian's python3-h5py. */

const h5Python = ['/usr/bin/python3', 'python3'].find((py) => spawnSync(py, ['-c', 'import h5py'], { encoding: 'utf8' }).status === 0);
const dir = tempDir('atelier-h5-');
afterAll(() => dir.cleanup());

function python(script: string, ...args: string[]): string {
  const r = spawnSync(h5Python!, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

/** h5py's view of a Keras weight file: layer order, weight order, shapes, sums. */
const SUMMARY = `
import h5py, json, sys
f = h5py.File(sys.argv[1], 'r')
out = []
text = lambda x: x.decode() if isinstance(x, bytes) else str(x)
for layer in f.attrs['layer_names']:
    layer = text(layer)
    g = f[layer]
    ws = []
    for w in g.attrs['weight_names']:
        w = text(w)
        d = g[w][()]
        ws.append({'name': layer + '/' + w, 'shape': list(d.shape), 'sum': float(d.astype('float64').sum()), 'first': float(d.ravel()[0])})
    out.append({'name': layer, 'weights': ws})
json.dump(out, sys.stdout)
`;

/** A small Keras-layout file written by h5py: one contiguous and one gzip-chunked dataset, a weightless layer. */
const WRITE_SMALL = `
import h5py, numpy as np, sys
with h5py.File(sys.argv[1], 'w') as f:
    # fixed-length byte strings, as Keras writes them
    f.attrs['layer_names'] = np.array([b'conv', b'relu', b'dense'], dtype='S5')
    f.attrs['keras_version'] = np.bytes_(b'2.2.4')
    f.attrs['backend'] = np.bytes_(b'tensorflow')
    c = f.create_group('conv'); c.attrs['weight_names'] = np.array([b'conv/kernel:0', b'conv/bias:0'], dtype='S13')
    c.create_dataset('conv/kernel:0', data=np.arange(3*3*2*4, dtype=np.float32).reshape(3, 3, 2, 4) / 7)
    c.create_dataset('conv/bias:0', data=np.array([1, -2, 3, -4], dtype=np.float32))
    r = f.create_group('relu'); r.attrs['weight_names'] = np.array([], dtype='S1')
    d = f.create_group('dense'); d.attrs['weight_names'] = np.array([b'dense/kernel:0'], dtype='S14')
    d.create_dataset('dense/kernel:0', data=np.sin(np.arange(64*30, dtype=np.float64)).reshape(64, 30), chunks=(16, 10), compression='gzip')
`;

describe.skipIf(!h5Python)('Keras HDF5 reader', () => {
  it('reads layers in order, weights in order, contiguous and gzip-chunked data, as h5py does', async () => {
    const file = dir.file('small.h5');
    python(WRITE_SMALL, file);
    const w = await readKerasHdf5(file);
    expect(w.layers.map((l) => [l.name, l.weights.map((t) => t.name)])).toEqual([
      ['conv', ['conv/conv/kernel:0', 'conv/conv/bias:0']],
      ['relu', []],
      ['dense', ['dense/dense/kernel:0']],
    ]);
    expect(w).toMatchObject({ kerasVersion: '2.2.4', backend: 'tensorflow' });
    const ref = JSON.parse(python(SUMMARY, file)) as { name: string; weights: { name: string; shape: number[]; sum: number; first: number }[] }[];
    for (const [k, layer] of ref.entries()) {
      for (const [j, t] of layer.weights.entries()) {
        const ours = w.layers[k]!.weights[j]!;
        expect(ours.shape).toEqual(t.shape);
        let sum = 0;
        for (const v of ours.data) sum += v;
        expect(sum).toBeCloseTo(t.sum, 4);
        expect(ours.data[0]).toBe(Math.fround(t.first));
      }
    }
    expect(Array.from(w.tensors.get('conv/conv/bias:0')!.data)).toEqual([1, -2, 3, -4]);
  });

  it('refuses truncated and damaged files, and files that are not Keras weights', async () => {
    const file = dir.file('small2.h5');
    python(WRITE_SMALL, file);
    const bytes = new Uint8Array(readFileSync(file));
    for (const cut of [0, 5, 100, Math.floor(bytes.length / 2), bytes.length - 1]) {
      await expect(parseKerasHdf5(bytes.subarray(0, cut), file), `cut ${cut}`).rejects.toMatchObject({ code: 'E_WEIGHTS_CORRUPT', subject: file });
    }
    await expect(parseKerasHdf5(bytes.subarray(0, bytes.length - 1), file)).rejects.toThrow(new RegExp(`superblock says it ends at byte ${bytes.length}, but it has ${bytes.length - 1} bytes`));
    // single-bit flips over the structure (the first 4 kB: superblock, groups, heaps, attributes):
    // read, or refused as corrupt, never another failure, a crash or a hang
    let refused = 0;
    for (let i = 0; i < Math.min(bytes.length, 4096); i += 157) {
      const b = bytes.slice();
      b[i] ^= 1 << (i % 8);
      try {
        await parseKerasHdf5(b, file);
      } catch (e) {
        expect((e as { code?: string }).code, `byte ${i}: ${(e as Error).message}`).toBe('E_WEIGHTS_CORRUPT');
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
    // an HDF5 file that is not a Keras weight file
    const plain = dir.file('plain.h5');
    python(`import h5py, sys\nwith h5py.File(sys.argv[1], 'w') as f: f['x'] = [1.0, 2.0]`, plain);
    await expect(readKerasHdf5(plain)).rejects.toMatchObject({ code: 'E_WEIGHTS_CORRUPT', message: expect.stringMatching(/no layer_names attribute/) });
    // another format named .h5
    writeFileSync(dir.file('model.h5'), Uint8Array.from([0x1c, 0, 0, 0, 0x54, 0x46, 0x4c, 0x33, 0, 0, 0, 0]));
    await expect(readKerasHdf5(dir.file('model.h5'))).rejects.toMatchObject({ code: 'E_WEIGHTS_CORRUPT', message: expect.stringMatching(/TensorFlow Lite model.*not a Keras HDF5/) });
    await expect(readKerasHdf5(file, { maxBytes: 10 })).rejects.toMatchObject({ code: 'E_WEIGHTS_CORRUPT', message: expect.stringMatching(/too large/) });
  });
});

describeWithSharedWeights('the published Keras SqueezeNet 1.1', () => {
  const file = path.join(SHARED_WEIGHTS, 'squeezenet1_1', 'squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5');

  it.skipIf(!h5Python)('reads 26 convolutions (722,496 parameters) exactly as h5py does', async () => {
    const w = await readKerasHdf5(file);
    const ref = JSON.parse(python(SUMMARY, file)) as { name: string; weights: { name: string; shape: number[]; sum: number; first: number }[] }[];
    expect(w.layers.map((l) => l.name)).toEqual(ref.map((l) => l.name));
    let params = 0;
    for (const [k, layer] of ref.entries()) {
      expect(w.layers[k]!.weights.map((t) => t.name)).toEqual(layer.weights.map((t) => t.name));
      for (const [j, t] of layer.weights.entries()) {
        const ours = w.layers[k]!.weights[j]!;
        expect(ours.shape, t.name).toEqual(t.shape);
        let sum = 0;
        for (const v of ours.data) sum += v;
        expect(Math.abs(sum - t.sum), t.name).toBeLessThanOrEqual(1e-9 * ours.data.length);
        expect(ours.data[0]).toBe(Math.fround(t.first));
        params += ours.data.length;
      }
    }
    expect(w.layers.filter((l) => l.weights.length > 0)).toHaveLength(25);
    expect(params).toBe(722_496);
  });
});
