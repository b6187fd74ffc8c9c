import { z } from 'zod';
import { Image } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import { kuwaharaFilter, prepareKuwaharaFilter, type KuwaharaOptions } from './anisotropic-kuwahara.js';
import { pixelsFor } from '../../imaging/relative-size.js';
import { mapStripsParallel } from '../../imaging/strip-pool.js';
import { applyColorShift, colorStatsShift, type ColorShift } from '../../imaging/style-color.js';
import { styledSize, styleScale, styleSizedParam } from '../../imaging/style-scale.js';
import { orientationField } from '../../imaging/structure-tensor.js';

/** Default radius, % of the long side (a style image scales it). */
const RADIUS = 0.6;
/**
 * The smallest radius the filter runs at, in pixels. Below about 1.5 px the tap grid has a single
 * ring (`anisotropic-kuwahara.ts` takes round(radius) rings), so the diagonal sectors hold only the
 * centre pixel, have no spread, and win: the output is the input. 2 px is the classic Kuwahara
 * window (5 × 5, four 3 × 3 quadrants), so the default filters even a 192 px thumbnail, where
 * 0.6 % of the long side is 1.15 px.
 */
const MIN_RADIUS_PX = 2;

/**
 * Kuwahara filtering as a painterly abstraction: anisotropic (Kyprianidis et al. 2009), whose
 * sectors follow the smoothed structure tensor so strokes run along edges, or the generalised
 * 8-sector isotropic filter (Papari et al. 2007). A style image, when given, lends its colour
 * statistics and, unless the radius is given, its stroke scale (`style-scale.ts`).
 */
const params = z.object({
  mode: z
    .enum(['anisotropic', 'generalised'])
    .default('anisotropic')
    .describe('anisotropic: ellipses follow the local edge direction; generalised: isotropic 8-sector discs'),
  radius: styleSizedParam(RADIUS, 0.05, 5, 'Filter radius, % of the image long side, at least 2 px'),
  sectors: z.number().int().min(4).max(16).default(8).describe('Number of sectors around each pixel'),
  sharpness: z.number().min(1).max(20).default(8).describe('How strongly the most uniform sector wins (q)'),
  eccentricity: z
    .number()
    .min(0.1)
    .max(10)
    .default(1)
    .describe('Ellipse tuning α of the anisotropic mode: small values stretch along edges, large ones are round'),
  tensorSmoothing: z
    .number()
    .min(0.01)
    .max(3)
    .default(0.2)
    .describe('Smoothing of the structure tensor, % of the long side (anisotropic mode)'),
  passes: z.number().int().min(1).max(4).default(1).describe('Times the filter is applied'),
  styleAmount: z.number().min(0).max(1).default(1).describe("How much of the style image's colour statistics to take (when a style is given)"),
});

export const kuwahara = defineMethod({
  id: 'filter.kuwahara',
  family: 'filter',
  title: 'Kuwahara (anisotropic / generalised)',
  summary: 'Painterly smoothing that keeps edges: anisotropic Kuwahara along the structure tensor, or generalised 8-sector',
  reference: 'Kyprianidis, Kang & Döllner, Image and Video Abstraction by Anisotropic Kuwahara Filtering, CGF 2009',
  inputs: { style: 'optional' },
  params,
  advanced: ['sectors', 'sharpness', 'eccentricity', 'tensorSmoothing'],
  presets: { 'Painterly': { radius: 0.6, passes: 1 }, 'Flat & bold': { radius: 1.2, passes: 2 }, 'Fine detail': { radius: 0.25 } },
  async run(ctx, { content, style }, p) {
    const scale = styleScale(style);
    const radius = pixelsFor(styledSize(p.radius, RADIUS, scale), content.width, content.height, MIN_RADIUS_PX);
    const tensorSigma = pixelsFor(p.tensorSmoothing, content.width, content.height);
    const options: KuwaharaTileOptions = {
      anisotropic: p.mode === 'anisotropic',
      passes: p.passes,
      tensorSigma,
      kernel: { radius, sectors: p.sectors, sharpness: p.sharpness, eccentricity: p.eccentricity },
      ...(style && p.styleAmount > 0 && { shift: colorStatsShift(content, style, p.styleAmount) }),
    };
    // Each pass reaches 2·radius (ellipse) + 3σ (tensor) + 2 (Sobel) pixels.
    const margin = p.passes * (2 * radius + 3 * tensorSigma + 2);
    const image = await mapStripsParallel(content, margin, 3, { module: import.meta.url, fn: 'kuwaharaTile', warm: 'kuwaharaWarm', options }, kuwaharaTile, ctx);
    return { image, meta: { radiusPx: radius, ...(scale && { styleScale: scale }) } };
  },
});

export interface KuwaharaTileOptions {
  anisotropic: boolean;
  passes: number;
  tensorSigma: number;
  kernel: KuwaharaOptions;
  shift?: ColorShift;
}

/** The filter's one-off setup on a thread (its WebAssembly kernel compiled), before the first strip. */
export function kuwaharaWarm(o: KuwaharaTileOptions): void {
  prepareKuwaharaFilter(o.kernel);
}

/** One strip of the filter (also run on worker threads). */
export function kuwaharaTile(tile: Image, _top: number, o: KuwaharaTileOptions): Image {
  let planes = [tile.plane(0), tile.plane(1), tile.plane(2)];
  for (let k = 0; k < o.passes; k++) {
    const field = o.anisotropic ? orientationField(planes, tile.width, tile.height, o.tensorSigma) : undefined;
    planes = kuwaharaFilter(planes, tile.width, tile.height, field, o.kernel);
  }
  const res = Image.fromPlanes(tile.width, tile.height, planes);
  return o.shift ? applyColorShift(res, o.shift) : res;
}
