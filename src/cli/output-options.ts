import { statSync } from 'node:fs';
import path from 'node:path';
import { AtelierError } from '../core/errors.js';
import { formatForPath, type OutputFormat } from '../core/io.js';
import { parseInteger } from '../core/number-text.js';

/**
 * The output flags of an image-producing command (`-o`, `--force`, `--bit-depth`, `--quality`),
 * checked all at once before any work: a run of minutes must not end in "cannot write .svg" or in
 * a file quietly written at another quality or depth than asked.
 */

export interface OutputPlan {
  output: string;
  /** 'svg' when the output is a vector file (only methods that draw strokes make one). */
  kind: 'raster' | 'svg';
  format?: OutputFormat;
  force: boolean;
  bitDepth: 8 | 16;
  quality: number;
}

export const DEFAULT_QUALITY = 92;
const LOSSY: readonly OutputFormat[] = ['jpeg', 'webp', 'avif'];
const DEEP: readonly OutputFormat[] = ['png', 'tiff'];

/**
 * Check the output flags. `vector`: the method can draw an SVG. `warn` hears flags that do
 * nothing for the chosen format (a quality for a PNG).
 */
export function planOutput(opts: Record<string, unknown>, vector: { able: boolean; methodId?: string }, warn: (m: string) => void): OutputPlan {
  const output = String(opts.output);
  const ext = path.extname(output).toLowerCase();
  const kind = ext === '.svg' ? 'svg' : 'raster';
  let format: OutputFormat | undefined;
  if (kind === 'svg') {
    if (!vector.able) {
      throw new AtelierError('E_FORMAT', `${vector.methodId ?? 'This command'} produces raster images only`, {
        expected: 'an output ending in .png, .jpg, .webp, .tif or .avif (.svg is for the stroke-painting methods)',
        received: JSON.stringify(output),
      });
    }
  } else {
    format = formatForPath(output);
  }

  let bitDepth: 8 | 16 = 8;
  if (opts.bitDepth !== undefined) {
    const b = String(opts.bitDepth).trim();
    if (b !== '8' && b !== '16') throw new AtelierError('E_USAGE', 'Invalid value for --bit-depth', { expected: '8 or 16', received: JSON.stringify(String(opts.bitDepth)) });
    bitDepth = b === '16' ? 16 : 8;
    if (bitDepth === 16 && !(format && DEEP.includes(format))) {
      throw new AtelierError('E_USAGE', `--bit-depth 16 cannot be written as ${format ?? 'SVG'}`, {
        expected: 'an output ending in .png or .tif for 16 bits per sample',
        received: JSON.stringify(output),
      });
    }
  }
  const quality = parseInteger(opts.quality, '--quality', { min: 1, max: 100 });
  if (quality !== undefined && !(format && LOSSY.includes(format))) {
    warn(`--quality applies to JPEG, WebP and AVIF; ${format ? format.toUpperCase() : 'SVG'} output is lossless, so it is ignored`);
  }

  // Where it goes: the directory must exist, and an existing file needs --force.
  const force = Boolean(opts.force);
  const dir = path.dirname(path.resolve(output));
  const dirStat = statSync(dir, { throwIfNoEntry: false });
  if (!dirStat?.isDirectory()) {
    throw new AtelierError('E_OUTPUT_WRITE', `Cannot write ${JSON.stringify(output)}`, {
      expected: 'an output path in an existing directory',
      received: dirStat ? `${dir}, which is a file` : `a directory that does not exist (${dir})`,
      hint: 'create the directory first',
    });
  }
  const existing = statSync(output, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw new AtelierError('E_OUTPUT_WRITE', `Cannot write ${JSON.stringify(output)}`, { expected: 'a file name', received: 'a directory' });
  if (existing && !force) {
    throw new AtelierError('E_OUTPUT_EXISTS', `Refusing to overwrite ${JSON.stringify(output)}`, { hint: 'pass --force to replace it, or choose another output name' });
  }
  return { output, kind, ...(format && { format }), force, bitDepth, quality: quality ?? DEFAULT_QUALITY };
}
