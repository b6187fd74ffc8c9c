import { Rng } from '../../core/rng.js';
import { Graph } from '../graph/graph.js';
import { compile } from '../runtime.js';
import type { ImageNetwork } from './tiled-image-net.js';

/**
 * A small seeded random conv net (3×3 conv, instance norm, ReLU, 3×3 conv, sigmoid) standing in for
 * a published network when a method runs with `weights: 'random'`: it exercises the pipeline
 * (tiling, controls, progress) where the real files are not installed. Its output is not a style.
 */
export function randomImageNetwork(seed: number, threads: number, multiple = 4): ImageNetwork {
  const rng = new Rng(seed);
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => rng.uniform(-s, s));
  const g = new Graph();
  const x = g.input('x', [1, 3, 'H', 'W']);
  let h = g.conv(x, g.param('c1.w', [8, 3, 3, 3], rand(216, 0.5)), g.param('c1.b', [8], rand(8, 0.1)), { pad: 1, padMode: 'reflect' });
  h = g.relu(g.instanceNorm(h, g.param('n1.s', [8], Float32Array.from({ length: 8 }, () => 1)), g.param('n1.b', [8], rand(8, 0.1))));
  h = g.conv(h, g.param('c2.w', [3, 8, 3, 3], rand(216, 0.3)), g.param('c2.b', [3], rand(3, 0.1)), { pad: 1, padMode: 'reflect' });
  g.output('y', g.sigmoid(h));
  const runner = compile(g, { threads });
  return {
    multiple,
    async run(data, width, height) {
      return (await (await runner).run({ x: { data, shape: [1, 3, height, width] } })).y!.data as Float32Array;
    },
  };
}
