import { z } from 'zod';
import { throwIfAborted } from '../../core/errors.js';
import { defineMethod } from '../../core/registry.js';
import type { Rng } from '../../core/rng.js';
import { gaussianBlur } from '../../imaging/gaussian.js';
import { pixelsFor } from '../../imaging/relative-size.js';
import { dominantColors, nearestColor } from '../../imaging/style-color.js';
import { styledSize, styleScale, styleSizedParam } from '../../imaging/style-scale.js';
import { Canvas, type CurvedStroke } from './canvas.js';

/** Default brush radii, % of the long side (a style image scales them). */
const SIZES = { largestBrush: 1.6, smallestBrush: 0.4 };

/**
 * Painterly rendering with curved brush strokes of multiple sizes (Hertzmann, SIGGRAPH 1998).
 * Layers go from the largest brush to the smallest; each paints only where the canvas still
 * differs from a reference (the content blurred to the brush's scale) by more than a threshold,
 * so fine brushes go where there is detail. A stroke starts at the worst pixel of a grid cell and
 * follows the normal of the reference's gradient, as a cubic B-spline, until its colour no longer
 * helps; a curvature filter smooths its turns. The strokes come back as raster and as SVG paths.
 * A style image lends its palette and, for the brush sizes not given, its scale (`style-scale.ts`).
 */
const params = z
  .object({
    largestBrush: styleSizedParam(SIZES.largestBrush, 0.05, 20, 'Radius of the largest brush, % of the long side'),
    smallestBrush: styleSizedParam(SIZES.smallestBrush, 0.02, 20, 'Radius of the smallest brush, % of the long side'),
    layers: z.number().int().min(1).max(8).default(3).describe('Number of brush sizes from largest to smallest (spaced geometrically)'),
    threshold: z.number().min(0).max(1).default(0.1).describe('Error threshold T: a grid cell is repainted where the canvas differs from the reference by more (RGB distance)'),
    blurFactor: z.number().min(0.05).max(4).default(0.5).describe('Reference blur σ as a multiple of the brush radius (fσ)'),
    gridFactor: z.number().min(0.25).max(4).default(1).describe('Grid spacing as a multiple of the brush radius (fg)'),
    curvatureFilter: z.number().min(0).max(1).default(1).describe('fc: 1 follows the gradient normal freely, 0 draws straight strokes'),
    minStrokeLength: z.number().int().min(0).max(64).default(4).describe('Control points a stroke gets before it may stop'),
    maxStrokeLength: z.number().int().min(1).max(64).default(16).describe('Most control points of a stroke'),
    opacity: z.number().min(0.05).max(1).default(1).describe('Opacity of each stroke'),
    colorJitter: z.number().min(0).max(0.5).default(0).describe('Random change of each stroke colour (RGB, uniform ±)'),
    positionJitter: z.number().min(0).max(1).default(0).describe('Random shift of each stroke start, in brush radii'),
    brushTexture: z.number().min(0).max(1).default(0).describe('Bristle grooves in the raster strokes (0: flat strokes; the SVG stays flat)'),
    paletteSize: z.number().int().min(2).max(64).default(16).describe("Colours of the style image's palette the strokes are limited to (when a style is given)"),
  })
  .superRefine((p, ctx) => {
    if (p.smallestBrush !== undefined && p.largestBrush !== undefined && p.smallestBrush > p.largestBrush) {
      ctx.addIssue({
        code: 'custom',
        path: ['smallestBrush'],
        message: `smallestBrush (${p.smallestBrush}) must not exceed largestBrush (${p.largestBrush})`,
      });
    }
    if (p.minStrokeLength > p.maxStrokeLength) {
      ctx.addIssue({
        code: 'custom',
        path: ['minStrokeLength'],
        message: `minStrokeLength (${p.minStrokeLength}) must not exceed maxStrokeLength (${p.maxStrokeLength})`,
      });
    }
  });

export const strokes = defineMethod({
  id: 'paint.strokes',
  family: 'paint',
  title: 'Painterly strokes (Hertzmann)',
  summary: 'Curved spline brush strokes in layers from large to small brushes; raster and SVG output',
  reference: 'Hertzmann, Painterly Rendering with Curved Brush Strokes of Multiple Sizes, SIGGRAPH 1998',
  inputs: { style: 'optional' },
  vectorOutput: true,
  params,
  advanced: ['blurFactor', 'gridFactor', 'curvatureFilter', 'minStrokeLength', 'maxStrokeLength', 'positionJitter'],
  presets: { 'Impressionist': { layers: 3, opacity: 1 }, 'Expressionist': { largestBrush: 3, colorJitter: 0.1, maxStrokeLength: 32 }, 'Pointillist': { largestBrush: 0.6, maxStrokeLength: 1, minStrokeLength: 0 } },
  quickParams: { layers: 2 },
  async run(ctx, { content, style }, p) {
    const { width: W, height: H } = content;
    const n = W * H;
    const scale = styleScale(style);
    const R0 = pixelsFor(styledSize(p.largestBrush, SIZES.largestBrush, scale), W, H, 1);
    const R1 = Math.min(R0, pixelsFor(styledSize(p.smallestBrush, SIZES.smallestBrush, scale), W, H, 1));
    const radii = Array.from({ length: p.layers }, (_, k) => (p.layers === 1 ? R0 : R0 * (R1 / R0) ** (k / (p.layers - 1))));
    const palette = style ? dominantColors(style, p.paletteSize, ctx.rng) : undefined;
    const src = [content.plane(0), content.plane(1), content.plane(2)];
    const mean = src.map((pl) => pl.reduce((a, b) => a + b, 0) / n) as [number, number, number];
    const canvas = new Canvas(W, H, mean, true);
    const img = canvas.image.data;
    const perLayer: number[] = [];
    const ref = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
    // A layer's cost grows as its brush shrinks (strokes ∝ 1/R², each one's footprint ∝ R): the
    // progress share of a layer is ∝ 1/R, so the time left is right after the first layer (issue 20).
    // The style's palette (k-means, before the first layer) costs about as much as that layer.
    const cost = radii.map((R, k) => (k === 0 && palette ? 2 : 1) / R);
    const costSum = cost.reduce((a, b) => a + b, 0);
    let costDone = 0;
    for (let layer = 0; layer < radii.length; layer++) {
      throwIfAborted(ctx.signal);
      const R = radii[layer]!;
      const layerProgress = ctx.progress.sub(costDone / costSum, (costDone += cost[layer]!) / costSum);
      for (let c = 0; c < 3; c++) gaussianBlur(src[c]!, W, H, p.blurFactor * R, ref[c]);
      const diff = (i: number) =>
        Math.sqrt((img[i]! - ref[0]![i]!) ** 2 + (img[i + n]! - ref[1]![i]!) ** 2 + (img[i + 2 * n]! - ref[2]![i]!) ** 2);
      const first = layer === 0;
      const grid = Math.max(1, Math.round(p.gridFactor * R));
      const made: CurvedStroke[] = [];
      for (let gy = 0; gy < H; gy += grid) {
        for (let gx = 0; gx < W; gx += grid) {
          // The first layer paints every cell (the canvas starts unpainted).
          let sum = 0;
          let worst = -1;
          let wi = gy * W + gx;
          const ye = Math.min(H, gy + grid);
          const xe = Math.min(W, gx + grid);
          for (let y = gy; y < ye; y++) {
            for (let x = gx; x < xe; x++) {
              const i = y * W + x;
              const d = diff(i);
              sum += d;
              if (d > worst) {
                worst = d;
                wi = i;
              }
            }
          }
          const area = (ye - gy) * (xe - gx);
          if (!first && sum / area <= p.threshold) continue;
          let sx = wi % W;
          let sy = (wi - sx) / W;
          if (p.positionJitter > 0) {
            sx = clamp(Math.round(sx + (ctx.rng.next() * 2 - 1) * p.positionJitter * R), 0, W - 1);
            sy = clamp(Math.round(sy + (ctx.rng.next() * 2 - 1) * p.positionJitter * R), 0, H - 1);
          }
          made.push(makeStroke(sx, sy, R, { W, H, n, ref, img }, p, ctx.rng, palette));
        }
      }
      ctx.rng.shuffle(made);
      for (let k = 0; k < made.length; k++) {
        canvas.paint(made[k]!, p.brushTexture, ctx.seed * 7919 + layer * 104729 + k);
        if ((k & 4095) === 4095) throwIfAborted(ctx.signal);
      }
      perLayer.push(made.length);
      layerProgress.step(1, 1, { layer: layer + 1, radius: R, strokes: made.length });
    }
    return {
      image: canvas.image,
      get svg() {
        return canvas.svg();
      },
      meta: { strokesPerLayer: perLayer, radii, ...(scale && { styleScale: scale }) },
    };
  },
});

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

interface Layer {
  W: number;
  H: number;
  n: number;
  ref: Float32Array[];
  img: Float32Array;
}

/** Hertzmann's makeSplineStroke: follow the gradient normal from (x0, y0) while the colour helps. */
function makeStroke(
  x0: number,
  y0: number,
  R: number,
  L: Layer,
  p: { minStrokeLength: number; maxStrokeLength: number; curvatureFilter: number; colorJitter: number; opacity: number },
  rng: Rng,
  palette: Float32Array | undefined,
): CurvedStroke {
  const { W, H, n, ref, img } = L;
  // Luminance of the reference, computed where needed (a full plane would cost 4 bytes a pixel).
  const lum = (i: number) => 0.299 * ref[0]![i]! + 0.587 * ref[1]![i]! + 0.114 * ref[2]![i]!;
  const i0 = y0 * W + x0;
  let rgb: [number, number, number] = [ref[0]![i0]!, ref[1]![i0]!, ref[2]![i0]!];
  if (p.colorJitter > 0) rgb = rgb.map((v) => clamp(v + (rng.next() * 2 - 1) * p.colorJitter, 0, 1)) as [number, number, number];
  if (palette) {
    const k = nearestColor(palette, rgb[0], rgb[1], rgb[2]);
    rgb = [palette[k * 3]!, palette[k * 3 + 1]!, palette[k * 3 + 2]!];
  }
  const xs = [x0];
  const ys = [y0];
  let x = x0;
  let y = y0;
  let lastDx = 0;
  let lastDy = 0;
  for (let k = 1; k < p.maxStrokeLength; k++) {
    const xi = clamp(Math.round(x), 0, W - 1);
    const yi = clamp(Math.round(y), 0, H - 1);
    const i = yi * W + xi;
    if (k > p.minStrokeLength) {
      const dRefCanvas = (ref[0]![i]! - img[i]!) ** 2 + (ref[1]![i]! - img[i + n]!) ** 2 + (ref[2]![i]! - img[i + 2 * n]!) ** 2;
      const dRefStroke = (ref[0]![i]! - rgb[0]) ** 2 + (ref[1]![i]! - rgb[1]) ** 2 + (ref[2]![i]! - rgb[2]) ** 2;
      if (dRefCanvas < dRefStroke) break;
    }
    // Sobel gradient of the reference's luminance; the stroke runs along its normal.
    const xm = xi > 0 ? xi - 1 : 0;
    const xp = xi < W - 1 ? xi + 1 : W - 1;
    const ym = (yi > 0 ? yi - 1 : 0) * W;
    const yp = (yi < H - 1 ? yi + 1 : H - 1) * W;
    const y0r = yi * W;
    const gx = lum(ym + xp) + 2 * lum(y0r + xp) + lum(yp + xp) - lum(ym + xm) - 2 * lum(y0r + xm) - lum(yp + xm);
    const gy = lum(yp + xm) + 2 * lum(yp + xi) + lum(yp + xp) - lum(ym + xm) - 2 * lum(ym + xi) - lum(ym + xp);
    const g = Math.hypot(gx, gy);
    if (g < 1e-6) break;
    let dx = -gy / g;
    let dy = gx / g;
    if (lastDx * dx + lastDy * dy < 0) {
      dx = -dx;
      dy = -dy;
    }
    if (k > 1) {
      dx = p.curvatureFilter * dx + (1 - p.curvatureFilter) * lastDx;
      dy = p.curvatureFilter * dy + (1 - p.curvatureFilter) * lastDy;
      const l = Math.hypot(dx, dy);
      if (l < 1e-9) break;
      dx /= l;
      dy /= l;
    }
    x += R * dx;
    y += R * dy;
    if (x < -R || y < -R || x > W - 1 + R || y > H - 1 + R) break;
    lastDx = dx;
    lastDy = dy;
    xs.push(x);
    ys.push(y);
  }
  return { kind: 'curve', xs, ys, radius: R, rgb, opacity: p.opacity };
}
