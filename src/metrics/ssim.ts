import { luma } from '../core/color.js';
import type { Image } from '../core/image.js';
import { assertSameShape, channelPart, defineMetric, type MetricResult } from './metric.js';
import { assertWindowFits, ssimStatistics, type SsimWindow } from './ssim-statistics.js';

/**
 * Structural similarity of the output to the content. The headline is the mean of the per-channel
 * SSIMs (scikit-image's `channel_axis` convention); `parts` has each channel and the SSIM of the
 * luma planes (Y′, Rec. 601), which ignores colour changes — the number to read for colour transfer.
 */

/** SSIM of two images of one shape: per channel, their mean, and on luma for RGB. */
export function structuralSimilarity(a: Image, b: Image, window: SsimWindow = {}): MetricResult {
  assertSameShape(a, b, 'SSIM');
  assertWindowFits(a.width, a.height, window);
  const parts: Record<string, number> = {};
  let sum = 0;
  for (let c = 0; c < a.channels; c++) {
    const s = ssimStatistics(a.plane(c), b.plane(c), a.width, a.height, window).ssim;
    parts[channelPart(c, a.channels)] = s;
    sum += s;
  }
  if (a.channels === 3) parts.luma = ssimStatistics(luma(a).data, luma(b).data, a.width, a.height, window).ssim;
  return { value: sum / a.channels, parts };
}

export const ssim = defineMetric({
  id: 'ssim',
  title: 'Structural similarity (SSIM)',
  summary: 'How well the output keeps the content’s structure: Gaussian-window SSIM (σ 1.5), mean of R, G, B; 1 is identical',
  reference: 'Wang, Bovik, Sheikh, Simoncelli 2004, IEEE TIP 13(4)',
  higherIsBetter: true,
  aspect: 'content',
  needs: ['content'],
  compute: ({ output, content }) => structuralSimilarity(output, content!),
});
