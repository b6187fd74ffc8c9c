#!/usr/bin/env node
// Regenerates the README's generated sections from the code (run after `npm run build`):
//   methods  — every registered method, from the registry;
//   errors   — every AtelierError code, its exit code, HTTP status and meaning, from src/core/errors.ts.
// `node scripts/docs.mjs` rewrites README.md; `--check` exits 1 if it is out of date (a test runs it).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { listMethods, describeMethod, FAMILIES, ERROR_CODES, AtelierError } = await import(path.join(root, 'dist/index.js'));
const { exitCodeFor, httpStatusFor } = await import(path.join(root, 'dist/core/errors.js'));

function methodsSection() {
  const rows = ['| method | family | inputs | what it does |', '|---|---|---|---|'];
  for (const family of Object.keys(FAMILIES)) {
    for (const def of listMethods().filter((m) => m.family === family)) {
      const d = describeMethod(def);
      const inputs = ['content'];
      if (d.inputs.style !== 'none') inputs.push(d.inputs.style === 'required' ? 'style' : '[style]');
      for (const [name, spec] of Object.entries(d.inputs.extra ?? {})) inputs.push(spec.required ? name : `[${name}]`);
      const weights = d.weights.length > 0 ? ` Needs weights: ${d.weights.map((w) => w.model).join(', ')}.` : '';
      rows.push(`| \`${d.id}\` | ${family} | ${inputs.join(', ')} | ${d.summary}.${weights} |`);
    }
  }
  return rows.join('\n');
}

function errorsSection() {
  const rows = ['| code | exit | HTTP | meaning |', '|---|---|---|---|'];
  for (const [code, meaning] of Object.entries(ERROR_CODES)) {
    const e = new AtelierError(code, '');
    rows.push(`| \`${code}\` | ${exitCodeFor(e)} | ${httpStatusFor(e)} | ${meaning} |`);
  }
  return rows.join('\n');
}

function replaceBetween(text, name, body) {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`README.md lacks the markers ${start} … ${end}`);
  return text.slice(0, a + start.length) + '\n' + body + '\n' + text.slice(b);
}

const readmePath = path.join(root, 'README.md');
const before = readFileSync(readmePath, 'utf8');
let after = replaceBetween(before, 'methods', methodsSection());
after = replaceBetween(after, 'errors', errorsSection());
if (process.argv.includes('--check')) {
  if (after !== before) {
    console.error('README.md is out of date with the registry or the error codes: run `npm run docs`.');
    process.exit(1);
  }
} else if (after !== before) {
  writeFileSync(readmePath, after);
  console.log('README.md updated');
}
