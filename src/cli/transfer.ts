import path from 'node:path';
import { Command, Option } from 'commander';
import { AtelierError } from '../core/errors.js';
import { formatForPath, writeFileAtomic, writeImage } from '../core/io.js';
import { camelCase, coerceParam, kebabCase, paramsJsonSchema } from '../core/params.js';
import { methodParamsSchema, runMethod, type StylizeInputs } from '../core/stylize.js';
import { DEFAULT_METHOD, getMethod } from '../index.js';
import type { CliCommand } from './commands.js';
import { addParamFlags, collectParams } from './flags.js';
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
    .option('--bit-depth <bits>', 'bits per sample for PNG/TIFF output: 8 or 16', '8')
    .option('--quality <q>', 'quality for JPEG/WebP/AVIF output, 1–100', '92');
}

/** A flag that must be a positive integer (or absent). */
export function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    throw new AtelierError('E_USAGE', `Invalid value for ${flag}`, { expected: 'a positive integer', received: JSON.stringify(value) });
  }
  return n;
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
    cmd.addHelpText(
      'after',
      `\nThe parameter flags above are those of ${def.id} and the shared controls; \`atelier transfer --method ID --help\` shows another method's.`,
    );
    addParamFlags(cmd, schema);
    cmd.action(async (content: string, styles: string[], opts: Record<string, unknown>) => {
      const method = getMethod(String(opts.method));
      const output = String(opts.output);
      const wantsSvg = path.extname(output).toLowerCase() === '.svg';
      if (!wantsSvg) formatForPath(output); // fail on a bad extension before any work
      const styleWeights = opts.styleWeights === undefined ? undefined : (coerceParam({ type: 'array', items: { type: 'number' } }, String(opts.styleWeights)) as number[]);
      const extra: Record<string, string> = {};
      for (const [name] of extras) {
        const v = opts[camelCase(kebabCase(name))];
        if (typeof v === 'string') extra[name] = v;
      }
      const inputs: StylizeInputs = {
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
        const maxPixels = positiveInt(opts.maxPixels as string | undefined, '--max-pixels');
        const threads = positiveInt(opts.threads as string | undefined, '--threads');
        const result = await runMethod(method, inputs, params, {
          onProgress: display.listener,
          signal: abort.signal,
          flagStyle: true,
          ...(maxPixels !== undefined && { maxPixels }),
          ...(threads !== undefined && { threads }),
          log: {
            debug() {},
            info: (m) => opts.quiet || process.stderr.write(`${m}\n`),
            warn: (m) => opts.quiet || process.stderr.write(`warning: ${m}\n`),
          },
        });
        display.finish();
        if (wantsSvg) {
          if (result.svg === undefined) {
            throw new AtelierError('E_FORMAT', `${method.id} produces raster images only`, {
              expected: 'an output ending in .png, .jpg, .webp, .tif or .avif',
              received: JSON.stringify(output),
            });
          }
          await writeFileAtomic(output, result.svg, { force: Boolean(opts.force) });
        } else {
          const bitDepth = opts.bitDepth === '16' ? 16 : 8;
          const quality = positiveInt(String(opts.quality), '--quality') ?? 92;
          await writeImage(result.image, output, { force: Boolean(opts.force), bitDepth, quality: Math.min(100, quality) });
        }
        if (opts.json) {
          process.stdout.write(JSON.stringify({ ok: true, output, params: result.params, timings: result.timings, meta: result.meta }, null, 2) + '\n');
        } else if (!opts.quiet) {
          process.stderr.write(`wrote ${output} (${result.image.width}×${result.image.height}, ${method.id}, ${(result.timings.totalMs / 1000).toFixed(2)} s)\n`);
        }
      } finally {
        display.finish();
        process.removeListener('SIGINT', onSigint);
      }
    });
  },
};
