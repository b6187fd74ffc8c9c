import { z } from 'zod';
import { Image } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import { kuwaharaFilter } from './anisotropic-kuwahara.js';
import { lineIntegral } from '../../imaging/edge-tangent-flow.js';
import { noisePlane } from '../../imaging/noise.js';
import { pixelsFor } from '../../imaging/relative-size.js';
import { mapStripsParallel } from '../../imaging/strip-pool.js';
import { applyColorShift, colorStatsShift, type ColorShift } from '../../imaging/style-color.js';
import { styledSize, styleScale, styleSizedParam } from '../../imaging/style-scale.js';
import { orientationField } from '../../imaging/structure-tensor.js';

/** Default sizes, % of the long side (a style image scales them). */
const SIZES = { radius: 0.8, brushLength: 1.2, bristle: 0.15 };

/**
 * Oil paint: anisotropic Kuwahara flattens the colours into strokes that follow the edges, then a
 * brush texture (bristle noise smeared along the same flow, Cabral & Leedom's line integral
 * convolution) is used as a height field and relit, giving the impasto its light and shade
 * (in the spirit of Hertzmann 2002, "Fast paint texture"). A style image lends its colours and,
 * for the sizes not given, its stroke scale (`style-scale.ts`).
 */
const params = z.object({
  radius: styleSizedParam(SIZES.radius, 0.05, 5, 'Kuwahara radius, % of the long side'),
  brushLength: styleSizedParam(SIZES.brushLength, 0.1, 10, 'Length of the brush marks, % of the long side'),
  bristle: styleSizedParam(SIZES.bristle, 0.02, 2, 'Width of the bristle grooves, % of the long side'),
  relief: z.number().min(0).max(3).default(0.6).describe('Height of the paint relief (0: flat, no texture)'),
  gloss: z.number().min(0).max(1).default(0.25).describe('Strength of the specular highlights'),
  lightAngle: z.number().min(0).max(360).default(135).describe('Direction the light comes from, degrees (0 = right, 90 = top)'),
  sharpness: z.number().min(1).max(20).default(8).describe('Kuwahara sharpness q'),
  styleAmount: z.number().min(0).max(1).default(1).describe("How much of the style image's colour statistics to take (when a style is given)"),
});

export const oil = defineMethod({
  id: 'filter.oil',
  family: 'filter',
  title: 'Oil paint',
  summary: 'Oil-paint look: flow-aligned Kuwahara colour with a relit, embossed brush texture',
  reference: 'Kyprianidis et al. 2009 (anisotropic Kuwahara); Hertzmann, Fast Paint Texture, NPAR 2002',
  inputs: { style: 'optional' },
  params,
  advanced: ['bristle', 'gloss', 'lightAngle', 'sharpness'],
  presets: { 'Oil sketch': { radius: 0.8, relief: 0.6 }, 'Impasto': { radius: 1.2, relief: 1.6, gloss: 0.5 }, 'Flat paint': { relief: 0 } },
  async run(ctx, { content, style }, p) {
    const { width, height } = content;
    const la = (p.lightAngle * Math.PI) / 180;
    const scale = styleScale(style);
    const o: OilTileOptions = {
      radius: pixelsFor(styledSize(p.radius, SIZES.radius, scale), width, height, 1),
      tensorSigma: pixelsFor(0.25, width, height),
      length: pixelsFor(styledSize(p.brushLength, SIZES.brushLength, scale), width, height, 1),
      bristle: pixelsFor(styledSize(p.bristle, SIZES.bristle, scale), width, height, 0.7),
      relief: p.relief,
      gloss: p.gloss,
      sharpness: p.sharpness,
      // Light from the chosen side and 45° up.
      light: [Math.cos(la) * Math.SQRT1_2, -Math.sin(la) * Math.SQRT1_2, Math.SQRT1_2],
      seed: ctx.seed,
      ...(style && p.styleAmount > 0 && { shift: colorStatsShift(content, style, p.styleAmount) }),
    };
    const margin = 2 * o.radius + 3 * o.tensorSigma + 2 * o.length + 4;
    const image = await mapStripsParallel(content, margin, 3, { module: import.meta.url, fn: 'oilTile', options: o }, oilTile, ctx);
    return { image, meta: { radiusPx: o.radius, brushLengthPx: o.length, bristlePx: o.bristle, ...(scale && { styleScale: scale }) } };
  },
});

export interface OilTileOptions {
  radius: number;
  tensorSigma: number;
  length: number;
  bristle: number;
  relief: number;
  gloss: number;
  sharpness: number;
  light: number[];
  seed: number;
  shift?: ColorShift;
}

/** One strip of the filter (also run on worker threads). */
export function oilTile(tile: Image, top: number, o: OilTileOptions): Image {
  const w = tile.width;
  const h = tile.height;
  const n = tile.pixels;
  const planes = [tile.plane(0), tile.plane(1), tile.plane(2)];
  const field = orientationField(planes, w, h, o.tensorSigma);
  // A coarser tap grid than filter.kuwahara's: the brush texture hides the difference.
  const color = kuwaharaFilter(planes, w, h, field, { radius: o.radius, sectors: 8, sharpness: o.sharpness, eccentricity: 1, grid: 3 });
  const res = Image.fromPlanes(w, h, color);
  const painted = o.shift ? applyColorShift(res, o.shift) : res;
  if (o.relief <= 0) return painted;
  // Height field: bristle noise smeared along the flow (the same field the colours followed).
  const height = lineIntegral(noisePlane(w, h, top, o.bristle, 2, o.seed), field, o.length / 2);
  // Slopes of the height field scale as 1/bristle; multiplying by it keeps the relief size-free.
  const k = 2.5 * o.relief * o.bristle;
  const [lx, ly, lz] = o.light as [number, number, number];
  const hn = Math.hypot(lx, ly, lz + 1);
  const [hx, hy, hz] = [lx / hn, ly / hn, (lz + 1) / hn];
  const shade = new Float32Array(n);
  const spec = new Float32Array(n);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const gx = (height[y * w + (x < w - 1 ? x + 1 : x)]! - height[y * w + (x > 0 ? x - 1 : x)]!) * k;
      const gy = (height[(y < h - 1 ? y + 1 : y) * w + x]! - height[(y > 0 ? y - 1 : y) * w + x]!) * k;
      const nl = Math.sqrt(gx * gx + gy * gy + 1);
      const nx = -gx / nl;
      const ny = -gy / nl;
      const nz = 1 / nl;
      // Shade relative to the flat surface's, so flat paint keeps its colour.
      shade[i] = (nx * lx + ny * ly + nz * lz) / lz;
      // Specular (n·h)^40 by squaring: x^40 = x^32 · x^8.
      const c1 = Math.max(0, nx * hx + ny * hy + nz * hz);
      const c2 = c1 * c1;
      const c8 = c2 * c2 * c2 * c2;
      const c32 = c8 * c8 * c8 * c8;
      spec[i] = c32 * c8;
    }
  }
  for (let c = 0; c < 3; c++) {
    const pl = painted.plane(c);
    for (let i = 0; i < n; i++) pl[i] = pl[i]! * shade[i]! + o.gloss * spec[i]!;
  }
  return painted;
}
