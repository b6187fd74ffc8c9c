import { AtelierError } from '../core/errors.js';
import { camelCase, coerceParam, paramsJsonSchema, sharedControlsSchema } from '../core/params.js';
import { methodParamsSchema } from '../core/stylize.js';
import { getMethod } from '../methods/index.js';
import type { CliCommand } from './command.js';
import { addEvaluationFlags, runEvaluationCommand } from './evaluation-command.js';
import { addParamFlags, collectParams } from './flags.js';

/**
 * `atelier compare --pairs pairs.json --methods a,b,c --out sheet/`: several methods on the same
 * pairs, side by side — contact sheets plus the evaluation report. Shared controls (--max-size,
 * --seed, --strength, --preserve-color) apply to every method; a method's own parameters are set
 * with `--set METHOD.PARAM=VALUE` (repeatable), e.g. `--set color.reinhard.strength=0.5`.
 */

function collectSet(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Parse `--set` assignments into params per method id. */
export function parseSetFlags(assignments: string[], methodIds: string[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = Object.fromEntries(methodIds.map((id) => [id, {}]));
  for (const a of assignments) {
    const eq = a.indexOf('=');
    const key = eq < 0 ? '' : a.slice(0, eq);
    const dot = key.lastIndexOf('.');
    const id = key.slice(0, dot);
    if (eq < 0 || dot <= 0 || !methodIds.includes(id)) {
      throw new AtelierError('E_USAGE', `Invalid --set ${JSON.stringify(a)}`, {
        expected: `METHOD.PARAM=VALUE with METHOD one of ${methodIds.join(', ')}`,
        received: JSON.stringify(a),
      });
    }
    const param = camelCase(key.slice(dot + 1));
    const schema = paramsJsonSchema(methodParamsSchema(getMethod(id)));
    out[id]![param] = coerceParam(schema.properties[param], a.slice(eq + 1));
  }
  return out;
}

export const compareCommand: CliCommand = {
  register(command) {
    const cmd = command
      .requiredOption('--methods <list>', 'method ids, comma-separated (see `atelier methods`)')
      .option('--set <assignment>', "a method's own parameter, METHOD.PARAM=VALUE (repeatable)", collectSet);
    addEvaluationFlags(cmd);
    const shared = paramsJsonSchema(sharedControlsSchema);
    addParamFlags(cmd, shared, 'Shared controls, applied to every method:');
    cmd.action(async (opts: Record<string, unknown>) => {
      const ids = String(opts.methods).split(',').map((s) => s.trim()).filter((s) => s !== '');
      if (ids.length === 0) throw new AtelierError('E_USAGE', 'No methods to compare', { expected: 'e.g. --methods color.reinhard,patch.synthesis' });
      if (new Set(ids).size !== ids.length) throw new AtelierError('E_USAGE', 'A method is named twice in --methods', { received: ids.join(',') });
      const defs = ids.map(getMethod);
      const common = collectParams(shared, opts);
      const own = parseSetFlags((opts.set as string[] | undefined) ?? [], ids);
      await runEvaluationCommand(
        'compare',
        defs.map((def) => ({ def, params: { ...common, ...own[def.id] } })),
        opts,
      );
    });
  },
};
