import { z } from 'zod';
import { labToRgb, rgbToLab } from '../../core/color.js';
import { Image } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import { domainTransformSmoothPaced, domainTransformSweeps } from '../../imaging/domain-transform.js';
import { gaussianBlur } from '../../imaging/gaussian.js';
import { pixelsFor } from '../../imaging/relative-size.js';
import { mapStripsParallel } from '../../imaging/strip-pool.js';
import { dominantColors } from '../../imaging/style-color.js';

/**
 * Real-time video abstraction (Winnemöller, Olsen & Gooch 2006): iterated edge-preserving
 * smoothing in CIELab (here the domain transform, a fast bilateral stand-in), soft quantisation
 * of the lightness into bands, and DoG edges drawn on top. A style image lends its palette: each
 * pixel's chroma snaps to the nearest of the style's dominant colours.
 */
const params = z.object({
  smoothing: z.number().min(0.1).max(20).default(3).describe('Spatial extent of the abstraction, % of the long side'),
  colorRange: z.number().min(0.01).max(2).default(0.25).describe('Colour difference (Lab/100) above which smoothing stops at an edge'),
  iterations: z.number().int().min(1).max(6).default(3).describe('Iterations of the edge-preserving smoothing'),
  levels: z.number().int().min(2).max(32).default(8).describe('Lightness bands of the quantisation'),
  bandSharpness: z.number().min(0.5).max(50).default(8).describe('How abruptly lightness steps from band to band'),
  edgeWidth: z.number().min(0).max(2).default(0.1).describe('Edge scale σ, % of the long side (0: no edges)'),
  edgeSteepness: z.number().min(1).max(500).default(60).describe('Steepness of the edge threshold: high values give crisp black lines'),
  paletteSize: z.number().int().min(2).max(32).default(8).describe('Colours taken from the style image (when one is given)'),
});

export const toon = defineMethod({
  id: 'filter.toon',
  family: 'filter',
  title: 'Toon abstraction',
  summary: 'Cartoon look: edge-preserving abstraction, banded lightness and DoG outlines',
  reference: 'Winnemöller, Olsen & Gooch, Real-Time Video Abstraction, SIGGRAPH 2006',
  inputs: { style: 'optional' },
  params,
  advanced: ['colorRange', 'iterations', 'bandSharpness', 'edgeSteepness'],
  presets: { 'Cartoon': { levels: 8, edgeWidth: 0.1 }, 'Posterised': { levels: 4, edgeWidth: 0 }, 'Soft comic': { smoothing: 6, levels: 12 } },
  async run(ctx, { content, style }, p) {
    const { width, height } = content;
    const o: ToonTileOptions = {
      sigmaS: pixelsFor(p.smoothing, width, height, 1),
      sigmaR: p.colorRange,
      iterations: p.iterations,
      sigmaE: pixelsFor(p.edgeWidth, width, height, 0),
      edgeSteepness: p.edgeSteepness,
      levels: p.levels,
      bandSharpness: p.bandSharpness,
      ...(style && { palette: Array.from(paletteLab(dominantColors(style, p.paletteSize, ctx.rng))) }),
    };
    // The abstraction, whose reach is unbounded, runs on the whole image in Lab/100, in place;
    // the local rest (edges, bands, palette) runs in strips on worker threads.
    const lab = rgbToLab(content);
    for (let i = 0; i < lab.data.length; i++) lab.data[i]! /= 100;
    // The palette and the Lab copy are made: the measured work starts here (core/time-left.ts).
    ctx.progress.step(0, 1);
    // The stages weighed by their cost per pixel: a sweep of the abstraction costs about 1/40 of
    // the strips (measured at 512² and 1024², with and without a palette: the abstraction's three
    // iterations are 36–52 % of the time, so about 46 %).
    const sweeps = SWEEP_COST * domainTransformSweeps(o.iterations);
    const abstraction = sweeps / (sweeps + 1);
    await domainTransformSmoothPaced([lab.plane(0), lab.plane(1), lab.plane(2)], width, height, o.sigmaS, o.sigmaR, o.iterations, { signal: ctx.signal, progress: ctx.progress.sub(0, abstraction) });
    const margin = 3 * 1.6 * o.sigmaE + 2;
    return mapStripsParallel(lab, margin, 3, { module: import.meta.url, fn: 'toonTile', options: o }, toonTile, { ...ctx, progress: ctx.progress.sub(abstraction, 1) });
  },
});

/** One sweep of the abstraction over the image, as a share of the strips' cost per pixel. */
const SWEEP_COST = 1 / 40;

export interface ToonTileOptions {
  sigmaS: number;
  sigmaR: number;
  iterations: number;
  sigmaE: number;
  edgeSteepness: number;
  levels: number;
  bandSharpness: number;
  /** Lab triples of the style's palette. */
  palette?: number[];
}

/** One strip of the filter on the abstracted image in Lab/100 (also run on worker threads). */
export function toonTile(tile: Image, _top: number, o: ToonTileOptions): Image {
  const w = tile.width;
  const h = tile.height;
  const n = tile.pixels;
  const [L, A, B] = [tile.plane(0), tile.plane(1), tile.plane(2)];
  let edges: Float32Array | undefined;
  if (o.sigmaE > 0.3) {
    const g1 = gaussianBlur(L, w, h, o.sigmaE);
    const g2 = gaussianBlur(L, w, h, 1.6 * o.sigmaE);
    edges = g1;
    for (let i = 0; i < n; i++) {
      const d = g1[i]! - 0.98 * g2[i]!;
      edges[i] = d > 0 ? 1 : 1 + Math.tanh(o.edgeSteepness * d);
    }
  }
  const res = new Image(w, h, 3);
  const [oL, oA, oB] = [res.plane(0), res.plane(1), res.plane(2)];
  const dq = 1 / o.levels;
  const palette = o.palette;
  for (let i = 0; i < n; i++) {
    const l = L[i]!;
    const nearest = (Math.floor(l / dq) + 0.5) * dq;
    let q = nearest + (dq / 2) * Math.tanh(o.bandSharpness * o.levels * (l - nearest));
    let a = A[i]!;
    let b = B[i]!;
    if (palette) {
      const k = nearestLab(palette, l * 100, a * 100, b * 100);
      a = palette[k * 3 + 1]! / 100;
      b = palette[k * 3 + 2]! / 100;
    }
    const e = edges ? edges[i]! : 1;
    q *= e;
    oL[i] = q * 100;
    oA[i] = a * 100 * e;
    oB[i] = b * 100 * e;
  }
  return labToRgb(res);
}

function paletteLab(rgb: Float32Array): Float32Array {
  const k = rgb.length / 3;
  const img = new Image(k, 1, 3);
  for (let c = 0; c < k; c++) for (let ch = 0; ch < 3; ch++) img.plane(ch)[c] = rgb[c * 3 + ch]!;
  const lab = rgbToLab(img);
  const out = new Float32Array(k * 3);
  for (let c = 0; c < k; c++) for (let ch = 0; ch < 3; ch++) out[c * 3 + ch] = lab.plane(ch)[c]!;
  return out;
}

function nearestLab(pal: ArrayLike<number>, l: number, a: number, b: number): number {
  let best = 0;
  let bd = Infinity;
  for (let c = 0; c < pal.length / 3; c++) {
    // Lightness counts less: the palette should set the hue, the bands the lightness.
    const d = 0.25 * (pal[c * 3]! - l) ** 2 + (pal[c * 3 + 1]! - a) ** 2 + (pal[c * 3 + 2]! - b) ** 2;
    if (d < bd) {
      bd = d;
      best = c;
    }
  }
  return best;
}
