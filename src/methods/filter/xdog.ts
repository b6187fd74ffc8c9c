import { z } from 'zod';
import { Image } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import { gradientProfileBlur, lineIntegral } from '../../imaging/edge-tangent-flow.js';
import { gaussianBlur } from '../../imaging/gaussian.js';
import { hatchCoverage, inkAndPaper } from './ink.js';
import { pixelsFor } from '../../imaging/relative-size.js';
import { mapStripsParallel } from '../../imaging/strip-pool.js';
import { styledSize, styleScale, styleSizedParam } from '../../imaging/style-scale.js';
import { orientationField } from '../../imaging/structure-tensor.js';

/** Default sizes, % of the long side (a style image scales them). */
const SIZES = { flowSmoothing: 0.3, hatchSpacing: 0.6 };

/**
 * eXtended difference of Gaussians (Winnemöller, Kyprianidis & Olsen 2012) computed along the
 * edge flow (the flow-based DoG of Kang et al. 2007): the sharpened image S = (1+p)·Gσ − p·Gkσ
 * across the edge, smoothed along it, then the soft threshold T = 1 if S ≥ ε else 1 + tanh(φ(S−ε)).
 * `lines` thresholds at 0 (ink outlines only), `tone` at ε (ink fills dark areas), `hatch` draws
 * the outlines over cross-hatching whose density follows the tone. A style image lends its darkest
 * and lightest dominant colours as ink and paper and, for the sizes not given, its stroke scale
 * (`style-scale.ts`).
 */
const params = z.object({
  mode: z.enum(['lines', 'tone', 'hatch']).default('lines').describe('lines: outlines; tone: outlines and dark fills; hatch: outlines over cross-hatching'),
  sigma: z.number().min(0.02).max(2).default(0.1).describe('Edge scale σ, % of the long side'),
  k: z.number().min(1.1).max(5).default(1.6).describe('Ratio of the wide to the narrow Gaussian'),
  sharpen: z.number().min(0).max(100).default(20).describe('Sharpening p of the XDoG'),
  threshold: z.number().min(0).max(1).default(0.45).describe('Tone threshold ε (tone mode): darker areas turn to ink'),
  steepness: z.number().min(0.5).max(200).default(12).describe('Steepness φ of the soft threshold: high values give crisp ink'),
  flowSmoothing: styleSizedParam(SIZES.flowSmoothing, 0, 3, 'Smoothing along the edge flow (the length of the line strokes), % of the long side (0 = plain DoG)'),
  tensorSmoothing: z.number().min(0.01).max(3).default(0.3).describe('Smoothing of the structure tensor, % of the long side'),
  hatchSpacing: styleSizedParam(SIZES.hatchSpacing, 0.1, 5, 'Distance between hatching lines, % of the long side (hatch mode)'),
  hatchLevels: z.number().int().min(1).max(4).default(3).describe('Number of hatching layers: darker tones get more crossing layers (hatch mode)'),
});

export const xdog = defineMethod({
  id: 'filter.xdog',
  family: 'filter',
  title: 'XDoG ink drawing (flow-based)',
  summary: 'Ink outlines, tonal fills or cross-hatching from an extended difference of Gaussians along the edge flow',
  reference: 'Winnemöller, Kyprianidis & Olsen, XDoG: An eXtended difference-of-Gaussians compendium, C&G 2012',
  inputs: { style: 'optional' },
  params,
  advanced: ['k', 'sharpen', 'steepness', 'flowSmoothing', 'tensorSmoothing'],
  presets: { 'Ink lines': { mode: 'lines' }, 'Toned': { mode: 'tone' }, 'Cross-hatch': { mode: 'hatch', hatchLevels: 3 } },
  async run(ctx, { content, style }, p) {
    const { width, height } = content;
    const scale = styleScale(style);
    const o: XdogTileOptions = {
      mode: p.mode,
      sigma: pixelsFor(p.sigma, width, height, 0.5),
      k: p.k,
      p: p.sharpen,
      eps: p.mode === 'tone' ? p.threshold : 0,
      phi: p.steepness,
      sm: pixelsFor(styledSize(p.flowSmoothing, SIZES.flowSmoothing, scale), width, height, 0),
      ts: pixelsFor(p.tensorSmoothing, width, height),
      spacing: pixelsFor(styledSize(p.hatchSpacing, SIZES.hatchSpacing, scale), width, height, 2),
      levels: p.hatchLevels,
      ...inkAndPaper(style, ctx.rng),
    };
    const margin = 3 * o.ts + 3 * o.k * o.sigma + 2 * o.sm + 2 * o.spacing + 4;
    const image = await mapStripsParallel(content, margin, 3, { module: import.meta.url, fn: 'xdogTile', options: o }, xdogTile, ctx);
    return { image, meta: { flowSmoothingPx: o.sm, hatchSpacingPx: o.spacing, ...(scale && { styleScale: scale }) } };
  },
});

export interface XdogTileOptions {
  mode: 'lines' | 'tone' | 'hatch';
  sigma: number;
  k: number;
  p: number;
  eps: number;
  phi: number;
  sm: number;
  ts: number;
  spacing: number;
  levels: number;
  ink: number[];
  paper: number[];
}

/** One strip of the filter (also run on worker threads). */
export function xdogTile(tile: Image, top: number, o: XdogTileOptions): Image {
  const drawing = xdogPlane(tile, o);
  const w = tile.width;
  const n = tile.pixels;
  const value = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const s = drawing.sharpened[i]!;
    value[i] = s >= o.eps ? 1 : 1 + Math.tanh(o.phi * (s - o.eps));
  }
  if (o.mode === 'hatch') {
    const tone = gaussianBlur(drawing.lum, w, tile.height, o.spacing);
    const angles = [Math.PI / 4, -Math.PI / 4, 0, Math.PI / 2];
    for (let i = 0; i < n; i++) {
      const x = i % w;
      const y = (i - x) / w + top;
      let light = 1;
      for (let l = 0; l < o.levels; l++) {
        // Layer l starts below tone 0.6·(levels − l)/levels, fading in over 0.1.
        const start = (0.6 * (o.levels - l)) / o.levels;
        const amount = Math.min(1, Math.max(0, (start - tone[i]!) / 0.1));
        if (amount > 0) light *= 1 - amount * hatchCoverage(x, y, angles[l]!, o.spacing, Math.max(1, o.spacing * 0.25));
      }
      value[i] = value[i]! * light;
    }
  }
  const res = new Image(w, tile.height, 3);
  for (let c = 0; c < 3; c++) {
    const pl = res.plane(c);
    for (let i = 0; i < n; i++) pl[i] = o.ink[c]! + (o.paper[c]! - o.ink[c]!) * value[i]!;
  }
  return res;
}

/** Luma and the flow-smoothed sharpened image S of a tile. */
function xdogPlane(tile: Image, o: { sigma: number; k: number; p: number; sm: number; ts: number }): { lum: Float32Array; sharpened: Float32Array } {
  const [r, g, b] = [tile.plane(0), tile.plane(1), tile.plane(2)];
  const lum = new Float32Array(tile.pixels);
  for (let i = 0; i < lum.length; i++) lum[i] = 0.299 * r[i]! + 0.587 * g[i]! + 0.114 * b[i]!;
  const field = orientationField([r, g, b], tile.width, tile.height, o.ts);
  const [narrow, wide] = gradientProfileBlur(lum, field, o.sigma, o.k);
  for (let i = 0; i < narrow.length; i++) narrow[i] = (1 + o.p) * narrow[i]! - o.p * wide[i]!;
  const sharpened = o.sm > 0.3 ? lineIntegral(narrow, field, o.sm) : narrow;
  return { lum, sharpened };
}
