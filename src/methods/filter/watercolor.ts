import { z } from 'zod';
import { Image } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import { domainTransformSmooth } from './domain-transform.js';
import { fractalNoise, noisePlane, streakNoise } from './noise.js';
import { pixelsFor } from './relative-size.js';
import { mapStrips } from './strips.js';
import { colourStatsTransfer } from './style-colour.js';

/**
 * Watercolour (Bousseau, Kaplan, Thollot & Sillion 2006, "Interactive watercolor rendering with
 * temporal coherence and abstraction"): an abstracted image is wobbled by the paper's gradient,
 * then its pigment density is modulated by turbulent flow, pigment granulation, the paper texture
 * and edge darkening, through the paper's colour model C′ = C − (C − C²)(d − 1). The paper is
 * generated: fractal grain plus fibres, embossed. A style image lends its colour statistics.
 */
const params = z.object({
  abstraction: z.number().min(0.1).max(20).default(2).describe('Spatial extent of the colour simplification, % of the long side'),
  colourRange: z.number().min(0.01).max(2).default(0.3).describe('Colour difference above which the simplification stops at an edge'),
  wobble: z.number().min(0).max(3).default(0.25).describe('How far the paper displaces the colours, % of the long side'),
  edgeDarkening: z.number().min(0).max(5).default(1.5).describe('Pigment pooling at the edges of washes'),
  turbulence: z.number().min(0).max(2).default(0.5).describe('Low-frequency density variation (uneven washes)'),
  granulation: z.number().min(0).max(2).default(0.6).describe('High-frequency pigment granulation'),
  paper: z.number().min(0).max(2).default(0.7).describe('Strength of the paper texture'),
  paperScale: z.number().min(0.02).max(2).default(0.12).describe('Grain size of the generated paper, % of the long side'),
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
  async run(ctx, { content, style }, p) {
    const { width, height } = content;
    const sigmaS = pixelsFor(p.abstraction, width, height, 1);
    const wob = pixelsFor(p.wobble, width, height, 0);
    const grain = pixelsFor(p.paperScale, width, height, 0.7);
    const turbScale = pixelsFor(8, width, height, 4);
    const recolour = style && p.styleAmount > 0 ? colourStatsTransfer(content, style, p.styleAmount) : undefined;
    const seed = ctx.seed;
    const margin = 3 * sigmaS + wob + 4;
    const out = mapStrips(
      content,
      margin,
      3,
      (tile, top) => {
        const w = tile.width;
        const h = tile.height;
        const n = tile.pixels;
        const src = recolour ? recolour(tile.clone()) : tile;
        const abstracted = domainTransformSmooth([src.plane(0), src.plane(1), src.plane(2)], w, h, sigmaS, p.colourRange, 3);
        // Paper height: fine grain plus fibres (long thin streaks in random directions).
        const paperH = noisePlane(w, h, top, grain, 3, seed);
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const i = y * w + x;
            const f1 = streakNoise(x, y + top, 0.6, grain * 12, grain * 0.8, seed + 11);
            const f2 = streakNoise(x, y + top, 2.3, grain * 12, grain * 0.8, seed + 13);
            paperH[i] = 0.6 * paperH[i]! + 0.2 * f1 + 0.2 * f2;
          }
        }
        // Wobbling: sample the washes displaced by the paper's low-frequency gradient.
        const res = new Image(w, h, 3);
        const outP = [res.plane(0), res.plane(1), res.plane(2)];
        const wob0 = new Float32Array(n * 3);
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const i = y * w + x;
            const ox = wob * (2 * fractalNoise(x, y + top, grain * 6, 2, seed + 21) - 1);
            const oy = wob * (2 * fractalNoise(x, y + top, grain * 6, 2, seed + 22) - 1);
            let sx = Math.round(x + ox);
            let sy = Math.round(y + oy);
            sx = sx < 0 ? 0 : sx >= w ? w - 1 : sx;
            sy = sy < 0 ? 0 : sy >= h ? h - 1 : sy;
            const j = sy * w + sx;
            for (let c = 0; c < 3; c++) wob0[c * n + i] = abstracted[c]![j]!;
          }
        }
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const i = y * w + x;
            // Edge darkening: pigment gathers where the wash changes (colour gradient magnitude).
            const xm = x > 0 ? i - 1 : i;
            const xp = x < w - 1 ? i + 1 : i;
            const ym = y > 0 ? i - w : i;
            const yp = y < h - 1 ? i + w : i;
            let g = 0;
            for (let c = 0; c < 3; c++) {
              const q = c * n;
              g += Math.abs(wob0[q + xp]! - wob0[q + xm]!) + Math.abs(wob0[q + yp]! - wob0[q + ym]!);
            }
            const turb = fractalNoise(x, y + top, turbScale, 3, seed + 31) - 0.5;
            const gran = fractalNoise(x, y + top, grain * 0.7, 2, seed + 41) - 0.5;
            const d =
              1 +
              p.edgeDarkening * Math.min(1, g * 2) * 0.5 +
              p.turbulence * turb +
              p.granulation * gran * 0.8 +
              p.paper * (paperH[i]! - 0.5) * 0.6;
            // Emboss the paper: light from the top left.
            const hx = x < w - 1 ? paperH[i + 1]! - paperH[i]! : 0;
            const hy = y < h - 1 ? paperH[i + w]! - paperH[i]! : 0;
            const emboss = 1 - p.paper * 0.35 * (hx + hy);
            for (let c = 0; c < 3; c++) {
              const cv = wob0[c * n + i]!;
              outP[c]![i] = (cv - (cv - cv * cv) * (d - 1)) * emboss;
            }
          }
        }
        return res;
      },
      { signal: ctx.signal, progress: ctx.progress },
    );
    return out;
  },
});
