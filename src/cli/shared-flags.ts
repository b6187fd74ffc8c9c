import type { Command } from 'commander';
import { DEFAULT_METHOD } from '../methods/index.js';
import { DEFAULT_QUALITY } from './output-options.js';

/** Flags and flag readers that more than one command shares (transfer, eval, compare, texture). */

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
