import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cycles, definitionsIn, FLOORS, floorOf, importGraph, importSpecifiers, layoutViolations } from './import-graph.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { files, edges } = importGraph(root);

/** The layout of docs/architecture.md, checked over the real import graph of src/. */
describe('layout of src/', () => {
  it('reads the import graph (a guard against a parser that finds nothing)', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(edges.length).toBeGreaterThan(400);
    const has = (from: string, to: string) => edges.some((e) => e.from === path.join('src', from) && e.to === path.join('src', to));
    expect(has('methods/filter/oil.ts', 'imaging/strip-pool.ts')).toBe(true); // a static import
    expect(has('cli/serve.ts', 'server/app.ts')).toBe(true); // a dynamic import
    expect(has('index.ts', 'methods/index.ts')).toBe(true); // an export … from
  });

  it('has no import circle', () => {
    expect(cycles(files, edges)).toEqual([]);
  });

  it('puts every file on a known floor', () => {
    expect(files.map(floorOf).filter((f) => !(f in FLOORS))).toEqual([]);
  });

  it('has no arrow from a lower floor to a higher one, and no family imports another', () => {
    expect(layoutViolations(edges)).toEqual([]);
  });

  it('keeps src/index.ts to re-exports', () => {
    expect(definitionsIn(readFileSync(path.join(root, 'src/index.ts'), 'utf8'))).toEqual([]);
  });
});

/** The checks themselves, on made-up graphs: each rule must be able to fail. */
describe('layout checks', () => {
  const e = (from: string, to: string) => ({ from: path.join('src', from), to: path.join('src', to) });

  it('find a circle, including a type-only one', () => {
    const f = ['a/x.ts', 'a/y.ts', 'a/z.ts'].map((p) => path.join('src', p));
    expect(cycles(f, [e('a/x.ts', 'a/y.ts'), e('a/y.ts', 'a/z.ts')])).toEqual([]);
    expect(cycles(f, [e('a/x.ts', 'a/y.ts'), e('a/y.ts', 'a/z.ts'), e('a/z.ts', 'a/x.ts')])).toHaveLength(1);
    expect(importSpecifiers("import type { A } from './a.js';\nexport { b } from '../b.js';\nconst c = await import('./c.js');")).toEqual(['./a.js', '../b.js', './c.js']);
    expect(importSpecifiers("/**\n * import { x } from './doc-example.js';\n */\n// import './gone.js';")).toEqual([]);
  });

  it('flag upward, sideways and cross-family arrows', () => {
    expect(layoutViolations([e('methods/color/mkl.ts', 'imaging/gaussian.ts'), e('cli/transfer.ts', 'methods/index.ts')])).toEqual([]);
    expect(layoutViolations([e('core/image.ts', 'imaging/gaussian.ts')])).toHaveLength(1);
    expect(layoutViolations([e('methods/neural/gatys.ts', 'metrics/gram.ts')])).toHaveLength(1);
    expect(layoutViolations([e('methods/paint/strokes.ts', 'methods/filter/ink.ts')])).toHaveLength(1);
    expect(layoutViolations([e('methods/paint/strokes.ts', 'methods/index.ts')])).toHaveLength(1);
  });

  it('flag a definition in the public face', () => {
    expect(definitionsIn("export { a } from './a.js';\nexport type { B } from './b.js';")).toEqual([]);
    expect(definitionsIn("export { a } from './a.js';\nexport function f() { return 1 }")).toHaveLength(1);
    expect(definitionsIn("import { a } from './a.js';\nexport const b = a")).toHaveLength(2);
  });
});
