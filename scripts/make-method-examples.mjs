#!/usr/bin/env node
/**
 * One small example picture per method for the studio's method picker (web/public/examples/):
 * each method run with its defaults on the shipped samples (scripts/make-samples.mjs: the harbour
 * as content, the night swirls as style), 200 px wide. A method whose weights are not installed
 * here is left without a picture, never shown with random weights. Needs `npm run build` first;
 * run `node scripts/make-method-examples.mjs [--from DIR] [method-id …]` and commit the output.
 *
 * What goes into the repository: the inputs are the project's own generated samples, never
 * pictures from ../shared/data. A neural method's picture is also made by its pretrained weights,
 * so it is made only when every model its default settings need has permissive terms (MIT, BSD,
 * Apache: `terms` in models/manifest.json); a method needing a non-commercial, academic-only,
 * use-restricted or unstated-licence model gets no picture. `--from DIR` installs the needed
 * permissive models from a mirror folder first (e.g. ../shared/weights, checked by SHA-256 like any
 * install: the same bytes as upstream).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeImage, listMethods, readImage, stylize } from '../dist/index.js';
import { isModelInstalled, pullModel } from '../dist/engine/store.js';
import { findModel, loadManifest } from '../dist/engine/store/manifest.js';

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
const args = process.argv.slice(2);
const fromAt = args.indexOf('--from');
const mirror = fromAt >= 0 ? args.splice(fromAt, 2)[1] : undefined;
const only = args;
const manifest = loadManifest();

/** The models the method's default settings need (its `when` conditions against the defaults). */
function neededByDefaults(def) {
  const defaults = def.params.parse({});
  const needed = (def.weights ?? []).filter((w) => !w.when || Object.entries(w.when).every(([k, allowed]) => allowed.includes(defaults[k])));
  // A group of alternatives needs one member: the first.
  return needed.filter((w) => !w.anyOf || needed.find((x) => x.anyOf === w.anyOf) === w);
}

for (const def of listMethods()) {
  if (only.length > 0 && !only.includes(def.id)) continue;
  const needed = neededByDefaults(def);
  const restricted = needed.filter((w) => findModel(manifest, w.model).terms !== 'permissive');
  if (restricted.length > 0) {
    console.log(`${def.id}: skipped (${restricted.map((w) => `${w.model} is ${findModel(manifest, w.model).terms}`).join(', ')}: its output is not committed)`);
    delete index.examples[def.id];
    continue;
  }
  if (mirror) for (const w of needed) if (!isModelInstalled(w.model)) await pullModel(w.model, { from: mirror });
  const missing = needed.filter((w) => !isModelInstalled(w.model));
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
  index.examples[def.id] = {
    url: `/examples/${file}`,
    content: 'harbour',
    style: def.inputs.style !== 'none' ? 'swirls' : null,
    ...(needed.length > 0 && { models: needed.map((w) => `${w.model} (${findModel(manifest, w.model).licence})`) }),
  };
  console.log(`${def.id}: ${r.image.width}×${r.image.height} in ${Date.now() - started} ms`);
}
index.$comment = 'written by scripts/make-method-examples.mjs';
writeFileSync(indexFile, `${JSON.stringify(index, null, 2)}\n`);
