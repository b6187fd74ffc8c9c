#!/usr/bin/env node
/**
 * One small example picture per method for the studio's method picker (web/public/examples/):
 * each method run with its defaults on the shipped samples (scripts/make-samples.mjs: the harbour
 * as content, the night swirls as style), 200 px wide. A method whose weights are not installed
 * here is left without a picture, never shown with random weights. Needs `npm run build` first;
 * run `node scripts/make-method-examples.mjs [method-id …]` and commit the output.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeImage, listMethods, readImage, stylize } from '../dist/index.js';
import { isModelInstalled } from '../dist/engine/store.js';

const samples = fileURLToPath(new URL('../web/public/samples/', import.meta.url));
const out = fileURLToPath(new URL('../web/public/examples/', import.meta.url));
const SIZE = 200;

mkdirSync(out, { recursive: true });
const indexFile = out + 'index.json';
const index = existsSync(indexFile) ? JSON.parse(readFileSync(indexFile, 'utf8')) : { examples: {} };
const content = await readImage(samples + 'content-harbour.jpg');
const style = await readImage(samples + 'style-swirls.jpg');
const stillLife = await readImage(samples + 'content-still-life.jpg');
const stillLifePainted = (await stylize('filter.watercolor', { content: stillLife }, {})).image;
const only = process.argv.slice(2);

for (const def of listMethods()) {
  if (only.length > 0 && !only.includes(def.id)) continue;
  const missing = (def.weights ?? []).filter((w) => !isModelInstalled(w.model));
  if (missing.length > 0) {
    console.log(`${def.id}: skipped (weights not installed: ${missing.map((w) => w.model).join(', ')})`);
    delete index.examples[def.id];
    continue;
  }
  // Optional extras (a hole mask) are left out; an analogy learns its filter from the still life
  // and the same picture through filter.watercolor, the classic "filter by example" pair.
  const extra = {};
  for (const [k, spec] of Object.entries(def.inputs.extra ?? {})) {
    if (!spec.required) continue;
    extra[k] = k === 'sourceA' ? stillLife : k === 'sourceAStyled' ? stillLifePainted : style;
  }
  const started = Date.now();
  const r = await stylize(def.id, { content, ...(def.inputs.style !== 'none' && { style }), extra }, { maxSize: SIZE });
  const file = `${def.id}.jpg`;
  writeFileSync(out + file, await encodeImage(r.image, 'jpeg', { quality: 82 }));
  index.examples[def.id] = { url: `/examples/${file}`, content: 'harbour', style: def.inputs.style !== 'none' ? 'swirls' : null };
  console.log(`${def.id}: ${r.image.width}×${r.image.height} in ${Date.now() - started} ms`);
}
index.$comment = 'written by scripts/make-method-examples.mjs';
writeFileSync(indexFile, `${JSON.stringify(index, null, 2)}\n`);
