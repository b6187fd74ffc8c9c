import type { Command } from 'commander';
import { AtelierError } from '../core/errors.js';
import { DEFAULT_MAX_PIXELS, formatForPath, readImage, writeImage } from '../core/io.js';
import { ProgressReporter } from '../core/progress.js';
import { Rng } from '../core/rng.js';
import { quiltTexture } from '../methods/patch/quilting.js';
import type { CliCommand } from './commands.js';
import { createProgressDisplay } from './progress-display.js';
import { addOutputFlags } from './transfer.js';

/** `atelier texture style.jpg -o big.png --size 1024x1024`: grow a texture by image quilting. */

function parseSize(value: string, maxPixels: number): { width: number; height: number } {
  const m = /^(\d+)(?:[x×](\d+))?$/i.exec(value.trim());
  const width = m ? Number(m[1]) : NaN;
  const height = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || !(width > 0) || !(height > 0)) {
    throw new AtelierError('E_USAGE', 'Invalid value for --size', { expected: 'WIDTHxHEIGHT or one number for a square, e.g. 1024x768', received: JSON.stringify(value) });
  }
  if (width * height > maxPixels) {
    throw new AtelierError('E_TOO_LARGE', 'The requested texture is too large', {
      expected: `at most ${maxPixels.toLocaleString('en')} pixels`,
      received: `${width}×${height}`,
      hint: 'ask for a smaller --size or raise --max-pixels',
    });
  }
  return { width, height };
}

function intFlag(value: unknown, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new AtelierError('E_PARAM', `Invalid value for ${flag}`, { expected: `an integer in [${min}, ${max}]`, received: JSON.stringify(value) });
  }
  return n;
}

export const texture: CliCommand = {
  register(program: Command) {
    const cmd = program
      .command('texture')
      .description('Synthesise a larger texture from a sample by image quilting (Efros & Freeman 2001).')
      .argument('<sample>', 'texture sample image')
      .requiredOption('--size <WxH>', 'size of the texture to make, e.g. 1024x1024')
      .option('--block-size <n>', "block side in pixels (default: a quarter of the sample's short side, within 8–48)")
      .option('--tolerance <t>', 'candidates within this fraction of the best overlap error are chosen at random', '0.1')
      .option('--seed <n>', 'random seed: the same seed gives the same texture', '1');
    addOutputFlags(cmd);
    cmd.action(async (sample: string, opts: Record<string, unknown>) => {
      const output = String(opts.output);
      formatForPath(output);
      const maxPixels = intFlag(opts.maxPixels, '--max-pixels', 1, Number.MAX_SAFE_INTEGER) ?? DEFAULT_MAX_PIXELS;
      const { width, height } = parseSize(String(opts.size), maxPixels);
      const blockSize = intFlag(opts.blockSize, '--block-size', 2, 1024);
      const seed = intFlag(opts.seed, '--seed', 0, 4294967295) ?? 1;
      const tolerance = Number(opts.tolerance);
      if (!(tolerance >= 0 && tolerance <= 1)) {
        throw new AtelierError('E_PARAM', 'Invalid value for --tolerance', { expected: 'a number in [0, 1]', received: JSON.stringify(opts.tolerance) });
      }
      const img = await readImage(sample, { name: 'texture sample', maxPixels });
      const display = createProgressDisplay(process.stderr, opts.quiet || opts.json ? 'quiet' : process.stderr.isTTY ? 'bar' : 'lines');
      const reporter = new ProgressReporter(display.listener, 'texture');
      const t0 = performance.now();
      reporter.start();
      const out = quiltTexture(img, width, height, { ...(blockSize !== undefined && { blockSize }), tolerance, rng: new Rng(seed), progress: reporter });
      reporter.done();
      display.finish();
      const bitDepth = opts.bitDepth === '16' ? 16 : 8;
      await writeImage(out, output, { force: Boolean(opts.force), bitDepth, quality: Math.min(100, Number(opts.quality) || 92) });
      const seconds = (performance.now() - t0) / 1000;
      if (opts.json) process.stdout.write(JSON.stringify({ ok: true, output, width, height, seed, seconds }, null, 2) + '\n');
      else if (!opts.quiet) process.stderr.write(`wrote ${output} (${width}×${height}, ${seconds.toFixed(2)} s)\n`);
    });
  },
};
