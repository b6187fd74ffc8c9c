import { z } from 'zod';
import { throwIfAborted } from '../../core/errors.js';
import { defineMethod } from '../../core/registry.js';
import { gaussianBlur } from '../../imaging/gaussian.js';
import { pixelsFor } from '../../imaging/relative-size.js';
import { dominantColors, nearestColor } from '../../imaging/style-color.js';
import { styledSize, styleScale, styleSizedParam } from '../../imaging/style-scale.js';
import { Canvas, type RectStroke } from './canvas.js';

/** Default mark widths, % of the long side (a style image scales them). */
const SIZES = { brushSize: 1.2, minBrushSize: 0.3 };

/**
 * Paint by numbers (Haeberli, SIGGRAPH 1990), automated: rectangular brush marks are placed at
 * random, or relaxed onto an evenly jittered grid, each taking the colour of the content under its
 * centre and turned across the local gradient; marks shrink where the image has detail. The
 * simple baseline of stroke-based rendering. Raster and SVG output. A style image lends its palette
 * and, for the mark sizes not given, its scale (`style-scale.ts`).
 */
const params = z
  .object({
    placement: z.enum(['random', 'relaxed']).default('relaxed').describe('random: uniform positions; relaxed: one mark per cell of a jittered grid (even coverage)'),
    brushSize: styleSizedParam(SIZES.brushSize, 0.05, 20, 'Width of the largest marks, % of the long side'),
    minBrushSize: styleSizedParam(SIZES.minBrushSize, 0.02, 20, 'Width of the smallest marks (where detail is high), % of the long side'),
    aspect: z.number().min(1).max(10).default(3).describe('Length of a mark over its width'),
    coverage: z.number().min(0.2).max(10).default(2.5).describe('How many times, on average, each pixel is painted over'),
    orientation: z.enum(['gradient', 'random']).default('gradient').describe('gradient: marks run along edges; random: any angle'),
    opacity: z.number().min(0.05).max(1).default(0.9).describe('Opacity of each mark'),
    colorJitter: z.number().min(0).max(0.5).default(0.03).describe('Random change of each mark colour (RGB, uniform ±)'),
    paletteSize: z.number().int().min(2).max(64).default(16).describe("Colours of the style image's palette the marks are limited to (when a style is given)"),
  })
  .superRefine((p, ctx) => {
    if (p.minBrushSize !== undefined && p.brushSize !== undefined && p.minBrushSize > p.brushSize) {
      ctx.addIssue({ code: 'custom', path: ['minBrushSize'], message: `minBrushSize (${p.minBrushSize}) must not exceed brushSize (${p.brushSize})` });
    }
  });

/** Marks are laid down in this many passes, coarse to fine, for progress and for layering. */
const PASSES = 4;

export const haeberli = defineMethod({
  id: 'paint.haeberli',
  family: 'paint',
  title: 'Paint by numbers (Haeberli)',
  summary: 'Baseline stroke painting: random or relaxed rectangular marks coloured from the content',
  reference: 'Haeberli, Paint by Numbers: Abstract Image Representations, SIGGRAPH 1990',
  inputs: { style: 'optional' },
  vectorOutput: true,
  params,
  advanced: ['aspect', 'coverage', 'minBrushSize'],
  presets: { 'Brushy': { brushSize: 1.2 }, 'Dabs': { aspect: 1, brushSize: 0.8, orientation: 'random' }, 'Fine': { brushSize: 0.6, coverage: 4 } },
  async run(ctx, { content, style }, p) {
    const { width: W, height: H } = content;
    const n = W * H;
    const scale = styleScale(style);
    const big = pixelsFor(styledSize(p.brushSize, SIZES.brushSize, scale), W, H, 1);
    const small = Math.min(big, pixelsFor(styledSize(p.minBrushSize, SIZES.minBrushSize, scale), W, H, 1));
    // Progress shares as measured at 384² (issue 20: time left within 2× after 10 %): the style's
    // palette (k-means) is about half of a run; of the passes, the first places a mark in every
    // cell, the later ones only where detail asks for a finer mark, the last one hardly anywhere.
    // Placing a pass's marks takes about 40 % of it, painting them the rest.
    const paletteShare = style ? 0.5 : 0;
    const palette = style ? dominantColors(style, p.paletteSize, ctx.rng) : undefined;
    ctx.progress.sub(0, paletteShare).step(1, 1);
    const src = [content.plane(0), content.plane(1), content.plane(2)];
    const mean = src.map((pl) => pl.reduce((a, b) => a + b, 0) / n) as [number, number, number];
    const canvas = new Canvas(W, H, mean, true);
    // Gradient of a lightly blurred luminance: orientation and detail (which shrinks the marks).
    const lum = new Float32Array(n);
    for (let i = 0; i < n; i++) lum[i] = 0.299 * src[0]![i]! + 0.587 * src[1]![i]! + 0.114 * src[2]![i]!;
    const blurred = gaussianBlur(lum, W, H, Math.max(0.7, small / 2));
    const rng = ctx.rng;
    const perPass: number[] = [];
    const share = [4, 1.5, 1.5, 0.3];
    const shareSum = share.reduce((a, b) => a + b, 0);
    const passes = ctx.progress.sub(paletteShare, 1);
    let shareDone = 0;
    for (let pass = 0; pass < PASSES; pass++) {
      throwIfAborted(ctx.signal);
      const passProgress = passes.sub(shareDone / shareSum, (shareDone += share[pass]!) / shareSum);
      // Pass k paints marks of width from big towards small; later passes refine detail only.
      const t = pass / (PASSES - 1);
      const width = big * (small / big) ** t;
      // Random placement leaves e^−coverage of the canvas bare; its first pass is denser to hide the ground.
      const firstDensity = p.placement === 'random' ? 0.55 : 1;
      const cell = Math.max(1, Math.sqrt((width * width * p.aspect) / p.coverage) * (pass === 0 ? firstDensity : 1.4));
      const cols = Math.ceil(W / cell);
      const rows = Math.ceil(H / cell);
      const marks: RectStroke[] = [];
      const cells = cols * rows;
      const chunk = Math.max(1, Math.ceil(cells / 8));
      for (let k = 0; k < cells; k++) {
        if (k > 0 && k % chunk === 0) passProgress.sub(0, 0.4).step(k, cells);
        let cx: number;
        let cy: number;
        if (p.placement === 'random') {
          cx = rng.next() * W;
          cy = rng.next() * H;
        } else {
          cx = ((k % cols) + rng.next()) * cell;
          cy = (Math.floor(k / cols) + rng.next()) * cell;
        }
        const xi = Math.min(W - 1, Math.floor(cx));
        const yi = Math.min(H - 1, Math.floor(cy));
        const i = yi * W + xi;
        const gx = blurred[yi * W + Math.min(W - 1, xi + 1)]! - blurred[yi * W + Math.max(0, xi - 1)]!;
        const gy = blurred[Math.min(H - 1, yi + 1) * W + xi]! - blurred[Math.max(0, yi - 1) * W + xi]!;
        const g = Math.hypot(gx, gy);
        // Detail: a mark of this width belongs where the local contrast is low enough.
        const detail = Math.min(1, (g * width) / 0.15);
        if (pass > 0 && detail < t * 0.8) continue;
        let rgb: [number, number, number] = [src[0]![i]!, src[1]![i]!, src[2]![i]!];
        if (p.colorJitter > 0) rgb = rgb.map((v) => Math.min(1, Math.max(0, v + (rng.next() * 2 - 1) * p.colorJitter))) as [number, number, number];
        if (palette) {
          const c = nearestColor(palette, rgb[0], rgb[1], rgb[2]);
          rgb = [palette[c * 3]!, palette[c * 3 + 1]!, palette[c * 3 + 2]!];
        }
        const angle = p.orientation === 'random' || g < 1e-6 ? rng.next() * Math.PI : Math.atan2(gx, -gy);
        marks.push({ kind: 'rect', cx, cy, length: width * p.aspect, width, angle, rgb, opacity: p.opacity });
      }
      rng.shuffle(marks);
      for (const m of marks) canvas.paint(m);
      perPass.push(marks.length);
      passProgress.step(1, 1, { pass: pass + 1, width, strokes: marks.length });
    }
    return {
      image: canvas.image,
      get svg() {
        return canvas.svg();
      },
      meta: { strokesPerPass: perPass, ...(scale && { styleScale: scale }) },
    };
  },
});
