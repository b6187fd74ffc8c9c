import type { Image } from '../core/image.js';
import { assertSameShape, channelPart, defineMetric, type MetricResult } from './metric.js';

/**
 * Peak signal-to-noise ratio, 10·log10(range² / MSE) over all channels, range 1. Identical images
 * have an infinite PSNR; the metric reports it as PSNR_CAP_DB so results stay finite JSON numbers.
 */

export const PSNR_CAP_DB = 100;

export function peakSignalToNoise(a: Image, b: Image, dataRange = 1): MetricResult {
  assertSameShape(a, b, 'PSNR');
  const n = a.pixels;
  const parts: Record<string, number> = {};
  let total = 0;
  for (let c = 0; c < a.channels; c++) {
    const pa = a.plane(c);
    const pb = b.plane(c);
    let s = 0;
    for (let i = 0; i < n; i++) {
      const d = pa[i]! - pb[i]!;
      s += d * d;
    }
    total += s;
    parts[channelPart(c, a.channels)] = toDb(s / n, dataRange);
  }
  const mse = total / (n * a.channels);
  parts.mse = mse;
  return { value: toDb(mse, dataRange), parts };
}

function toDb(mse: number, range: number): number {
  return mse === 0 ? PSNR_CAP_DB : Math.min(PSNR_CAP_DB, 10 * Math.log10((range * range) / mse));
}

export const psnr = defineMetric({
  id: 'psnr',
  title: 'Peak signal-to-noise ratio (PSNR)',
  summary: 'Pixel fidelity to the content in dB (10·log10(1/MSE)); identical images report 100 dB',
  higherIsBetter: true,
  aspect: 'content',
  needs: ['content'],
  compute: ({ output, content }) => peakSignalToNoise(output, content!),
});
