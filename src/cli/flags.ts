import { Option, type Command } from 'commander';
import { AtelierError } from '../core/errors.js';
import { coerceParam, describeExpected, kebabCase, type JsonObjectSchema, type JsonPropertySchema } from '../core/params.js';

/**
 * CLI flags generated from a method's params JSON Schema (itself generated from its zod schema):
 * kebab-case names, the range and default in the help text, `--no-x` for booleans that default on.
 * Values stay strings here and are coerced and validated by the schema, so a bad value gets the
 * same message on the CLI as over HTTP.
 */

/** `heading`: the help section the flags are listed under (e.g. "Parameters of color.reinhard:"). */
export function addParamFlags(cmd: Command, schema: JsonObjectSchema, heading?: string): void {
  const grouped = (o: Option) => (heading ? o.helpGroup(heading) : o);
  for (const [key, prop] of Object.entries(schema.properties)) {
    const flag = kebabCase(key);
    const type = Array.isArray(prop.type) ? prop.type[0] : prop.type;
    const help = helpText(prop);
    if (type === 'boolean') {
      cmd.addOption(grouped(new Option(`--${flag}`, help)));
      cmd.addOption(grouped(new Option(`--no-${flag}`, `turn off --${flag}`).hideHelp(prop.default !== true)));
    } else {
      const opt = new Option(`--${flag} <${placeholder(prop)}>`, help);
      if (prop.enum) opt.choices(prop.enum.map(String));
      // A list flag may be repeated (`--lora a.safetensors --lora b.safetensors:0.5`): the values
      // join as one comma-separated list, which the schema splits.
      if (type === 'array') opt.argParser((value: string, previous: unknown) => (typeof previous === 'string' ? `${previous},${value}` : value));
      cmd.addOption(grouped(opt));
    }
  }
}

/** The `--x` / `--no-x` switches a schema's booleans become. */
export function switchFlags(schema: JsonObjectSchema): Set<string> {
  const out = new Set<string>();
  for (const [key, prop] of Object.entries(schema.properties)) {
    const type = Array.isArray(prop.type) ? prop.type[0] : prop.type;
    if (type === 'boolean') {
      out.add(`--${kebabCase(key)}`);
      out.add(`--no-${kebabCase(key)}`);
    }
  }
  return out;
}

/**
 * A switch takes no value, so in `--preserve-color maybe` the word becomes the next positional
 * argument (an image path). Refuse that before any work when the word is not a file.
 */
export function refuseSwitchValues(argv: readonly string[], positionals: readonly string[], switches: Set<string>, exists: (p: string) => boolean): void {
  for (let i = 1; i < argv.length; i++) {
    const flag = argv[i - 1]!;
    const value = argv[i]!;
    if (!switches.has(flag) || !positionals.includes(value) || exists(value)) continue;
    const on = flag.startsWith('--no-') ? `--${flag.slice(5)}` : flag;
    throw new AtelierError('E_USAGE', `${flag} is a switch and takes no value`, {
      received: `${flag} ${JSON.stringify(value)} (the word would be read as an image path, and no such file exists)`,
      hint: `write ${on} alone to turn it on, --no-${on.slice(2)} to turn it off`,
    });
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
