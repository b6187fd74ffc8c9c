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

async function cellImage(file: string | undefined): Promise<Buffer> {
  const grey = () => sharp({ create: { width: CELL, height: CELL, channels: 3, background: '#dddddd' } }).png().toBuffer();
  if (!file) return grey();
  try {
    return await sharp(file).resize(CELL, CELL, { fit: 'contain', background: '#ffffff' }).flatten({ background: '#ffffff' }).png().toBuffer();
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
      const height = HEADER + rows.length * (CELL + LABEL + GAP) + GAP;
      const layers: OverlayOptions[] = [
        { input: textSvg(width, HEADER, columns.map((c, i) => ({ x: GAP + i * (CELL + GAP) + CELL / 2, text: c, size: 14 }))), left: 0, top: 0 },
      ];
      for (let r = 0; r < rows.length; r++) {
        const pair = rows[r]!;
        const top = HEADER + r * (CELL + LABEL + GAP);
        const files = [
          pair.thumbs?.content,
          pair.thumbs?.style,
          ...results.runs.map((run) => results.results.find((x) => x.pair === pair.id && x.method === run.method && x.status === 'ok')?.thumb),
        ];
        for (let c = 0; c < files.length; c++) {
          const f = files[c];
          layers.push({ input: await cellImage(f ? path.join(outDir, f) : undefined), left: GAP + c * (CELL + GAP), top });
        }
        layers.push({ input: textSvg(width, LABEL, [{ x: width / 2, text: pair.id, size: 11 }]), left: 0, top: top + CELL });
      }
      const png = await sharp({ create: { width, height, channels: 3, background: '#ffffff' } }).composite(layers).png().toBuffer();
      const name = `contact-sheet-${group.replace(/[^A-Za-z0-9_-]+/g, '_')}${pairs.length > ROWS_PER_SHEET ? `-${start / ROWS_PER_SHEET + 1}` : ''}.png`;
      await writeFileAtomic(path.join(outDir, name), png, { force: true });
      written.push(name);
    }
  }
  return written;
}
