import { z } from 'zod';
import { AtelierError, describeValue } from './errors.js';

/**
 * One zod schema per method is the single source of its parameters: TypeScript type, runtime
 * validation, CLI flags, HTTP schema and the studio's form. This module turns schemas into those
 * other shapes and turns zod's issues into one teaching sentence each.
 */

export type ParamsSchema = z.ZodObject<z.ZodRawShape>;

/** Controls every method honours where they make sense, implemented once in the pipeline. */
export const sharedControlsSchema = z.object({
  strength: z
    .number()
    .min(0)
    .max(1)
    .default(1)
    .describe('How much of the effect to apply: 0 returns the content, 1 the full result'),
  preserveColor: z
    .boolean()
    .default(false)
    .describe("Keep the content's colours: transfer lightness only, chrominance stays the content's"),
  maxSize: z
    .number()
    .int()
    .min(8)
    .max(65536)
    .optional()
    .describe('Largest side of the working image in pixels (default: keep the input size)'),
  seed: z.number().int().min(0).max(4294967295).default(1).describe('Random seed: the same seed gives the same result'),
});

export type SharedControls = z.output<typeof sharedControlsSchema>;
export const SHARED_CONTROL_KEYS = Object.keys(sharedControlsSchema.shape) as (keyof SharedControls)[];

/** JSON Schema (draft 2020-12) of a params schema, as the input side (defaults optional). */
export function paramsJsonSchema(schema: ParamsSchema): JsonObjectSchema {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonObjectSchema;
  delete (json as { $schema?: string }).$schema;
  return json;
}

export interface JsonPropertySchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
  enum?: unknown[];
  items?: JsonPropertySchema;
  anyOf?: JsonPropertySchema[];
}

export interface JsonObjectSchema {
  type: 'object';
  properties: Record<string, JsonPropertySchema>;
  required?: string[];
}

export function kebabCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

export function camelCase(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A human description of what a property accepts: "a number in [0, 1]", "one of a, b". */
export function describeExpected(p: JsonPropertySchema): string {
  if (p.enum) return `one of ${p.enum.map((v) => String(v)).join(', ')}`;
  const type = Array.isArray(p.type) ? p.type[0] : p.type;
  const lo = p.minimum ?? p.exclusiveMinimum;
  const hi = p.maximum ?? p.exclusiveMaximum;
  const range =
    lo !== undefined && hi !== undefined && Math.abs(hi) < 1e15
      ? ` in ${p.exclusiveMinimum !== undefined ? '(' : '['}${lo}, ${hi}${p.exclusiveMaximum !== undefined ? ')' : ']'}`
      : lo !== undefined
        ? ` ≥ ${lo}`
        : hi !== undefined && Math.abs(hi) < 1e15
          ? ` ≤ ${hi}`
          : '';
  switch (type) {
    case 'integer':
      return p.multipleOf !== undefined && p.multipleOf > 1 ? `a multiple of ${p.multipleOf}${range}` : `an integer${range}`;
    case 'number':
      return `a number${range}`;
    case 'boolean':
      return 'true or false';
    case 'string':
      return 'text';
    case 'array':
      return `a list of ${p.items ? describeExpected(p.items).replace(/^an? /, '') + 's' : 'values'}`;
    default:
      return type ?? 'a value';
  }
}

/**
 * Validate raw params against a method schema (merged with the shared controls).
 * Unknown keys are refused (a typo must not silently do nothing); the error names the nearest key.
 * `flagStyle` decides how parameter names appear in messages: CLI users see `--max-size`.
 */
export function parseParams<S extends ParamsSchema>(
  schema: S,
  raw: Record<string, unknown>,
  options: { methodId?: string; flagStyle?: boolean } = {},
): z.output<S> {
  const result = schema.strict().safeParse(raw, { reportInput: true });
  if (result.success) return result.data as z.output<S>;
  const json = paramsJsonSchema(schema);
  const issue = result.error.issues[0]!;
  const name = (key: string) => (options.flagStyle ? `--${kebabCase(key)}` : key);
  const where = options.methodId ? ` of ${options.methodId}` : '';
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const known = Object.keys(json.properties);
    const near = nearest(key, known);
    throw new AtelierError('E_PARAM', `Unknown parameter ${name(key)}${where}`, {
      expected: `one of ${known.map(name).join(', ')}`,
      received: name(key),
      ...(near && { hint: `did you mean ${name(near)}?` }),
      subject: key,
    });
  }
  const key = issue.path.map(String).join('.');
  const top = String(issue.path[0] ?? '');
  const prop = json.properties[top];
  const input = 'input' in issue ? issue.input : raw[top];
  throw new AtelierError('E_PARAM', `Invalid value for ${name(key)}${where}`, {
    expected: prop ? describeExpected(prop) : issue.message,
    received: describeValue(input === null && typeof raw[top] === 'number' ? raw[top] : input),
    subject: key,
  });
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The candidate closest to `word`, if it is close enough to be a plausible typo. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** A decimal number written out (`12`, `-0.5`, `1e3`), or undefined: never hex, binary or blank. */
export function parseDecimal(value: string): number | undefined {
  const t = value.trim();
  return DECIMAL.test(t) ? Number(t) : undefined;
}

/**
 * Convert a string from the command line or a form field into the type its schema property wants.
 * Anything unparseable is passed through as the string so that validation reports it.
 */
export function coerceParam(p: JsonPropertySchema | undefined, value: string): unknown {
  if (!p) return value;
  const type = Array.isArray(p.type) ? p.type[0] : p.type ?? p.anyOf?.find((a) => a.type)?.type;
  switch (type) {
    case 'number':
    case 'integer': {
      // Decimal notation only: Number() would also read "0x1", "0b1", "Infinity" and "" as numbers,
      // so `--strength 0x1` would silently mean 1.
      const t = value.trim();
      if (DECIMAL.test(t)) return Number(t);
      return t.toLowerCase() === 'nan' ? NaN : value;
    }
    case 'boolean':
      if (/^(true|yes|1|on)$/i.test(value)) return true;
      if (/^(false|no|0|off)$/i.test(value)) return false;
      return value;
    case 'array': {
      const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
      return items.map((s) => coerceParam(p.items, s));
    }
    default:
      return value;
  }
}

/**
 * Check the cross-field refinements (`.superRefine`, `.refine`) of a method's own params schema
 * against params already parsed by `parseParams`. Merging a schema's shape with the shared controls
 * drops its refinements, so the pipeline runs this right after parsing, for every method, and the
 * error carries the rule's own message: "radius must be at least …, received …".
 */
export function checkParamRules(schema: ParamsSchema, params: Record<string, unknown>, methodId: string): void {
  const own = Object.fromEntries(Object.keys(schema.shape).map((k) => [k, params[k]]));
  const result = schema.safeParse(own);
  if (result.success) return;
  const issue = result.error.issues[0]!;
  const key = issue.path.map(String).join('.');
  throw new AtelierError('E_PARAM', `Invalid combination of parameters of ${methodId}: ${issue.message}`, {
    ...(key !== '' && { subject: key }),
  });
}
