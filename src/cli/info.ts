import { imageInfo, readImage } from '../core/io.js';
import type { CliCommand } from './command.js';

export const info: CliCommand = {
  register(command) {
    command
      .argument('<image>', 'image file')
      .option('--json', 'print as JSON')
      .action(async (file: string, opts: { json?: boolean }) => {
        const header = await imageInfo(file);
        const img = await readImage(file, { maxPixels: Number.POSITIVE_INFINITY, firstFrame: true });
        const mean = Array.from({ length: img.channels }, (_, c) => {
          const p = img.plane(c);
          let s = 0;
          for (let i = 0; i < p.length; i++) s += p[i]!;
          return s / p.length;
        });
        const result = { file, ...header, megapixels: (header.width * header.height) / 1e6, meanRgb: mean };
        if (opts.json) {
          process.stdout.write(JSON.stringify(result, null, 2) + '\n');
          return;
        }
        const lines = [
          `${file}`,
          `  format:      ${header.format}${header.isPalette ? ' (palette)' : ''}`,
          `  size:        ${header.width}×${header.height} (${result.megapixels.toFixed(2)} MP)`,
          `  channels:    ${header.channels}${header.hasAlpha ? ' (with alpha)' : ''}, ${header.depth}, ${header.space}`,
          `  orientation: ${header.orientation ?? 1}${header.orientation && header.orientation !== 1 ? ' (applied when read)' : ''}`,
          `  ICC profile: ${header.hasIccProfile ? 'yes (converted to sRGB when read)' : 'no'}`,
          ...(header.pages > 1 ? [`  frames:      ${header.pages} (an animation or multi-page file; mean of the first)`] : []),
          `  file size:   ${header.bytes.toLocaleString('en')} bytes`,
          `  mean RGB:    ${mean.map((v) => v.toFixed(3)).join(' ')}`,
        ];
        process.stdout.write(lines.join('\n') + '\n');
      });
  },
};
