import { readFileSync } from 'node:fs';

/**
 * A checkpoint's tensor names and shapes as the fixtures list them (fixtures/make_*_names.py): one
 * line per tensor, `name<TAB>d0,d1,…` (no dims: a scalar). What the loaders' planners read from a
 * real file's header, without the gigabytes.
 */
export function fixtureTensorNames(file: string): { name: string; shape: number[] }[] {
  return readFileSync(new URL(`./fixtures/${file}`, import.meta.url), 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [name, dims] = line.split('\t') as [string, string | undefined];
      return { name, shape: dims ? dims.split(',').map(Number) : [] };
    });
}
