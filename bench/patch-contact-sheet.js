#!/usr/bin/env node
// Contact sheet for the patch benchmark: one row per pair — content, style, G'MIC, Atelier —
// each cell fitted into a square. Reads the manifest bench/patch.mjs writes next to its outputs.
// Usage: node bench/patch-contact-sheet.js [.bench-out/patch/manifest.json] [-o sheet.png] [--cell 256]
// Outputs are made from the dev images: keep the sheet out of the repository.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : fallback;
};
const cell = Number(opt('--cell', '256'));
const manifestPath = args[0] ?? '.bench-out/patch/manifest.json';
const out = opt('-o', path.join(path.dirname(manifestPath), 'contact-sheet.png'));
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
const columns = manifest.columns; // e.g. ['content', 'style', 'gmic', 'atelier']
const label = 18;

const composites = [];
for (const [c, name] of columns.entries()) {
  const svg = `<svg width="${cell}" height="${label}"><text x="4" y="14" font-family="sans-serif" font-size="13">${name}</text></svg>`;
  composites.push({ input: Buffer.from(svg), left: c * cell, top: 0 });
}
for (const [r, row] of manifest.rows.entries()) {
  for (const [c, name] of columns.entries()) {
    const file = row[name];
    if (!file) continue;
    const input = await sharp(file)
      .resize(cell, cell, { fit: 'contain', background: { r: 255, g: 255, b: 255 } })
      .png()
      .toBuffer();
    composites.push({ input, left: c * cell, top: label + r * cell });
  }
}
await sharp({
  create: { width: columns.length * cell, height: label + manifest.rows.length * cell, channels: 3, background: { r: 255, g: 255, b: 255 } },
})
  .composite(composites)
  .png()
  .toFile(out);
console.log(`wrote ${out} (${manifest.rows.length} rows)`);
