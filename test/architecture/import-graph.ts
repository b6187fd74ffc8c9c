import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The import graph of src/, read from the files' import and export statements (static, dynamic
 * and type-only alike: a type-only circle is still a circle in the design). Used by the layout
 * test; docs/architecture.md describes the rules it checks.
 */

/** The floors of src/, lowest first. A file may import its own floor or a strictly lower one. */
export const FLOORS = {
  core: 0,
  imaging: 1,
  engine: 2,
  video: 3,
  metrics: 4,
  methods: 4,
  train: 5,
  eval: 6,
  server: 7,
  cli: 8,
  'index.ts': 9,
} as const;

export type Floor = keyof typeof FLOORS;

export interface ImportEdge {
  /** Importing file, relative to the repository root (`src/cli/transfer.ts`). */
  from: string;
  /** Imported file, relative to the repository root, `.js` read as `.ts`. */
  to: string;
}

export function sourceFiles(srcDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith('.ts')) out.push(p);
    }
  };
  walk(srcDir);
  return out.sort();
}

/** Source text without comments, so that an example in a doc comment is not read as an import. */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

/** Relative specifiers of every import/export-from statement and dynamic import in `text`. */
export function importSpecifiers(text: string): string[] {
  const code = withoutComments(text);
  const specs: string[] = [];
  // `import … from '…'`, `export … from '…'` (possibly over several lines) and `import '…'`.
  const statements = /^\s*(?:(?:import|export)\b[^;'"]*?\bfrom\s*|import\s*)['"]([^'"]+)['"]/gm;
  const dynamic = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of code.matchAll(statements)) specs.push(m[1]!);
  for (const m of code.matchAll(dynamic)) specs.push(m[1]!);
  return specs.filter((s) => s.startsWith('.'));
}

/** Edges between files under `root`/src (imports that leave src/, such as package.json, are not edges). */
export function importGraph(root: string): { files: string[]; edges: ImportEdge[] } {
  const srcDir = path.join(root, 'src');
  const files = sourceFiles(srcDir).map((f) => path.relative(root, f));
  const edges: ImportEdge[] = [];
  for (const from of files) {
    for (const spec of importSpecifiers(readFileSync(path.join(root, from), 'utf8'))) {
      const to = path.normalize(path.join(path.dirname(from), spec)).replace(/\.js$/, '.ts');
      if (to.startsWith('src' + path.sep)) edges.push({ from, to });
    }
  }
  return { files, edges };
}

/** The floor a file is on: its first folder under src/, or `index.ts` for the public face. */
export function floorOf(file: string): string {
  const parts = file.split(path.sep);
  return parts[1]!;
}

/** The method family a file belongs to (`color` for src/methods/color/mkl.ts), if any. */
export function familyOf(file: string): string | undefined {
  const parts = file.split(path.sep);
  return parts[1] === 'methods' && parts.length > 3 ? parts[2] : undefined;
}

/** Every import circle (strongly connected component of more than one file, or a self-import). */
export function cycles(files: string[], edges: ImportEdge[]): string[][] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) next.get(e.from)?.push(e.to);
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (next.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return found;
}

/** Edges that break the layout: upward or sideways between floors, or between two method families. */
export function layoutViolations(edges: ImportEdge[]): string[] {
  const out: string[] = [];
  for (const { from, to } of edges) {
    const a = floorOf(from);
    const b = floorOf(to);
    const ra = FLOORS[a as Floor];
    const rb = FLOORS[b as Floor];
    if (a !== b && !(rb < ra)) out.push(`${from} → ${to}: ${a} (floor ${ra}) may not import ${b} (floor ${rb})`);
    const fa = familyOf(from);
    const fb = familyOf(to);
    if (fa && fb && fa !== fb) out.push(`${from} → ${to}: the ${fa} family may not import the ${fb} family`);
    if (fa && a === b && to === path.join('src', 'methods', 'index.ts')) out.push(`${from} → ${to}: a family may not import the registry`);
  }
  return out;
}

/** Statements of src/index.ts that are not re-exports (it must define nothing). */
export function definitionsIn(indexSource: string): string[] {
  const code = withoutComments(indexSource);
  const statements = code
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return statements.filter((s) => !/^export\s+(?:type\s+)?(?:\{[^}]*\}|\*(?:\s+as\s+\w+)?)\s+from\s+['"][^'"]+['"]$/.test(s));
}
