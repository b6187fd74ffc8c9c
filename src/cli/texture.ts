import type { Command } from 'commander';
import { AtelierError } from '../core/errors.js';
import { DEFAULT_MAX_PIXELS, readImage, writeImage } from '../core/io.js';
import { planOutput } from './output-options.js';
import { parseInteger } from '../core/number-text.js';
import { parseDecimal } from '../core/params.js';
import { ProgressReporter } from '../core/progress.js';
import { Rng } from '../core/rng.js';
import { quiltTexture } from '../methods/patch/quilting.js';
import type { CliCommand } from './command.js';
import { createProgressDisplay } from './progress-display.js';
import { addOutputFlags } from './shared-flags.js';

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


export const texture: CliCommand = {
  register(command: Command) {
    const cmd = command
      .argument('<sample>', 'texture sample image')
      .requiredOption('--size <WxH>', 'size of the texture to make, e.g. 1024x1024')
      .option('--block-size <n>', "block side in pixels (default: a quarter of the sample's short side, within 8–48)")
      .option('--tolerance <t>', 'candidates within this fraction of the best overlap error are chosen at random', '0.1')
      .option('--seed <n>', 'random seed: the same seed gives the same texture', '1');
    addOutputFlags(cmd);
    cmd.action(async (sample: string, opts: Record<string, unknown>) => {
      const warnings: string[] = [];
      const plan = planOutput(opts, { able: false, methodId: 'atelier texture' }, (m) => warnings.push(m));
      const output = plan.output;
      const maxPixels = parseInteger(opts.maxPixels, '--max-pixels', { min: 1 }) ?? DEFAULT_MAX_PIXELS;
      const { width, height } = parseSize(String(opts.size), maxPixels);
      const blockSize = parseInteger(opts.blockSize, '--block-size', { min: 2, max: 1024 });
      const seed = parseInteger(opts.seed, '--seed', { min: 0, max: 4294967295 }) ?? 1;
      const tolerance = parseDecimal(String(opts.tolerance)) ?? NaN;
      if (!(tolerance >= 0 && tolerance <= 1)) {
        throw new AtelierError('E_PARAM', 'Invalid value for --tolerance', { expected: 'a number in [0, 1]', received: JSON.stringify(opts.tolerance) });
      }
      if (!opts.quiet) for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
      const img = await readImage(sample, { name: 'texture sample', maxPixels });
      const display = createProgressDisplay(process.stderr, opts.quiet || opts.json ? 'quiet' : process.stderr.isTTY ? 'bar' : 'lines');
      const reporter = new ProgressReporter(display.listener, 'texture');
      const t0 = performance.now();
      reporter.start();
      // Ctrl-C: quilting gives the event loop a turn every 50 ms, so the signal lands at once.
      const abort = new AbortController();
      const onSigint = () => abort.abort(new Error('interrupted'));
      process.once('SIGINT', onSigint);
      let out;
      try {
        out = await quiltTexture(img, width, height, { ...(blockSize !== undefined && { blockSize }), tolerance, rng: new Rng(seed), progress: reporter, signal: abort.signal });
      } finally {
        process.removeListener('SIGINT', onSigint);
        display.finish();
      }
      reporter.done();
      display.finish();
      await writeImage(out, output, { force: plan.force, bitDepth: plan.bitDepth, quality: plan.quality });
      const seconds = (performance.now() - t0) / 1000;
      if (opts.json) process.stdout.write(JSON.stringify({ ok: true, output, width, height, seed, seconds }, null, 2) + '\n');
      else if (!opts.quiet) process.stderr.write(`wrote ${output} (${width}×${height}, ${seconds.toFixed(2)} s)\n`);
    });
  },
};
