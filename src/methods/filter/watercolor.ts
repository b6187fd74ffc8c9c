import { z } from 'zod';
import { Image } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import { domainTransformSmoothPaced } from '../../imaging/domain-transform.js';
import { fractalNoise, noisePlane, streakNoise } from '../../imaging/noise.js';
import { pixelsFor } from '../../imaging/relative-size.js';
import { mapStripsParallel } from '../../imaging/strip-pool.js';
import { applyColorShift, colorStatsShift, type ColorShift } from '../../imaging/style-color.js';
import { styledSize, styleScale, styleSizedParam } from '../../imaging/style-scale.js';

/** Default sizes, % of the long side (a style image scales them). */
const SIZES = { abstraction: 2, paperScale: 0.12 };

/**
 * Watercolour (Bousseau, Kaplan, Thollot & Sillion 2006, "Interactive watercolor rendering with
 * temporal coherence and abstraction"): an abstracted image is wobbled by the paper's gradient,
 * then its pigment density is modulated by turbulent flow, pigment granulation, the paper texture
 * and edge darkening, through the paper's colour model C′ = C − (C − C²)(d − 1). The paper is
 * generated: fractal grain plus fibres, embossed. A style image lends its colour statistics and,
 * for the sizes not given, its scale (`style-scale.ts`).
 */
const params = z.object({
  abstraction: styleSizedParam(SIZES.abstraction, 0.1, 20, 'Spatial extent of the colour simplification, % of the long side'),
  colorRange: z.number().min(0.01).max(2).default(0.3).describe('Colour difference above which the simplification stops at an edge'),
  wobble: z.number().min(0).max(3).default(0.25).describe('How far the paper displaces the colours, % of the long side'),
  edgeDarkening: z.number().min(0).max(5).default(1.5).describe('Pigment pooling at the edges of washes'),
  turbulence: z.number().min(0).max(2).default(0.5).describe('Low-frequency density variation (uneven washes)'),
  granulation: z.number().min(0).max(2).default(0.6).describe('High-frequency pigment granulation'),
  paper: z.number().min(0).max(2).default(0.7).describe('Strength of the paper texture'),
  paperScale: styleSizedParam(SIZES.paperScale, 0.02, 2, 'Grain size of the generated paper and pigment granulation, % of the long side'),
  styleAmount: z.number().min(0).max(1).default(1).describe("How much of the style image's colour statistics to take (when a style is given)"),
});

export const watercolor = defineMethod({
  id: 'filter.watercolor',
  family: 'filter',
  title: 'Watercolour',
  summary: 'Watercolour look: abstraction, wobbling, edge darkening, granulation and a generated paper',
  reference: 'Bousseau et al., Interactive Watercolor Rendering with Temporal Coherence and Abstraction, NPAR 2006',
  inputs: { style: 'optional' },
  params,
  advanced: ['colorRange', 'turbulence', 'paperScale'],
  presets: { 'Wash': { abstraction: 2 }, 'Loose & wet': { abstraction: 5, wobble: 0.6, edgeDarkening: 2.5 }, 'Dry, no paper': { paper: 0, granulation: 0 } },
  async run(ctx, { content, style }, p) {
    const { width, height } = content;
    const scale = styleScale(style);
    const o: WatercolorTileOptions = {
      sigmaS: pixelsFor(styledSize(p.abstraction, SIZES.abstraction, scale), width, height, 1),
      colorRange: p.colorRange,
      wob: pixelsFor(p.wobble, width, height, 0),
      grain: pixelsFor(styledSize(p.paperScale, SIZES.paperScale, scale), width, height, 0.7),
      turbScale: pixelsFor(8, width, height, 4),
      edgeDarkening: p.edgeDarkening,
      turbulence: p.turbulence,
      granulation: p.granulation,
      paper: p.paper,
      seed: ctx.seed,
      ...(style && p.styleAmount > 0 && { shift: colorStatsShift(content, style, p.styleAmount) }),
    };
    // The abstraction, whose reach is unbounded, runs on the whole image (in place on a copy);
    // wobbling, pigment and paper are local and run in strips on worker threads.
    const washes = content.clone();
    washes.alpha = undefined;
    if (o.shift) {
      // Recolour in row bands: a whole-image Lab copy would cost two more full planes sets.
      const band = Math.max(1, Math.floor((1 << 20) / width));
      for (let y = 0; y < height; y += band) {
        const rows = Math.min(band, height - y);
        const part = applyColorShift(washes.crop(0, y, width, rows), o.shift);
        for (let c = 0; c < 3; c++) washes.plane(c).set(part.plane(c), y * width);
      }
    }
    // The recolouring is done: the measured work starts here (core/time-left.ts).
    ctx.progress.step(0, 1);
    // The abstraction is 28–43 % of the time after the recolouring (one thread, 512² and 1024²,
    // with and without a style), the strips the rest.
    await domainTransformSmoothPaced([washes.plane(0), washes.plane(1), washes.plane(2)], width, height, o.sigmaS, o.colorRange, 3, { signal: ctx.signal, progress: ctx.progress.sub(0, ABSTRACTION) });
    const margin = o.wob + Math.max(1, Math.round(o.grain)) + 4;
    const out = await mapStripsParallel(washes, margin, 3, { module: import.meta.url, fn: 'watercolorTile', options: o }, watercolorTile, { ...ctx, progress: ctx.progress.sub(ABSTRACTION, 1) });
    out.alpha = content.alpha;
    return { image: out, meta: { abstractionPx: o.sigmaS, grainPx: o.grain, ...(scale && { styleScale: scale }) } };
  },
});

/** The abstraction's share of the measured work. */
const ABSTRACTION = 0.35;

export interface WatercolorTileOptions {
  sigmaS: number;
  colorRange: number;
  wob: number;
  grain: number;
  turbScale: number;
  edgeDarkening: number;
  turbulence: number;
  granulation: number;
  paper: number;
  seed: number;
  shift?: ColorShift;
}

/** One strip of the filter on the abstracted washes (also run on worker threads). */
export function watercolorTile(tile: Image, top: number, o: WatercolorTileOptions): Image {
  const w = tile.width;
  const h = tile.height;
  const n = tile.pixels;
  const abstracted = [tile.plane(0), tile.plane(1), tile.plane(2)];
  // Paper height: fine grain plus fibres (long thin streaks in random directions).
  const paperH = noisePlane(w, h, top, o.grain, 3, o.seed);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const f1 = streakNoise(x, y + top, 0.6, o.grain * 12, o.grain * 0.8, o.seed + 11);
      const f2 = streakNoise(x, y + top, 2.3, o.grain * 12, o.grain * 0.8, o.seed + 13);
      paperH[i] = 0.6 * paperH[i]! + 0.2 * f1 + 0.2 * f2;
    }
  }
  const step = Math.max(1, Math.round(o.grain));
  // Wobbling: sample the washes displaced by the paper's low-frequency gradient.
  const res = new Image(w, h, 3);
  const outP = [res.plane(0), res.plane(1), res.plane(2)];
  const wob0 = new Float32Array(n * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const ox = o.wob * (2 * fractalNoise(x, y + top, o.grain * 6, 2, o.seed + 21) - 1);
      const oy = o.wob * (2 * fractalNoise(x, y + top, o.grain * 6, 2, o.seed + 22) - 1);
      const fx = x + ox + 0.5;
      const fy = y + oy + 0.5;
      const sx = fx < 0 ? 0 : fx >= w ? w - 1 : fx | 0;
      const sy = fy < 0 ? 0 : fy >= h ? h - 1 : fy | 0;
      const j = sy * w + sx;
      for (let c = 0; c < 3; c++) wob0[c * n + i] = abstracted[c]![j]!;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      // Edge darkening: pigment gathers where the wash changes (colour gradient magnitude).
      // Differences over a size-relative step so that the dark rim scales with the image.
      const xm = y * w + (x >= step ? x - step : 0);
      const xp = y * w + (x + step < w ? x + step : w - 1);
      const ym = (y >= step ? y - step : 0) * w + x;
      const yp = (y + step < h ? y + step : h - 1) * w + x;
      let g = 0;
      for (let c = 0; c < 3; c++) {
        const q = c * n;
        g += Math.abs(wob0[q + xp]! - wob0[q + xm]!) + Math.abs(wob0[q + yp]! - wob0[q + ym]!);
      }
      const turb = fractalNoise(x, y + top, o.turbScale, 3, o.seed + 31) - 0.5;
      const gran = fractalNoise(x, y + top, o.grain * 0.7, 2, o.seed + 41) - 0.5;
      const d =
        1 +
        o.edgeDarkening * Math.min(1, g * 2) * 0.5 +
        o.turbulence * turb +
        o.granulation * gran * 0.8 +
        o.paper * (paperH[i]! - 0.5) * 0.6;
      // Emboss the paper: light from the top left.
      const hx = x < w - 1 ? paperH[i + 1]! - paperH[i]! : 0;
      const hy = y < h - 1 ? paperH[i + w]! - paperH[i]! : 0;
      const emboss = 1 - o.paper * 0.3 * (hx + hy) * o.grain;
      for (let c = 0; c < 3; c++) {
        const cv = wob0[c * n + i]!;
        outP[c]![i] = (cv - (cv - cv * cv) * (d - 1)) * emboss;
      }
    }
  }
  return res;
}
