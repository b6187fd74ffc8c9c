import { z } from 'zod';
import { labToRgb, rgbToLab } from '../../core/color.js';
import { Image } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import { gradientProfileBlur, lineIntegral } from '../../imaging/edge-tangent-flow.js';
import { gaussianBlur } from '../../imaging/gaussian.js';
import { inkAndPaper } from './ink.js';
import { streakNoise, valueNoise } from '../../imaging/noise.js';
import { pixelsFor } from '../../imaging/relative-size.js';
import { mapStripsParallel } from '../../imaging/strip-pool.js';
import { styledSize, styleScale, styleSizedParam } from '../../imaging/style-scale.js';
import { orientationField } from '../../imaging/structure-tensor.js';

/** Default sizes, % of the long side (a style image scales them). */
const SIZES = { strokeLength: 1.5, strokeWidth: 0.12 };

/**
 * Pencil sketch, greyscale or coloured: soft flow-based DoG contours (Kang et al. 2007) over tone
 * shading made of directional graphite strokes whose coverage grows with darkness (after Lu, Xu &
 * Jia 2012, "Combining sketch and tone for pencil drawing production"), on a grainy paper.
 * `colour` keeps the content's chroma under the graphite lightness. A style image lends the
 * graphite and paper colours (its darkest and lightest dominant colours) and, for the stroke sizes
 * not given, its scale (`style-scale.ts`).
 */
const params = z.object({
  mode: z.enum(['grey', 'colour']).default('grey').describe('grey: graphite only; colour: coloured pencil over the content colours'),
  lineWidth: z.number().min(0.02).max(2).default(0.12).describe('Contour scale σ, % of the long side'),
  lineStrength: z.number().min(0).max(50).default(8).describe('Darkness of the contours'),
  strokeLength: styleSizedParam(SIZES.strokeLength, 0.1, 10, 'Length of the shading strokes, % of the long side'),
  strokeWidth: styleSizedParam(SIZES.strokeWidth, 0.02, 2, 'Width of the shading strokes, % of the long side'),
  strokeAngle: z.number().min(0).max(180).default(45).describe('Direction of the shading strokes, degrees'),
  shading: z.number().min(0).max(2).default(1).describe('How much tone the strokes lay down'),
  colorAmount: z.number().min(0).max(1.5).default(0.8).describe('Saturation of the colour (colour mode)'),
});

export const pencil = defineMethod({
  id: 'filter.pencil',
  family: 'filter',
  title: 'Pencil sketch',
  summary: 'Graphite or coloured-pencil drawing: soft flow contours over directional stroke shading on paper',
  reference: 'Lu, Xu & Jia, Combining Sketch and Tone for Pencil Drawing Production, NPAR 2012; Kang et al. 2007',
  inputs: { style: 'optional' },
  params,
  advanced: ['strokeLength', 'strokeWidth', 'strokeAngle'],
  presets: { 'Graphite': { mode: 'grey' }, 'Coloured pencil': { mode: 'colour' }, 'Light sketch': { mode: 'grey', lineStrength: 4, shading: 0.5 } },
  async run(ctx, { content, style }, p) {
    const { width, height } = content;
    const scale = styleScale(style);
    const o: PencilTileOptions = {
      mode: p.mode,
      sigma: pixelsFor(p.lineWidth, width, height, 0.5),
      ts: pixelsFor(0.3, width, height),
      sm: pixelsFor(0.3, width, height, 0),
      len: pixelsFor(styledSize(p.strokeLength, SIZES.strokeLength, scale), width, height, 2),
      sw: pixelsFor(styledSize(p.strokeWidth, SIZES.strokeWidth, scale), width, height, 0.6),
      toneSigma: pixelsFor(0.2, width, height, 0),
      angle: (p.strokeAngle * Math.PI) / 180,
      lineStrength: p.lineStrength,
      shading: p.shading,
      colorAmount: p.colorAmount,
      seed: ctx.seed,
      ...inkAndPaper(style, ctx.rng),
    };
    const margin = 3 * o.ts + 5 * o.sigma + 2 * o.sm + 3 * o.toneSigma + 4;
    const image = await mapStripsParallel(content, margin, 3, { module: import.meta.url, fn: 'pencilTile', options: o }, pencilTile, ctx);
    return { image, meta: { strokeLengthPx: o.len, strokeWidthPx: o.sw, ...(scale && { styleScale: scale }) } };
  },
});

export interface PencilTileOptions {
  mode: 'grey' | 'colour';
  sigma: number;
  ts: number;
  sm: number;
  len: number;
  sw: number;
  toneSigma: number;
  angle: number;
  lineStrength: number;
  shading: number;
  colorAmount: number;
  seed: number;
  ink: number[];
  paper: number[];
}

/** One strip of the filter (also run on worker threads). */
export function pencilTile(tile: Image, top: number, o: PencilTileOptions): Image {
  const w = tile.width;
  const h = tile.height;
  const n = tile.pixels;
  const [r, g, b] = [tile.plane(0), tile.plane(1), tile.plane(2)];
  const lum = new Float32Array(n);
  for (let i = 0; i < n; i++) lum[i] = 0.299 * r[i]! + 0.587 * g[i]! + 0.114 * b[i]!;
  const field = orientationField([r, g, b], w, h, o.ts);
  const [g1, g2] = gradientProfileBlur(lum, field, o.sigma, 1.6);
  for (let i = 0; i < n; i++) g1[i] = g1[i]! - 0.98 * g2[i]!;
  const dog = o.sm > 0.3 ? lineIntegral(g1, field, o.sm) : g1;
  const tone = gaussianBlur(lum, w, h, o.toneSigma);
  const value = new Float32Array(n);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const d = dog[i]!;
      const line = d >= 0 ? 1 : 1 + Math.tanh(o.lineStrength * 10 * d);
      // Strokes: two layers of streaks, the second crossing, each covering more as it gets darker.
      const t = 1 - tone[i]!;
      const dark = Math.min(1, Math.max(0, t * Math.sqrt(t > 0 ? t : 0) * o.shading));
      // Streak noise is only evaluated where it can show (paper stays blank where tone is white).
      const c1 = dark > 0 ? clamp01((dark * 1.2 - (1 - streakNoise(x, y + top, o.angle, o.len, o.sw, o.seed))) * 2.5 + dark * 0.15) : 0;
      const c2 = dark > 0.55 ? clamp01(((dark - 0.55) * 2.2 - (1 - streakNoise(x, y + top, o.angle + 0.5, o.len, o.sw, o.seed + 5))) * 2.5) : 0;
      const grainv = 0.93 + 0.07 * valueNoise(x / (o.sw * 1.5), (y + top) / (o.sw * 1.5), o.seed + 9);
      const shaded = (1 - 0.75 * c1) * (1 - 0.5 * c2);
      value[i] = Math.max(0, Math.min(1, line * shaded * grainv));
    }
  }
  const res = new Image(w, h, 3);
  if (o.mode === 'grey') {
    for (let c = 0; c < 3; c++) {
      const pl = res.plane(c);
      for (let i = 0; i < n; i++) pl[i] = o.ink[c]! + (o.paper[c]! - o.ink[c]!) * value[i]!;
    }
    return res;
  }
  // Colour: the drawing's lightness, the content's chroma (scaled), on paper white.
  const lab = rgbToLab(tile);
  const L = lab.plane(0);
  const A = lab.plane(1);
  const B = lab.plane(2);
  for (let i = 0; i < n; i++) {
    const v = value[i]!;
    // Colour is laid down where the pencil marks are, fading to paper where none are.
    const cover = 0.35 + 0.65 * (1 - v);
    L[i] = (100 - (100 - L[i]!) * 0.5 * cover) * (0.45 + 0.55 * v);
    A[i] = A[i]! * o.colorAmount * cover;
    B[i] = B[i]! * o.colorAmount * cover;
  }
  return labToRgb(lab);
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
