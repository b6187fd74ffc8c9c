import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AtelierError, ERROR_CODES, exitCodeFor, httpStatusFor, type ErrorCode } from '../../src/core/errors.js';
import { coerceParam, describeExpected, kebabCase, camelCase, nearest, parseParams, paramsJsonSchema } from '../../src/core/params.js';

const schema = z.object({
  radius: z.number().min(1).max(64).default(8).describe('Brush radius'),
  layers: z.number().int().min(1).max(6).default(3),
  mode: z.enum(['soft', 'hard']).default('soft'),
  outline: z.boolean().default(true),
  weights: z.array(z.number()).optional(),
});

describe('parameters', () => {
  it('fills defaults and accepts valid values', () => {
    expect(parseParams(schema, { radius: 3 })).toEqual({ radius: 3, layers: 3, mode: 'soft', outline: true });
  });

  it('turns each kind of bad value into one sentence: what, expected, received', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ radius: 100 }, 'Invalid value for radius: expected a number in [1, 64], received 100 (number).'],
      [{ radius: Number.NaN }, 'Invalid value for radius: expected a number in [1, 64], received NaN.'],
      [{ layers: 2.5 }, 'Invalid value for layers: expected an integer in [1, 6], received 2.5 (number).'],
      [{ mode: 'medium' }, 'Invalid value for mode: expected one of soft, hard, received "medium" (string).'],
      [{ outline: 'yes' }, 'Invalid value for outline: expected true or false, received "yes" (string).'],
    ];
    for (const [raw, message] of cases) {
      try {
        parseParams(schema, raw);
        expect.unreachable(JSON.stringify(raw));
      } catch (e) {
        expect((e as AtelierError).code).toBe('E_PARAM');
        expect((e as Error).message).toBe(message);
      }
    }
  });

  it('refuses unknown keys and suggests the nearest, in flag style for the CLI', () => {
    expect(() => parseParams(schema, { raduis: 2 }, { flagStyle: true })).toThrow(/Unknown parameter --raduis.*Did you mean --radius\?/);
  });

  it('coerces CLI strings by the schema and leaves garbage for validation to report', () => {
    const json = paramsJsonSchema(schema).properties;
    expect(coerceParam(json.radius, '2.5')).toBe(2.5);
    expect(coerceParam(json.radius, 'abc')).toBe('abc');
    expect(Number.isNaN(coerceParam(json.radius, 'nan') as number)).toBe(true);
    expect(coerceParam(json.radius, '')).toBe('');
    expect(coerceParam(json.outline, 'off')).toBe(false);
    expect(coerceParam(json.weights, '0.7, 0.3')).toEqual([0.7, 0.3]);
    expect(describeExpected(json.weights!)).toBe('a list of numbers');
  });

  it('maps names between camelCase and kebab-case and suggests near words', () => {
    expect(kebabCase('preserveColor')).toBe('preserve-color');
    expect(camelCase('style-mask')).toBe('styleMask');
    expect(nearest('color.reinhart', ['color.reinhard', 'patch.synthesis'])).toBe('color.reinhard');
    expect(nearest('zzz', ['color.reinhard'])).toBeUndefined();
  });
});

describe('errors', () => {
  it('compose what was expected, what was received and what to do', () => {
    const e = new AtelierError('E_WEIGHTS_MISSING', 'neural.gatys needs VGG19 weights', {
      expected: 'an installed vgg19 model',
      received: 'none in ~/.cache/atelier',
      hint: 'run `atelier models pull vgg19`',
    });
    expect(e.message).toBe(
      'neural.gatys needs VGG19 weights: expected an installed vgg19 model, received none in ~/.cache/atelier. Run `atelier models pull vgg19`.',
    );
    expect(e.toJSON()).toMatchObject({ code: 'E_WEIGHTS_MISSING', hint: 'run `atelier models pull vgg19`' });
  });

  it('map to exit codes (2 usage, 1 runtime) and HTTP statuses', () => {
    expect(exitCodeFor(new AtelierError('E_PARAM', 'x'))).toBe(2);
    expect(exitCodeFor(new AtelierError('E_IMAGE_DECODE', 'x'))).toBe(1);
    expect(exitCodeFor(new Error('x'))).toBe(1);
    expect(httpStatusFor(new AtelierError('E_TOO_LARGE', 'x'))).toBe(413);
    expect(httpStatusFor(new AtelierError('E_WEIGHTS_MISSING', 'x'))).toBe(503);
    expect(httpStatusFor(new AtelierError('E_JOB', 'x'))).toBe(404);
  });

  // The compiler already refuses a code outside ERROR_CODES; what it cannot see is a code nobody
  // throws any more, or a README table that has drifted from the codes and their mappings.
  it('every code is thrown somewhere in src outside errors.ts', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const f of readdirSync(dir)) {
        const p = path.join(dir, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts') && p !== path.resolve('src/core/errors.ts')) files.push(p);
      }
    };
    walk(path.resolve('src'));
    const thrown = new Set<string>();
    for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(/AtelierError\(\s*'(E_[A-Z_]+)'/g)) thrown.add(m[1]!);
    const unthrown = Object.keys(ERROR_CODES).filter((c) => !thrown.has(c));
    expect(unthrown, 'codes in ERROR_CODES that no file in src throws').toEqual([]);
  });

  it("README's error table lists every code with its exit code, HTTP status and meaning", () => {
    const readme = readFileSync(path.resolve('README.md'), 'utf8');
    const table = /<!-- errors:start -->\n([\s\S]*?)\n<!-- errors:end -->/.exec(readme);
    expect(table, 'README.md has an <!-- errors:start --> … <!-- errors:end --> table').not.toBeNull();
    const rows = new Map<string, string[]>();
    for (const line of table![1]!.split('\n')) {
      const cells = line.split('|').slice(1, -1).map((c) => c.trim());
      const code = /^`(E_[A-Z_]+)`$/.exec(cells[0] ?? '')?.[1];
      if (code) rows.set(code, cells.slice(1));
    }
    expect([...rows.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const [code, meaning] of Object.entries(ERROR_CODES)) {
      const e = new AtelierError(code as ErrorCode, 'x');
      expect(rows.get(code), code).toEqual([String(exitCodeFor(e)), String(httpStatusFor(e)), meaning]);
    }
  });
});
