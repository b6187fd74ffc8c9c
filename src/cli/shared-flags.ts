import type { Command } from 'commander';
import { AtelierError } from '../core/errors.js';
import type { Device } from '../engine/runtime.js';
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
    .option('--device <device>', "where neural networks run: 'cpu' (default) or 'cuda' (ONNX Runtime's CUDA provider; falls back to the CPU with a message when it cannot be loaded)")
    .option('--max-pixels <n>', 'refuse inputs with more pixels than this (default 100000000)')
    .option('--bit-depth <bits>', 'bits per sample for PNG/TIFF output: 8 or 16 (default 8)')
    .option('--quality <q>', `quality for JPEG/WebP/AVIF output, an integer in [1, 100] (default ${DEFAULT_QUALITY})`);
}

/**
 * `--device cpu|cuda`: the engine's sessions in this process and in the method threads it starts
 * (they read ATELIER_DEVICE when they load the runtime). A CUDA provider that cannot be loaded is
 * reported once on stderr and the run continues on the CPU. The runtime (and ONNX Runtime with it)
 * loads only here, when a device is asked for.
 */
export async function selectDevice(value: string, quiet: boolean): Promise<void> {
  const { DEVICES, setDevice } = await import('../engine/runtime.js');
  if (!DEVICES.includes(value as Device)) {
    throw new AtelierError('E_USAGE', `Unknown --device ${JSON.stringify(value)}`, { expected: DEVICES.join(' or '), received: value });
  }
  process.env.ATELIER_DEVICE = value;
  setDevice(value as Device, quiet ? () => {} : undefined);
}
