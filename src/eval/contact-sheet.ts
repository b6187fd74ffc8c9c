import path from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { writeFileAtomic } from '../core/io.js';
import { escapeXml } from './plots.js';
import type { EvaluationResults } from './results.js';

/**
 * Side-by-side contact sheets for `atelier compare`: per group of pairs, one PNG with a column each
 * for content, style and every method, a row per pair (at most ROWS_PER_SHEET rows a sheet), built
 * from the report's thumbnails. Failed cells stay grey.
 */

const CELL = 200;
const GAP = 6;
const HEADER = 30;
const LABEL = 18;
const ROWS_PER_SHEET = 10;

function textSvg(width: number, height: number, items: { x: number; text: string; size: number }[]): Buffer {
  const texts = items
    .map((t) => `<text x="${t.x}" y="${height - 8}" font-family="DejaVu Sans, sans-serif" font-size="${t.size}" text-anchor="middle" fill="#222">${escapeXml(t.text)}</text>`)
    .join('');
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${texts}</svg>`);
}

interface Cell {
  png: Buffer;
  width: number;
  height: number;
}

/** A thumbnail fitted inside CELL×CELL (no padding), or a grey square where there is none. */
async function cellImage(file: string | undefined): Promise<Cell> {
  const grey = async (): Promise<Cell> => ({
    png: await sharp({ create: { width: CELL, height: CELL / 2, channels: 3, background: '#dddddd' } }).png().toBuffer(),
    width: CELL,
    height: CELL / 2,
  });
  if (!file) return grey();
  try {
    const { data, info } = await sharp(file).resize(CELL, CELL, { fit: 'inside' }).flatten({ background: '#ffffff' }).png().toBuffer({ resolveWithObject: true });
    return { png: data, width: info.width, height: info.height };
  } catch {
    return grey();
  }
}

/** Write the sheets into `outDir` and return their paths relative to it. */
export async function writeContactSheets(results: EvaluationResults, outDir: string): Promise<string[]> {
  const columns = ['content', 'style', ...results.runs.map((r) => r.method)];
  const width = GAP + columns.length * (CELL + GAP);
  const written: string[] = [];
  const groups = [...new Set(results.pairs.map((p) => p.group))];
  for (const group of groups) {
    const pairs = results.pairs.filter((p) => p.group === group);
    for (let start = 0; start < pairs.length; start += ROWS_PER_SHEET) {
      const rows = pairs.slice(start, start + ROWS_PER_SHEET);
      // Each row is as tall as its tallest thumbnail, so labels sit right under the pictures.
      const cells: Cell[][] = [];
      for (const pair of rows) {
        const files = [
          pair.thumbs?.content,
          pair.thumbs?.style,
          ...results.runs.map((run) => results.results.find((x) => x.pair === pair.id && x.method === run.method && x.status === 'ok')?.thumb),
        ];
        cells.push(await Promise.all(files.map((f) => cellImage(f ? path.join(outDir, f) : undefined))));
      }
      const rowHeights = cells.map((row) => Math.max(...row.map((c) => c.height)));
      const height = HEADER + rowHeights.reduce((s, h) => s + h + LABEL + GAP, 0) + GAP;
      const layers: OverlayOptions[] = [
        { input: textSvg(width, HEADER, columns.map((c, i) => ({ x: GAP + i * (CELL + GAP) + CELL / 2, text: c, size: 14 }))), left: 0, top: 0 },
      ];
      let top = HEADER;
      cells.forEach((row, r) => {
        row.forEach((c, k) => {
          layers.push({ input: c.png, left: GAP + k * (CELL + GAP) + Math.floor((CELL - c.width) / 2), top: top + Math.floor((rowHeights[r]! - c.height) / 2) });
        });
        layers.push({ input: textSvg(width, LABEL, [{ x: width / 2, text: rows[r]!.id, size: 11 }]), left: 0, top: top + rowHeights[r]! });
        top += rowHeights[r]! + LABEL + GAP;
      });
      const png = await sharp({ create: { width, height, channels: 3, background: '#ffffff' } }).composite(layers).png().toBuffer();
      const name = `contact-sheet-${group.replace(/[^A-Za-z0-9_-]+/g, '_')}${pairs.length > ROWS_PER_SHEET ? `-${start / ROWS_PER_SHEET + 1}` : ''}.png`;
      await writeFileAtomic(path.join(outDir, name), png, { force: true });
      written.push(name);
    }
  }
  return written;
}
