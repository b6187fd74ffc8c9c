import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { AtelierError } from '../core/errors.js';
import { parseInteger } from '../core/number-text.js';
import { parseMemorySize } from '../core/memory-budget.js';
import { writeFileAtomic, writeImage } from '../core/io.js';
import { camelCase, coerceParam, kebabCase, paramsJsonSchema } from '../core/params.js';
import { methodParamsSchema } from '../core/stylize.js';
import { runMethodInThread, type ThreadInputs } from './run-method-thread.js';
import { DEFAULT_METHOD, getMethod } from '../methods/index.js';
import type { CliCommand } from './command.js';
import { addParamFlags, collectParams, refuseSwitchValues, switchFlags } from './flags.js';
import { planOutput } from './output-options.js';
import { createProgressDisplay } from './progress-display.js';
import { addOutputFlags, methodFromArgv, progressMode, selectDevice } from './shared-flags.js';

export const transfer: CliCommand = {
  register(command, argv) {
    // An unknown method must not break `atelier --help`: fall back to the default's flags and let
    // the action report the unknown id with a suggestion.
    const requested = methodFromArgv(argv);
    let def;
    try {
      def = getMethod(requested);
    } catch {
      def = getMethod(DEFAULT_METHOD);
    }
    const schema = paramsJsonSchema(methodParamsSchema(def));
    const extras = Object.entries(def.inputs.extra ?? {});
    const cmd = command
      .argument('<content>', 'content image')
      .argument('[style...]', 'style image(s); several are blended (methods that accept it)')
      .addOption(new Option('-m, --method <id>', 'method id (see `atelier methods`)').default(DEFAULT_METHOD))
      .option('--mask <file>', 'greyscale mask of where to apply the effect, or a colour label map with --style-mask')
      .option('--style-mask <file>', 'colour label map of the style, paired with --mask by colour')
      .option('--style-weights <list>', 'blend weights of several style images, e.g. 0.7,0.3');
    for (const [name, spec] of extras) cmd.option(`--${kebabCase(name)} <file>`, spec.description);
    addOutputFlags(cmd);
    cmd.option('--max-memory <size>', 'refuse, before any work, a run estimated to need more memory than this, e.g. 2G (default: half the RAM, at most 8G; ATELIER_MAX_MEMORY)');
    cmd.addHelpText('after', `\n\`atelier transfer --method ID --help\` shows another method's parameters.`);
    addParamFlags(cmd, schema, `Parameters of ${def.id} and the shared controls:`);
    const switches = switchFlags(schema);
    cmd.action(async (content: string, styles: string[], opts: Record<string, unknown>) => {
      const method = getMethod(String(opts.method));
      // Every usage error before any work (exit 2): switches given a value, the output's format,
      // depth and quality, the numeric flags, then the params themselves.
      refuseSwitchValues(argv, [content, ...styles], switches, existsSync);
      const warnings: string[] = [];
      const plan = planOutput(opts, { able: method.vectorOutput === true, methodId: method.id }, (m) => warnings.push(m));
      const maxPixels = parseInteger(opts.maxPixels as string | undefined, '--max-pixels');
      const threads = parseInteger(opts.threads as string | undefined, '--threads');
      if (opts.device !== undefined) await selectDevice(String(opts.device), Boolean(opts.quiet));
      const maxMemoryBytes = opts.maxMemory === undefined ? undefined : parseMemorySize(String(opts.maxMemory), '--max-memory');
      if (!opts.quiet) for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
      const styleWeights = opts.styleWeights === undefined ? undefined : (coerceParam({ type: 'array', items: { type: 'number' } }, String(opts.styleWeights)) as number[]);
      const extra: Record<string, string> = {};
      for (const [name] of extras) {
        const v = opts[camelCase(kebabCase(name))];
        if (typeof v === 'string') extra[name] = v;
      }
      const inputs: ThreadInputs = {
        content,
        ...(styles.length > 0 && { style: styles.length === 1 ? styles[0]! : styles }),
        ...(styleWeights && { styleWeights }),
        ...(typeof opts.mask === 'string' && { mask: opts.mask }),
        ...(typeof opts.styleMask === 'string' && { styleMask: opts.styleMask }),
        extra,
      };
      const params = collectParams(paramsJsonSchema(methodParamsSchema(method)), opts);
      const display = createProgressDisplay(process.stderr, progressMode(opts));
      const abort = new AbortController();
      const onSigint = () => abort.abort(new Error('interrupted'));
      process.once('SIGINT', onSigint);
      try {
        // On a thread of its own: Ctrl-C stops any method within a fraction of a second.
        const result = await runMethodInThread(method.id, inputs, params, {
          onProgress: display.listener,
          signal: abort.signal,
          wantSvg: plan.kind === 'svg',
          ...(maxPixels !== undefined && { maxPixels }),
          ...(maxMemoryBytes !== undefined && { maxMemoryBytes }),
          ...(threads !== undefined && { threads }),
          log: {
            debug() {},
            info: (m) => opts.quiet || process.stderr.write(`${m}\n`),
            warn: (m) => opts.quiet || process.stderr.write(`warning: ${m}\n`),
          },
        });
        display.finish();
        const output = plan.output;
        if (plan.kind === 'svg') {
          if (result.svg === undefined) throw new AtelierError('E_INTERNAL', `${method.id} declares vector output but drew no SVG`);
          await writeFileAtomic(output, result.svg, { force: plan.force });
        } else {
          await writeImage(result.image, output, { force: plan.force, bitDepth: plan.bitDepth, quality: plan.quality });
        }
        if (opts.json) {
          process.stdout.write(JSON.stringify({ ok: true, output: plan.output, params: result.params, timings: result.timings, meta: result.meta }, null, 2) + '\n');
        } else if (!opts.quiet) {
          process.stderr.write(`wrote ${plan.output} (${result.image.width}×${result.image.height}, ${method.id}, ${(result.timings.totalMs / 1000).toFixed(2)} s)\n`);
        }
      } finally {
        display.finish();
        process.removeListener('SIGINT', onSigint);
      }
    });
  },
};
