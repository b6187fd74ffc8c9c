import type { Image } from '../../core/image.js';
import type { Rng } from '../../core/rng.js';
import { dominantColors } from '../../imaging/style-color.js';

/**
 * Ink and paper colours for the drawing filters: black on white, or the darkest and the lightest
 * of a style image's dominant colours.
 */
export function inkAndPaper(style: Image | undefined, rng: Rng): { ink: number[]; paper: number[] } {
  if (!style) return { ink: [0.06, 0.06, 0.07], paper: [1, 1, 1] };
  const pal = dominantColors(style, 6, rng);
  let dark = 0;
  let light = 0;
  const lum = (c: number) => 0.299 * pal[c * 3]! + 0.587 * pal[c * 3 + 1]! + 0.114 * pal[c * 3 + 2]!;
  for (let c = 1; c < pal.length / 3; c++) {
    if (lum(c) < lum(dark)) dark = c;
    if (lum(c) > lum(light)) light = c;
  }
  const pick = (c: number) => [pal[c * 3]!, pal[c * 3 + 1]!, pal[c * 3 + 2]!];
  return { ink: pick(dark), paper: pick(light) };
}

/** Anti-aliased coverage of parallel lines of `spacing` px and `width` px at angle `angle`. */
export function hatchCoverage(x: number, y: number, angle: number, spacing: number, width: number): number {
  const pos = (x * Math.cos(angle) + y * Math.sin(angle)) / spacing;
  const d = Math.abs(pos - Math.floor(pos) - 0.5) * spacing;
  const c = width / 2 + 0.5 - d;
  return c <= 0 ? 0 : c >= 1 ? 1 : c;
}
