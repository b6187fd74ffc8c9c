import { Option, type Command } from 'commander';
import { coerceParam, describeExpected, kebabCase, type JsonObjectSchema, type JsonPropertySchema } from '../core/params.js';

/**
 * CLI flags generated from a method's params JSON Schema (itself generated from its zod schema):
 * kebab-case names, the range and default in the help text, `--no-x` for booleans that default on.
 * Values stay strings here and are coerced and validated by the schema, so a bad value gets the
 * same message on the CLI as over HTTP.
 */

export function addParamFlags(cmd: Command, schema: JsonObjectSchema): void {
  for (const [key, prop] of Object.entries(schema.properties)) {
    const flag = kebabCase(key);
    const type = Array.isArray(prop.type) ? prop.type[0] : prop.type;
    const help = helpText(prop);
    if (type === 'boolean') {
      cmd.addOption(new Option(`--${flag}`, help));
      cmd.addOption(new Option(`--no-${flag}`, `turn off --${flag}`).hideHelp(prop.default !== true));
    } else {
      const opt = new Option(`--${flag} <${placeholder(prop)}>`, help);
      if (prop.enum) opt.choices(prop.enum.map(String));
      cmd.addOption(opt);
    }
  }
}

function placeholder(p: JsonPropertySchema): string {
  const type = Array.isArray(p.type) ? p.type[0] : p.type;
  if (p.enum) return 'choice';
  if (type === 'integer') return 'int';
  if (type === 'number') return 'number';
  if (type === 'array') return 'list';
  return 'value';
}

function helpText(p: JsonPropertySchema): string {
  const parts = [p.description ?? ''];
  const expected = describeExpected(p);
  const facts: string[] = [];
  if (!p.enum && p.type !== 'boolean') facts.push(expected);
  if (p.default !== undefined) facts.push(`default ${JSON.stringify(p.default)}`);
  if (facts.length > 0) parts.push(`(${facts.join(', ')})`);
  return parts.filter((s) => s !== '').join(' ');
}

/** Collect the parsed flag values back into params, keyed by the schema's own names. */
export function collectParams(schema: JsonObjectSchema, opts: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, prop] of Object.entries(schema.properties)) {
    const v = opts[key];
    if (v === undefined) continue;
    const type = Array.isArray(prop.type) ? prop.type[0] : prop.type;
    // `--x` then `--no-x` are both defined, so commander leaves the value undefined unless one is given.
    if (type === 'boolean') {
      if (typeof v === 'boolean') out[key] = v;
      continue;
    }
    out[key] = typeof v === 'string' ? coerceParam(prop, v) : v;
  }
  return out;
}
