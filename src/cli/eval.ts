import { Option } from 'commander';
import { paramsJsonSchema } from '../core/params.js';
import { methodParamsSchema } from '../core/stylize.js';
import { DEFAULT_METHOD, getMethod } from '../methods/index.js';
import type { CliCommand } from './command.js';
import { addEvaluationFlags, EVALUATION_FLAGS, runEvaluationCommand } from './evaluation-command.js';
import { addParamFlags, collectParams } from './flags.js';
import { methodFromArgv } from './shared-flags.js';

/** `atelier eval --pairs pairs.json --method ID [params] --out report/`: one method over every pair, scored. */
export const evalCommand: CliCommand = {
  register(command, argv) {
    let def;
    try {
      def = getMethod(methodFromArgv(argv));
    } catch {
      def = getMethod(DEFAULT_METHOD);
    }
    const schema = paramsJsonSchema(methodParamsSchema(def));
    // A method parameter named like one of eval's own flags keeps eval's meaning.
    const own = { ...schema, properties: Object.fromEntries(Object.entries(schema.properties).filter(([k]) => !EVALUATION_FLAGS.includes(k))) };
    const cmd = command
      .addOption(new Option('-m, --method <id>', 'method id (see `atelier methods`)').default(DEFAULT_METHOD));
    addEvaluationFlags(cmd);
    cmd.addHelpText('after', `\n\`atelier eval --method ID --help\` shows another method's parameters.`);
    addParamFlags(cmd, own, `Parameters of ${def.id}:`);
    cmd.action(async (opts: Record<string, unknown>) => {
      const method = getMethod(String(opts.method));
      // The flags were made for the method named in argv, which is this one.
      const params = collectParams(own, opts);
      await runEvaluationCommand('eval', [{ def: method, params }], opts);
    });
  },
};
