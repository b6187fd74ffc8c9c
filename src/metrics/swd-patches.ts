import { gaussianBlurPlane } from '../imaging/gaussian.js';
import { Image, toRgb } from '../core/image.js';
import { limitSize } from '../core/resample.js';
import { Rng } from '../core/rng.js';
import { defineMetric, type MetricResult } from './metric.js';

/**
 * Sliced Wasserstein distance between the distributions of small patches of the output and of the
 * style — a weight-free measure of style likeness (texture and colour statistics together), as
 * Karras et al. 2018 (progressive GANs) use it for image statistics and Heitz et al. 2021 for
 * textures.
 *
 * Both images are first limited to 256 px on the long side (so a style is compared at the scale it
 * is usually applied), then a 3-level Gaussian pyramid is built (each level blurred σ = 1 and
 * halved). At each level 1024 RGB patches of 7×7 (147 values) are drawn at seeded random places
 * from each image, projected on 128 seeded random unit directions, and the 1-D Wasserstein-1
 * distance of each projection is the mean absolute difference of the sorted projections. The value
 * is the mean over directions and levels, ×100 for readability. Identical images give 0.
 */

export const SWD_MAX_SIDE = 256;
export const SWD_LEVELS = 3;
export const SWD_PATCH = 7;
export const SWD_SAMPLES = 1024;
export const SWD_DIRECTIONS = 128;

function pyramid(img: Image, levels: number): Image[] {
  const out = [img];
  for (let l = 1; l < levels; l++) {
    const prev = out[l - 1]!;
    if (Math.min(prev.width, prev.height) < 2 * SWD_PATCH) break;
    const w = prev.width >> 1;
    const h = prev.height >> 1;
    const next = new Image(w, h, 3);
    for (let c = 0; c < 3; c++) {
      const blurred = gaussianBlurPlane(prev.plane(c), prev.width, prev.height, 1);
      const dst = next.plane(c);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) dst[y * w + x] = blurred[2 * y * prev.width + 2 * x]!;
    }
    out.push(next);
  }
  return out;
}

/** `count` patches as rows of a (count × dim) matrix, at seeded places. */
function samplePatches(img: Image, count: number, rng: Rng): Float32Array {
  const p = SWD_PATCH;
  const dim = 3 * p * p;
  const out = new Float32Array(count * dim);
  const maxX = img.width - p;
  const maxY = img.height - p;
  for (let s = 0; s < count; s++) {
    const x0 = Math.floor(rng.next() * (maxX + 1));
    const y0 = Math.floor(rng.next() * (maxY + 1));
    let k = s * dim;
    for (let c = 0; c < 3; c++) {
      const plane = img.plane(c);
      for (let dy = 0; dy < p; dy++) for (let dx = 0; dx < p; dx++) out[k++] = plane[(y0 + dy) * img.width + x0 + dx]!;
    }
  }
  return out;
}

function directions(count: number, dim: number, rng: Rng): Float32Array {
  const d = new Float32Array(count * dim);
  for (let k = 0; k < count; k++) {
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const v = rng.normal();
      d[k * dim + j] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm);
    for (let j = 0; j < dim; j++) d[k * dim + j]! /= norm;
  }
  return d;
}

function project(patches: Float32Array, count: number, dirs: Float32Array, dir: number, dim: number): Float32Array {
  const out = new Float32Array(count);
  const off = dir * dim;
  for (let s = 0; s < count; s++) {
    let acc = 0;
    const base = s * dim;
    for (let j = 0; j < dim; j++) acc += patches[base + j]! * dirs[off + j]!;
    out[s] = acc;
  }
  return out.sort();
}

export function slicedWassersteinPatches(a: Image, b: Image, seed = 1): MetricResult {
  const pa = pyramid(limitSize(toRgb(a), SWD_MAX_SIDE), SWD_LEVELS);
  const pb = pyramid(limitSize(toRgb(b), SWD_MAX_SIDE), SWD_LEVELS);
  const levels = Math.min(pa.length, pb.length);
  const dim = 3 * SWD_PATCH * SWD_PATCH;
  const parts: Record<string, number> = {};
  let total = 0;
  for (let l = 0; l < levels; l++) {
    const rng = new Rng(seed + 7919 * l);
    const dirs = directions(SWD_DIRECTIONS, dim, rng);
    // Each image's sample places come from its own stream, so identical images draw identical patches.
    const xa = samplePatches(pa[l]!, SWD_SAMPLES, new Rng(seed * 31 + l));
    const xb = samplePatches(pb[l]!, SWD_SAMPLES, new Rng(seed * 31 + l));
    let sum = 0;
    for (let k = 0; k < SWD_DIRECTIONS; k++) {
      const u = project(xa, SWD_SAMPLES, dirs, k, dim);
      const v = project(xb, SWD_SAMPLES, dirs, k, dim);
      let d = 0;
      for (let s = 0; s < SWD_SAMPLES; s++) d += Math.abs(u[s]! - v[s]!);
      sum += d / SWD_SAMPLES;
    }
    const level = (100 * sum) / SWD_DIRECTIONS;
    parts[`level${l}`] = level;
    total += level;
  }
  return { value: total / levels, parts };
}

export const swdPatches = defineMetric({
  id: 'swd-patches',
  title: 'Sliced Wasserstein distance of patches',
  summary: 'Weight-free style likeness: sliced Wasserstein distance between 7×7 patch distributions of output and style over 3 scales',
  reference: 'Rabin et al. 2011 (sliced Wasserstein); Karras et al. 2018 (ICLR, patch SWD); Heitz et al. 2021 (CVPR)',
  higherIsBetter: false,
  aspect: 'style',
  needs: ['style'],
  compute: ({ output, style }, ctx) => slicedWassersteinPatches(output, style!, ctx.seed),
});
