import { AtelierError } from '../../core/errors.js';
import type { Rng } from '../../core/rng.js';
import { checkRank, fanIn, maxRank } from './adapter.js';

/**
 * Which weights of a network get LoRA pairs, and their starting values. Targets are patterns over
 * the engine's weight names: `*` matches any run of characters, and a pattern without `*` matches
 * a name it equals or that continues it after a dot (`res1` matches `res1.conv1.conv2d.weight`).
 * Only 4-D weights (convolutions) are adapted.
 */

function matcher(pattern: string): (name: string) => boolean {
  if (!pattern.includes('*')) return (n) => n === pattern || n.startsWith(`${pattern}.`);
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return (n) => re.test(n);
}

/**
 * The weights to adapt. With explicit patterns, every conv weight they match (a rank the weight
 * cannot hold is refused, naming the layer and its limit; a pattern matching no conv is refused).
 * With none, every conv weight whose shape allows the rank (the others are skipped, as a 3-output
 * last layer cannot hold rank 4).
 */
export function chooseTargets(shapes: ReadonlyMap<string, readonly number[]>, patterns: readonly string[] | undefined, rank: number): string[] {
  const convs = [...shapes].filter(([, s]) => s.length === 4);
  if (!patterns || patterns.length === 0) {
    const chosen = convs.filter(([, s]) => maxRank(s) >= rank).map(([n]) => n);
    if (chosen.length === 0) throw new AtelierError('E_PARAM', `No convolution of the network allows rank ${rank}`, { subject: 'rank', hint: 'lower --rank' });
    return chosen;
  }
  const chosen: string[] = [];
  for (const p of patterns) {
    const match = matcher(p);
    const hits = convs.filter(([n]) => match(n));
    if (hits.length === 0) {
      throw new AtelierError('E_PARAM', `The target ${JSON.stringify(p)} matches no convolution weight of the network`, {
        subject: 'targets',
        expected: `patterns over its conv weights, e.g. ${convs.slice(0, 3).map(([n]) => n).join(', ')}`,
        received: p,
      });
    }
    for (const [n, s] of hits) {
      checkRank(n, s, rank);
      if (!chosen.includes(n)) chosen.push(n);
    }
  }
  return chosen;
}

/**
 * Starting LoRA pair for a weight: A uniform in ±1/√(d1·kh·kw) (PyTorch's default init for a layer
 * of that fan-in, as the LoRA reference implementation draws A), B zero, so ΔW starts at zero.
 */
export function initialPair(shape: readonly number[], rank: number, rng: Rng): { a: Float32Array; b: Float32Array } {
  const cols = fanIn(shape);
  const bound = 1 / Math.sqrt(cols);
  const a = new Float32Array(rank * cols);
  for (let i = 0; i < a.length; i++) a[i] = rng.uniform(-bound, bound);
  return { a, b: new Float32Array(shape[0]! * rank) };
}
