import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { AtelierError } from '../core/errors.js';
import { writeFileAtomic, writeImage } from '../core/io.js';
import { camelCase, coerceParam, kebabCase, paramsJsonSchema } from '../core/params.js';
import { methodParamsSchema } from '../core/stylize.js';
import { runMethodInThread, type ThreadInputs } from './run-method-thread.js';
import { DEFAULT_METHOD, getMethod } from '../index.js';
import type { CliCommand } from './commands.js';
import { addParamFlags, collectParams, refuseSwitchValues, switchFlags } from './flags.js';
import { DEFAULT_QUALITY, intInRange, planOutput } from './output-options.js';
import { createProgressDisplay } from './progress-display.js';

/** The method named on the command line (before full parsing, so its flags can be added). */
export function methodFromArgv(argv: readonly string[]): string {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if ((a === '--method' || a === '-m') && i + 1 < argv.length) return argv[i + 1]!;
    if (a.startsWith('--method=')) return a.slice('--method='.length);
  }
  return DEFAULT_METHOD;
}

/** Bar on a terminal, plain lines otherwise, nothing with --quiet or --json. */
export function progressMode(opts: { quiet?: boolean; json?: boolean }): 'bar' | 'lines' | 'quiet' {
  if (opts.quiet || opts.json) return 'quiet';
  return process.stderr.isTTY ? 'bar' : 'lines';
}

/** Flags every image-producing command shares: output, overwrite, verbosity, limits. */
export function addOutputFlags(cmd: Command): Command {
  return cmd
    .requiredOption('-o, --output <file>', 'output image; the format follows the extension (.png .jpg .webp .tif .avif, .svg for vector methods)')
    .option('-f, --force', 'overwrite the output if it exists')
    .option('-q, --quiet', 'print nothing but errors')
    .option('--json', 'print the result (or error) as JSON on stdout')
    .option('--threads <n>', 'threads to use (default: all cores)')
    .option('--max-pixels <n>', 'refuse inputs with more pixels than this (default 100000000)')
    .option('--bit-depth <bits>', 'bits per sample for PNG/TIFF output: 8 or 16 (default 8)')
    .option('--quality <q>', `quality for JPEG/WebP/AVIF output, an integer in [1, 100] (default ${DEFAULT_QUALITY})`);
}

/** A flag that must be a positive integer (or absent), written in decimals. */
export function positiveInt(value: string | undefined, flag: string): number | undefined {
  return intInRange(value, flag, 1, Number.MAX_SAFE_INTEGER);
}

export const transfer: CliCommand = {
  register(program, argv) {
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
    const cmd = program
      .command('transfer')
      .description(`Restyle <content> after [style...] with a method (default ${DEFAULT_METHOD}).`)
      .argument('<content>', 'content image')
      .argument('[style...]', 'style image(s); several are blended (methods that accept it)')
      .addOption(new Option('-m, --method <id>', 'method id (see `atelier methods`)').default(DEFAULT_METHOD))
      .option('--mask <file>', 'greyscale mask of where to apply the effect, or a colour label map with --style-mask')
      .option('--style-mask <file>', 'colour label map of the style, paired with --mask by colour')
      .option('--style-weights <list>', 'blend weights of several style images, e.g. 0.7,0.3');
    for (const [name, spec] of extras) cmd.option(`--${kebabCase(name)} <file>`, spec.description);
    addOutputFlags(cmd);
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
      const maxPixels = positiveInt(opts.maxPixels as string | undefined, '--max-pixels');
      const threads = positiveInt(opts.threads as string | undefined, '--threads');
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
