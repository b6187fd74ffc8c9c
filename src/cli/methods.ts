import { describeMethod, type MethodDescription } from '../core/describe.js';
import { describeExpected, kebabCase } from '../core/params.js';
import { FAMILIES } from '../core/registry.js';
import { getMethod, listMethods } from '../methods/index.js';
import type { CliCommand } from './command.js';
import { isModelInstalled } from '../engine/store.js';

function inputsLine(d: MethodDescription): string {
  const parts = ['content'];
  if (d.inputs.style === 'required') parts.push(d.inputs.multiStyle ? 'style…' : 'style');
  if (d.inputs.style === 'optional') parts.push(d.inputs.multiStyle ? '[style…]' : '[style]');
  for (const [name, spec] of Object.entries(d.inputs.extra ?? {})) parts.push(spec.required ? `--${kebabCase(name)}` : `[--${kebabCase(name)}]`);
  return parts.join(' ');
}

function weightsLine(d: MethodDescription): string {
  if (d.weights.length === 0) return 'no weights needed';
  // A method with a network per style (neural.fast): a count here, the list in `atelier methods ID`.
  if (d.weights.length > 3) return `${d.weights.length} models (${d.weights.filter((w) => w.installed).length} installed)`;
  return d.weights.map((w) => `${w.model}: ${w.installed ? 'installed' : 'not installed'}`).join(', ');
}

/** One line per model with what it is (its style and source), for the full view. */
function weightsList(d: MethodDescription): string[] {
  const width = Math.max(...d.weights.map((w) => w.model.length));
  return d.weights.map((w) => `    ${w.model.padEnd(width)}  ${w.installed ? 'installed    ' : 'not installed'}  ${w.description}`);
}

export function formatMethodList(descriptions: MethodDescription[]): string {
  const lines: string[] = [];
  for (const family of Object.keys(FAMILIES) as (keyof typeof FAMILIES)[]) {
    const inFamily = descriptions.filter((d) => d.family === family);
    if (inFamily.length === 0) continue;
    lines.push(`${family} — ${FAMILIES[family]}`);
    const width = Math.max(...inFamily.map((d) => d.id.length));
    for (const d of inFamily) {
      lines.push(`  ${d.id.padEnd(width)}  ${d.summary}`);
      lines.push(`  ${''.padEnd(width)}  inputs: ${inputsLine(d)}; ${weightsLine(d)}`);
    }
    lines.push('');
  }
  lines.push('`atelier methods ID` shows one method in full.');
  return lines.join('\n');
}

export function formatMethod(d: MethodDescription): string {
  const lines = [`${d.id} — ${d.title}`, `  ${d.summary}`];
  if (d.reference) lines.push(`  reference: ${d.reference}`);
  lines.push(`  family:    ${d.family} (${d.familyTitle})`);
  lines.push(`  inputs:    ${inputsLine(d)}`);
  lines.push(`  regions:   ${d.regions === 'native' ? 'pairs label-map regions itself' : 'label-map regions run one by one'}`);
  lines.push(`  weights:   ${weightsLine(d)}`);
  if (d.weights.length > 3) lines.push(...weightsList(d));
  lines.push('  parameters:');
  for (const [key, prop] of Object.entries(d.params.properties)) {
    const shared = d.sharedControls.includes(key) ? ' [shared]' : '';
    const def = prop.default !== undefined ? `, default ${JSON.stringify(prop.default)}` : '';
    lines.push(`    --${kebabCase(key)}: ${describeExpected(prop)}${def}${shared}`);
    if (prop.description) lines.push(`        ${prop.description}`);
  }
  return lines.join('\n');
}

export const methodsCommand: CliCommand = {
  register(command) {
    command
      .argument('[id]', 'a method id')
      .option('--json', 'print as JSON (the same description the server and studio use)')
      .action((id: string | undefined, opts: { json?: boolean }) => {
        const descriptions = (id ? [getMethod(id)] : listMethods()).map((m) => describeMethod(m, isModelInstalled));
        if (opts.json) {
          process.stdout.write(JSON.stringify(id ? descriptions[0] : descriptions, null, 2) + '\n');
        } else {
          process.stdout.write((id ? formatMethod(descriptions[0]!) : formatMethodList(descriptions)) + '\n');
        }
      });
  },
};
