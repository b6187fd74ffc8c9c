import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { keepPadsBlocked } from '../../src/engine/graph/blocked-pads.js';
import { Graph, type Tensor } from '../../src/engine/graph/graph.js';
import { lowerGraph } from '../../src/engine/graph/lower.js';
import { nchwcBlockSize } from '../../src/engine/runtime.js';
import { compile, ortOptimizedModel, type TensorValue } from '../../src/engine/runtime.js';
import { SwitchedRunner } from '../../src/engine/switched-runner.js';

/**
 * Reflect pads kept in ORT's blocked layout (`SessionOptions.blockedPads`) compute exactly what
 * ORT's own reorder → pad → reorder chains compute. The net has what makes a rewrite wrong if it
 * is taken where it should not be: 20 channels (not a multiple of the block: padded channels), a
 * padded activation that is also a graph output, pooling, a residual sum, nearest upsampling and a
 * last conv to 3 channels; sizes are odd.
 */
function net(g: Graph, x: Tensor, seed: number): { y: Tensor; mid: Tensor } {
  const rng = new Rng(seed);
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => rng.uniform(-s, s));
  let k = 0;
  const conv = (h: Tensor, cin: number, cout: number, relu = true) => {
    const c = g.conv(h, g.param(`w${k}`, [cout, cin, 3, 3], rand(cout * cin * 9, 0.3)), g.param(`b${k++}`, [cout], rand(cout, 0.1)), { pad: 1, padMode: 'reflect' });
    return relu ? g.relu(c) : c;
  };
  const mid = conv(x, 3, 20);
  let h = conv(conv(mid, 20, 20), 20, 24);
  h = g.maxPool(h, { kernel: 2, stride: 2 });
  h = g.add(h, conv(conv(h, 24, 24), 24, 24));
  h = conv(g.resize(h, 2, 'nearest'), 24, 16);
  return { y: conv(h, 16, 3, false), mid };
}

const size = { h: 23, w: 19 };
const image = Float32Array.from({ length: 3 * size.h * size.w }, (_, i) => 0.5 + 0.4 * Math.sin(i * 0.37));
const feeds = { x: { data: image, shape: [1, 3, size.h, size.w] } };
const values = (t: TensorValue) => Array.from(t.data as Float32Array);

function graph(seed = 3): Graph {
  const g = new Graph();
  const { y, mid } = net(g, g.input('x', [1, 3, 'H', 'W']), seed);
  g.output('y', y);
  g.output('mid', mid);
  return g;
}

describe('reflect pads in the blocked layout', () => {
  it('rewrites the chains between blocked convolutions only, and the session computes the same values', async () => {
    const block = await nchwcBlockSize();
    if (block === 0) return; // no NCHWc kernels on this CPU: nothing is rewritten
    const optimized = await ortOptimizedModel(graph());
    const { rewritten } = keepPadsBlocked(optimized, block);
    // Seven padded convs: the first reads the NCHW input and the second an activation that is
    // also a graph output. With B = 16 (AVX-512) ORT keeps the pool, the sum and the upsampling
    // of 24 channels in NCHW, which leaves three chains between blocked convolutions; smaller
    // blocks keep more of the net blocked.
    expect(rewritten).toBeGreaterThanOrEqual(3);
    const plain = await compile(graph(), { threads: 1, cache: false });
    const blocked = await compile(graph(), { threads: 1, cache: false, blockedPads: true });
    const a = await plain.run(feeds);
    const b = await blocked.run(feeds);
    expect(b.y!.shape).toEqual([1, 3, size.h - 1, size.w - 1]);
    expect(values(b.y!)).toEqual(values(a.y!));
    expect(values(b.mid!)).toEqual(values(a.mid!));
    await Promise.all([plain.release(), blocked.release()]);
  });

  it('rewrites inside the branches of a switched session too', async () => {
    const parts = [3, 4].map((seed) => {
      const g = new Graph();
      g.output('y', net(g, g.input('x', [1, 3, 'H', 'W']), seed).y);
      return { name: `p${seed}`, graph: lowerGraph(g, { outputShapes: true }).onnx };
    });
    const plain = await SwitchedRunner.compile(parts, { threads: 1 });
    const blocked = await SwitchedRunner.compile(parts, { threads: 1, blockedPads: true });
    for (const p of ['p3', 'p4']) {
      const a = await plain.run(p, feeds);
      const b = await blocked.run(p, feeds);
      expect(values(b.y!)).toEqual(values(a.y!));
    }
    await Promise.all([plain.release(), blocked.release()]);
  });

  it('falls back to the plain session where the optimised model cannot be written (no temporary folder)', async () => {
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = '/nonexistent/atelier-blocked-pads';
    try {
      const plain = await compile(graph(5), { threads: 1, cache: false });
      const blocked = await compile(graph(5), { threads: 1, cache: false, blockedPads: true });
      expect(values((await blocked.run(feeds)).y!)).toEqual(values((await plain.run(feeds)).y!));
      await Promise.all([plain.release(), blocked.release()]);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });
});
