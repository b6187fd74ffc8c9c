import { Image } from '../../../src/core/image.js';
import type { Regions } from '../../../src/core/mask.js';
import { silentProgress } from '../../../src/core/progress.js';
import type { AnyMethod, RunContext } from '../../../src/core/registry.js';
import { Rng } from '../../../src/core/rng.js';
import { noiseImage } from '../../helpers/fixtures.js';

/**
 * Runs a method's `run` directly, without the pipeline's clamping to [0, 1], so statistics can be
 * checked exactly as the algorithm produced them.
 */
export async function runDirect(def: AnyMethod, content: Image, style: Image, params: Record<string, unknown> = {}, regions?: Regions, seed = 1): Promise<Image> {
  const ctx: RunContext = {
    rng: new Rng(seed),
    seed,
    progress: silentProgress,
    signal: new AbortController().signal,
    log: { debug() {}, info() {}, warn() {} },
    threads: 1,
    controls: { strength: 1, preserveColor: false, seed },
  };
  const out = await def.run(ctx, { content, style, extra: {}, ...(regions && { regions }) }, def.params.parse(params));
  return out instanceof Image ? out : out.image;
}

/** Mean and (population) standard deviation of an array. */
export function meanStd(values: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < values.length; i++) {
    s += values[i]!;
    s2 += values[i]! * values[i]!;
  }
  const mean = s / values.length;
  return { mean, std: Math.sqrt(Math.max(0, s2 / values.length - mean * mean)) };
}

/** Label maps: the left `split` columns red, the rest blue. */
export function twoRegionMap(width: number, height: number, split: number): Image {
  const img = new Image(width, height, 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (x < split) img.plane(0)[i] = 1;
      else img.plane(2)[i] = 1;
    }
  }
  return img;
}

/** Kolmogorov–Smirnov distance between two samples' empirical CDFs. */
export function ksDistance(a: Float32Array, b: Float32Array): number {
  const x = new Float32Array(a).sort();
  const y = new Float32Array(b).sort();
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i]! <= v) i++;
    while (j < y.length && y[j]! <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

/** A style whose left `split` columns are noisy red and the rest noisy blue (pairs with twoRegionMap). */
export function twoColorStyle(width: number, height: number, split: number): Image {
  const red = noiseImage(width, height, 5, [0.65, 0.4, 0.35], 0.08);
  const blue = noiseImage(width, height, 6, [0.3, 0.4, 0.6], 0.08);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < height; y++) for (let x = split; x < width; x++) red.plane(c)[y * width + x] = blue.plane(c)[y * width + x]!;
  }
  return red;
}
