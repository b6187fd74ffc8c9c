import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AtelierError } from '../../src/core/errors.js';
import { Graph } from '../../src/engine/graph/graph.js';
import { convInTwoPasses, convTwoPassForm, emitModel } from '../../src/engine/graph/lower.js';
import { compile } from '../../src/engine/runtime.js';

function tinyNet(scale: number) {
  const g = new Graph();
  const x = g.input('image', [1, 3, 'H', 'W']);
  const w = g.param('w', [2, 3, 3, 3], new Float32Array(54).fill(scale));
  g.output('y', g.relu(g.conv(x, w, undefined, { pad: 1 })));
  return g;
}

describe('runtime', () => {
  it('caches sessions by graph hash and serves every size from one session', async () => {
    const a = await compile(tinyNet(0.1), { threads: 1 });
    const b = await compile(tinyNet(0.1), { threads: 1 });
    const c = await compile(tinyNet(0.2), { threads: 1 });
    expect(b.hash).toBe(a.hash);
    expect(c.hash).not.toBe(a.hash);
    for (const [h, w] of [[5, 7], [9, 4]]) {
      const out = await a.run({ image: { data: new Float32Array(3 * h! * w!).fill(1), shape: [1, 3, h!, w!] } });
      expect(out.y!.shape).toEqual([1, 2, h, w]);
      // Centre pixel sees 27 ones × 0.1.
      if (h === 5) expect(out.y!.data[2 * w! + 3]).toBeCloseTo(2.7, 5);
    }
  });

  it('names the input and its shape when ORT rejects a feed', async () => {
    const r = await compile(tinyNet(0.1), { threads: 1 });
    const err = await r.run({ image: { data: new Float32Array(4 * 5 * 5), shape: [1, 4, 5, 5] } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AtelierError);
    expect((err as AtelierError).code).toBe('E_ENGINE');
    expect((err as AtelierError).message).toContain('image [1×4×5×5] float32');
    const missing = await r.run({}).catch((e: unknown) => e);
    expect((missing as AtelierError).message).toContain('Missing input image');
  });

  it('records per-node timings when asked to profile', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'atelier-prof-'));
    try {
      const prefix = path.join(dir, 'p');
      const r = await compile(tinyNet(0.1), { threads: 1, profile: prefix });
      await r.run({ image: { data: new Float32Array(3 * 16), shape: [1, 3, 4, 4] } });
      const trace = JSON.parse(readFileSync(r.endProfiling(), 'utf8')) as { cat: string; args?: { op_name?: string } }[];
      expect(trace.some((e) => e.cat === 'Node' && e.args?.op_name === 'Conv')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('emits params as graph inputs for training', () => {
    const m = emitModel(tinyNet(0.1), { paramsAsInputs: true });
    expect(m.inputs).toEqual(['image', 'w']);
    expect(emitModel(tinyNet(0.1)).inputs).toEqual(['image']);
  });
});

describe('conv lowering', () => {
  it.each([false, true])('reverses kernel taps the same way whether the kernel is a constant or fed (params as inputs: %s)', async (paramsAsInputs) => {
    const w = Float32Array.from({ length: 2 * 3 * 2 * 3 }, (_, i) => i);
    const g = new Graph();
    const p = g.param('w', [2, 3, 2, 3], w);
    g.output('r', g.reverseTaps(p));
    g.output('keep', g.add(g.input('x', [1]), g.scalar(0)));
    const feeds = { x: { data: new Float32Array([0]), shape: [1] }, ...(paramsAsInputs && { w: { data: w, shape: [2, 3, 2, 3] } }) };
    const out = await (await compile(g, { threads: 1, paramsAsInputs })).run(feeds);
    const expected = Array.from({ length: w.length }, (_, i) => w[Math.floor(i / 6) * 6 + (5 - (i % 6))]!);
    expect(Array.from(out.r!.data as Float32Array)).toEqual(expected);
  });

  it.each([
    { k: 5, cin: 11, cout: 2, form: 'rows', fed: false },
    { k: 3, cin: 11, cout: 2, form: 'rows', fed: false },
    // MicroAST's last layer (9×9, 16 → 3): five groups of two columns, the last one half zero.
    { k: 9, cin: 16, cout: 3, form: 'columns', fed: false },
    { k: 9, cin: 16, cout: 3, form: 'columns', fed: true },
    { k: 3, cin: 8, cout: 3, form: 'columns', fed: false },
    { k: 5, cin: 12, cout: 4, form: 'columns', fed: false },
  ])('a $k×$k kernel from $cin channels to $cout ($form, kernel fed: $fed) equals the direct sum', async ({ k, cin, cout, form, fed }) => {
    const [h, w] = [13, 11];
    const rnd = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);
    const x = rnd(cin * h * w, 1);
    const weight = rnd(cout * cin * k * k, 2);
    const bias = Float32Array.from([0.25, -0.5, 0.125, -0.75].slice(0, cout));
    const g = new Graph();
    const input = g.input('x', [1, cin, 'H', 'W']);
    const y = g.conv(input, g.param('w', [cout, cin, k, k], weight), g.param('b', [cout], bias), { pad: [2, 1, 0, 3] });
    expect(convTwoPassForm(y.producer!)).toBe(form);
    expect(convInTwoPasses(y.producer!)).toBe(true);
    g.output('y', y);
    const feeds = { x: { data: x, shape: [1, cin, h, w] }, ...(fed && { w: { data: weight, shape: [cout, cin, k, k] }, b: { data: bias, shape: [cout] } }) };
    const out = await (await compile(g, { threads: 1, paramsAsInputs: fed })).run(feeds);
    const [oh, ow] = [h + 2 - k + 1, w + 4 - k + 1];
    expect(out.y!.shape).toEqual([1, cout, oh, ow]);
    let worst = 0;
    for (let o = 0; o < cout; o++) {
      for (let r = 0; r < oh; r++) {
        for (let c = 0; c < ow; c++) {
          let sum = bias[o]!;
          for (let ci = 0; ci < cin; ci++) {
            for (let i = 0; i < k; i++) {
              for (let j = 0; j < k; j++) {
                const [yy, xx] = [r + i - 2, c + j - 1];
                if (yy >= 0 && yy < h && xx >= 0 && xx < w) sum += weight[((o * cin + ci) * k + i) * k + j]! * x[(ci * h + yy) * w + xx]!;
              }
            }
          }
          worst = Math.max(worst, Math.abs(sum - (out.y!.data[(o * oh + r) * ow + c] as number)));
        }
      }
    }
    expect(worst).toBeLessThan(1e-4);
  });
});
