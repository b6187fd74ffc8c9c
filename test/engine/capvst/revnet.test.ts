import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../../src/core/rng.js';
import { Graph } from '../../../src/engine/graph/graph.js';
import { compile, releaseSessions } from '../../../src/engine/runtime.js';
import { randomCapVstWeights } from '../../../src/engine/nets/capvst/state-dict.js';
import { chw, revNetForwardReference } from '../../../src/engine/nets/capvst/reference.js';
import { RevNetGraph } from '../../../src/engine/nets/capvst/revnet.js';

afterAll(releaseSessions);

function randomImage(h: number, w: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: 3 * h * w }, () => rng.next());
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('RevNetGraph (engine)', () => {
  for (const mode of ['photoreal', 'artistic'] as const) {
    for (const dims of ['fixed', 'symbolic'] as const) {
      it(`matches the reference and inverts to 1e-4 (${mode}, ${dims} sizes)`, async () => {
        const weights = randomCapVstWeights(mode, 3, 1);
        const [h, w] = [16, 24];
        const g = new Graph();
        const net = new RevNetGraph(g, weights);
        const x = g.input('image', dims === 'fixed' ? [1, 3, h, w] : [1, 3, 'H', 'W']);
        const z = net.forward(x);
        g.output('z', z);
        g.output('back', net.inverse(z));
        const runner = await compile(g, { threads: 2 });
        const image = randomImage(h, w, 5);
        const out = await runner.run({ image: { data: image, shape: [1, 3, h, w] } });
        const ref = revNetForwardReference(weights, chw(3, h, w, image));
        expect(out.z!.shape).toEqual([1, ref.c, ref.h, ref.w]);
        expect(maxDiff(out.z!.data as Float32Array, ref.data)).toBeLessThan(1e-3 * Math.max(1, Math.max(...ref.data.map(Math.abs))));
        expect(out.back!.shape).toEqual([1, 3, h, w]);
        expect(maxDiff(out.back!.data as Float32Array, image)).toBeLessThan(1e-4);
      });
    }
  }
});
