import { totalmem } from 'node:os';
import { AtelierError } from './errors.js';
import type { AnyMethod, Family } from './registry.js';
import { fitWithin } from './resample.js';

/**
 * Memory bounded before any work: a run's peak is estimated from its inputs' sizes (read from the
 * file headers) and the method's measured bytes per pixel, and a run over the budget is refused up
 * front with the estimate, the limit and what to do, instead of being killed by the system (or
 * taking the machine down) half-way. The budget is `--max-memory` / ATELIER_MAX_MEMORY, by default
 * half the machine's memory up to 8 GiB.
 */

/**
 * Peak bytes per working-image pixel by family, where a method states no memory profile of its
 * own. Colour: color.mkl on a 36 MP PNG peaked at 2.0 GB in all (≈ 54 bytes per pixel with
 * decoding); the small-size slopes of `bench/memory.mjs` (0.25 → 1 MP: reinhard 98, mkl 79,
 * histogram 95 MB/MP) overstate what a large image costs. Filter: kuwahara 91, oil 102 MB/MP.
 * Paint: haeberli 29, strokes (see bench/results/memory.json). Patch: patch.synthesis 121 MB/MP.
 * Neural and diffusion methods state their own profiles (a test requires it); their families'
 * figures are only a fallback for a new network before it is measured: near the larger slopes
 * measured (AdaIN 920, CAP-VSTNet 1040 bytes per pixel; AnimeGAN's 2645 is the outlier).
 */
export const FAMILY_BYTES_PER_PIXEL: Record<Family, number> = {
  color: 60,
  filter: 110,
  paint: 160,
  patch: 160,
  neural: 1040,
  diffusion: 4000,
};

/**
 * A model file's bytes as a run holds them: the tensors read and the session's own initializers
 * while it is made. Measured on the largest network here: SD 1.5's UNet, 3.44 GB of weights,
 * peaked at 4.62 GB in all at 256² (`node bench/unet.mjs --child --size 256 --runs 0`, its
 * activations and attention included), so 1.3 is an upper bound for it.
 */
export const WEIGHTS_LOADED_FACTOR = 1.3;

/** Decoding holds sharp's 8-bit (or 16-bit) interleaved buffer and our planar float copy at once. */
const DECODE_BYTES_PER_PIXEL = 15;
/** Larger inputs are shrunk to twice the working size while they decode (stylize.ts). */
const DECODE_SHRINK_FACTOR = 2;
/** Each style image, once decoded and resized, is held as planar float RGB (and a Lab copy at most). */
const STYLE_BYTES_PER_PIXEL = 24;
/** Node, sharp and the method's code, before any pixel. */
const FIXED_BYTES = 150 * 2 ** 20;

export const MAX_DEFAULT_BUDGET = 8 * 2 ** 30;

export function defaultMemoryBudget(): number {
  const v = process.env.ATELIER_MAX_MEMORY;
  if (v !== undefined && v !== '') return parseMemorySize(v, 'ATELIER_MAX_MEMORY');
  return Math.min(MAX_DEFAULT_BUDGET, Math.floor(totalmem() / 2));
}

/** `4G`, `512M`, `2.5GiB`, or a number of bytes. */
export function parseMemorySize(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  const n = m ? Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase()) : NaN;
  if (!m || !Number.isFinite(n) || n < 64 * 2 ** 20) {
    throw new AtelierError('E_PARAM', `${what} must be a memory size of at least 64M`, {
      expected: 'a size such as 512M, 4G or 2.5G (binary units)',
      received: JSON.stringify(text),
    });
  }
  return Math.floor(n);
}

export interface RunSizes {
  content: { width: number; height: number };
  styles: { width: number; height: number }[];
  /** Other decoded inputs (masks, extra images) at their stored size. */
  others: { width: number; height: number }[];
  /** Whether the content arrives encoded (a file, bytes) and is decoded here. */
  decoded: boolean;
}

export interface MemoryEstimate {
  bytes: number;
  bytesPerPixel: number;
  workingPixels: number;
  /** Pixels the method works on at once (a tile, or its own working size). */
  pixelsAtOnce: number;
  /** The method's fixed part: its load (runtime, sessions) and its weights as loaded. */
  loadBytes: number;
  /** The weights these params name are not there: the run will stop on that, not on memory. */
  weightsMissing: boolean;
}

export function estimateRunMemory(def: AnyMethod, sizes: RunSizes, maxSize: number | undefined, params: Record<string, unknown> = {}): MemoryEstimate {
  const profile = def.memory;
  const stated = profile?.bytesPerPixel;
  const bytesPerPixel = Math.round((typeof stated === 'function' ? stated(params) : stated) ?? FAMILY_BYTES_PER_PIXEL[def.family]);
  const pixels = (s: { width: number; height: number }) => s.width * s.height;
  const working = (s: { width: number; height: number }) => pixels(fitWithin(s.width, s.height, maxSize));
  const workingPixels = working(sizes.content);
  const pixelsAtOnce = profile?.pixelsAtOnce?.(params, workingPixels) ?? workingPixels;
  const weights = profile?.weightBytes ? profile.weightBytes(params, { styles: sizes.styles.length }) : 0;
  const loadBytes = Math.round((profile?.loadBytes ?? 0) + WEIGHTS_LOADED_FACTOR * (weights ?? 0));
  // What is decoded: the image itself, or (encoded, with maxSize) at most twice the working size.
  const held = (s: { width: number; height: number }) => (sizes.decoded && maxSize !== undefined ? pixels(fitWithin(s.width, s.height, DECODE_SHRINK_FACTOR * maxSize)) : pixels(s));
  const decode = sizes.decoded ? DECODE_BYTES_PER_PIXEL * Math.max(held(sizes.content), ...sizes.styles.map(held), 0) : 0;
  const styles = sizes.styles.reduce((a, s) => a + STYLE_BYTES_PER_PIXEL * working(s), 0);
  const others = sizes.others.reduce((a, s) => a + 12 * pixels(s), 0);
  // The decoded content stays alive beside the working copy when maxSize shrinks it further.
  const original = 12 * held(sizes.content);
  const shrunk = workingPixels < held(sizes.content);
  const fixed = FIXED_BYTES + loadBytes + decode + styles + others;
  // Whole-image buffers beside the tiles only when it is tiled: a one-piece run's are in its slope.
  const tiled = pixelsAtOnce < workingPixels;
  const whole = (tiled ? (profile?.wholeBytesPerPixel ?? 0) * workingPixels : 0) + (profile?.extraBytes?.(params, workingPixels) ?? 0);
  return { bytes: fixed + (shrunk ? original : 0) + bytesPerPixel * pixelsAtOnce + whole, bytesPerPixel, workingPixels, pixelsAtOnce, loadBytes, weightsMissing: weights === undefined };
}

export function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${Math.ceil(bytes / 2 ** 20)} MiB`;
}

/** Refuse a run whose estimate exceeds `budget`, saying what would fit. */
export function checkMemoryBudget(def: AnyMethod, sizes: RunSizes, maxSize: number | undefined, budget: number, flagStyle: boolean, params: Record<string, unknown> = {}): MemoryEstimate {
  const estimate = estimateRunMemory(def, sizes, maxSize, params);
  // Missing weights: the run stops on that first, with the commands that install them.
  if (estimate.bytes <= budget || estimate.weightsMissing) return estimate;
  // The largest working side (a multiple of 64) at which the same run fits.
  const { width, height } = sizes.content;
  let side = Math.floor(Math.min(maxSize ?? Infinity, Math.max(width, height)) / 64) * 64;
  while (side >= 64 && estimateRunMemory(def, sizes, side, params).bytes > budget) side -= 64;
  // And the largest value (a multiple of 64) of the param that sets what is worked on at once.
  const sizeParam = def.memory?.sizeParam;
  let paramValue = typeof params[sizeParam ?? ''] === 'number' ? Math.floor((params[sizeParam!] as number) / 64) * 64 : 0;
  while (paramValue >= 64 && estimateRunMemory(def, sizes, maxSize, { ...params, [sizeParam!]: paramValue }).bytes > budget) paramValue -= 64;
  const name = (key: string) => (flagStyle ? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : key);
  const fixes = [
    ...(side >= 64 ? [`work at a smaller size (${flagStyle ? `--max-size ${side}` : `maxSize: ${side}`})`] : []),
    ...(paramValue >= 64 ? [`lower ${name(sizeParam!)} to ${paramValue} (less worked on at once)`] : []),
  ];
  const budgetFlag = flagStyle ? `--max-memory ${Math.ceil(estimate.bytes / 2 ** 30)}G` : `a memory budget of ${Math.ceil(estimate.bytes / 2 ** 30)} GiB (ATELIER_MAX_MEMORY)`;
  const atOnce = estimate.pixelsAtOnce !== estimate.workingPixels ? ` (${(estimate.pixelsAtOnce / 1e6).toFixed(1)} MP at once)` : '';
  const load = estimate.loadBytes > 0 ? `, ${formatBytes(estimate.loadBytes)} for its weights and sessions` : '';
  const allow = `allow more memory (${budgetFlag}) if the machine has it`;
  throw new AtelierError('E_TOO_LARGE', `${def.id} would need about ${formatBytes(estimate.bytes)} for a ${width}×${height} content image`, {
    expected: `at most ${formatBytes(budget)} (the memory budget)`,
    received: `an estimate of ${formatBytes(estimate.bytes)}: ${estimate.bytesPerPixel} bytes per pixel of the ${(estimate.workingPixels / 1e6).toFixed(1)} MP working image${atOnce}${load}, plus decoding and the style`,
    hint:
      fixes.length > 0
        ? `${fixes.join(', or ')}; or ${allow}`
        : `${allow}${estimate.loadBytes > budget / 2 ? '; the weights alone take most of the budget, so a smaller image does not help' : ''}`,
  });
}
