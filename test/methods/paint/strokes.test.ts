import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { Image } from '../../../src/core/image.js';
import type { ProgressEvent } from '../../../src/core/progress.js';
import { runMethod } from '../../../src/core/stylize.js';
import { haeberli } from '../../../src/methods/paint/haeberli.js';
import { strokes } from '../../../src/methods/paint/strokes.js';
import { gradientImage, meanAbsDiff, noiseImage, stripesImage } from '../../helpers/fixtures.js';

async function rasteriseSvg(svg: string, width: number, height: number): Promise<Image> {
  const { data, info } = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  expect(info.width).toBe(width);
  expect(info.height).toBe(height);
  return Image.fromInterleaved(info.width, info.height, info.channels, data, 255);
}

describe('paint.strokes', () => {
  it('paints fewer strokes per layer as the threshold rises', async () => {
    const content = stripesImage(96, 80, 12);
    const counts: number[][] = [];
    for (const threshold of [0.02, 0.15, 0.4]) {
      const r = await runMethod(strokes, { content }, { threshold, layers: 3, largestBrush: 4, smallestBrush: 1.5 });
      counts.push(r.meta.strokesPerLayer as number[]);
    }
    // Layer 1 covers the unpainted canvas whatever the threshold; the later ones fall.
    for (let layer = 1; layer < 3; layer++) {
      expect(counts[0]![layer]!).toBeGreaterThan(counts[1]![layer]!);
      expect(counts[1]![layer]!).toBeGreaterThanOrEqual(counts[2]![layer]!);
    }
    expect(counts[0]![0]).toBe(counts[2]![0]);
  });

  it('returns SVG paths that render (sharp) close to the raster', async () => {
    const content = gradientImage(120, 90);
    const r = await runMethod(strokes, { content }, { layers: 3 });
    expect(r.svg).toMatch(/^<svg[^>]+width="120" height="90"/);
    expect((r.svg!.match(/<path /g) ?? []).length).toBeGreaterThan(20);
    const rendered = await rasteriseSvg(r.svg!, 120, 90);
    expect(meanAbsDiff(rendered, r.image)).toBeLessThan(0.02);
    // And the painting is a painting of the content.
    expect(meanAbsDiff(r.image, content)).toBeLessThan(0.08);
  });

  it('reports progress per layer with the stroke count', async () => {
    const events: ProgressEvent[] = [];
    await runMethod(strokes, { content: noiseImage(64, 48, 2) }, { layers: 4 }, { onProgress: (e) => events.push(e) });
    const layers = events.filter((e) => e.type === 'step' && e.values?.strokes !== undefined);
    expect(layers.map((e) => (e.type === 'step' ? e.values!.layer : 0))).toEqual([1, 2, 3, 4]);
    // Smaller brushes cost more (more strokes): each layer's share of the progress grows, so the
    // first of four ends well before a quarter (issue 20: time left within 2× after 10 %).
    const sized: ProgressEvent[] = [];
    await runMethod(strokes, { content: noiseImage(64, 48, 2) }, { layers: 4, largestBrush: 8, smallestBrush: 2 }, { onProgress: (e) => sized.push(e) });
    const ends = sized.filter((e) => e.type === 'step' && e.values?.strokes !== undefined).map((e) => e.fraction);
    expect(ends).toHaveLength(4);
    const shares = ends.map((f, i) => f - (ends[i - 1] ?? 0));
    expect(ends[0]!).toBeLessThan(0.2);
    for (let i = 1; i < shares.length; i++) expect(shares[i]!).toBeGreaterThan(shares[i - 1]!);
  });

  it('limits colours to the style palette', async () => {
    const style = stripesImage(40, 40, 10, [1, 0, 0], [0, 0, 1]);
    const r = await runMethod(strokes, { content: gradientImage(64, 48), style }, { paletteSize: 2 });
    const fills = new Set(r.svg!.match(/stroke="#[0-9a-f]{6}"|fill="#[0-9a-f]{6}"/g)!.map((s) => s.slice(-8, -1)));
    fills.delete(r.svg!.match(/<rect[^>]*fill="(#[0-9a-f]{6})"/)![1]!);
    expect(fills.size).toBeLessThanOrEqual(2);
  });

  it('refuses a smallest brush larger than the largest, naming both', async () => {
    const err = await runMethod(strokes, { content: gradientImage(32, 32) }, { largestBrush: 1, smallestBrush: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AtelierError);
    expect((err as AtelierError).code).toBe('E_PARAM');
    expect((err as AtelierError).message).toMatch(/smallestBrush \(2\) must not exceed largestBrush \(1\)/);
  });
});

describe('paint.haeberli', () => {
  it('returns SVG marks that render close to the raster, for both placements', async () => {
    const content = gradientImage(100, 80);
    for (const placement of ['random', 'relaxed'] as const) {
      const r = await runMethod(haeberli, { content }, { placement, opacity: 1 });
      const rendered = await rasteriseSvg(r.svg!, 100, 80);
      expect(meanAbsDiff(rendered, r.image), placement).toBeLessThan(0.03);
      expect(meanAbsDiff(r.image, content), placement).toBeLessThan(0.08);
    }
  });
});
