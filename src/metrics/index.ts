import { AtelierError } from '../core/errors.js';
import { nearest } from '../core/params.js';
import type { MetricDefinition } from './metric.js';
import { contentLoss } from './content-loss.js';
import { edgeSsim } from './edge-ssim.js';
import { gramDistance } from './gram.js';
import { histogram } from './histogram-distance.js';
import { lpips } from './lpips.js';
import { lpipsSqueeze } from './lpips-squeeze.js';
import { msSsim } from './ms-ssim.js';
import { psnr } from './psnr.js';
import { ssim } from './ssim.js';
import { styleDistance } from './style.js';
import { swdPatches } from './swd-patches.js';
import { temporal } from './temporal.js';

/**
 * Every metric Atelier ships, as one object literal (like `methods/index.ts`): `MetricId` is
 * inferred from it and `atelier eval` enumerates it. A new metric is one file plus one line here.
 */
export const metrics = {
  ssim,
  'ms-ssim': msSsim,
  psnr,
  'edge-ssim': edgeSsim,
  histogram,
  'swd-patches': swdPatches,
  gram: gramDistance,
  style: styleDistance,
  'content-loss': contentLoss,
  lpips,
  'lpips-squeeze': lpipsSqueeze,
  temporal,
} as const satisfies Record<string, MetricDefinition>;

export type MetricId = keyof typeof metrics;

/** Look a metric up by id; an unknown id fails with the nearest known one suggested. */
export function getMetric(id: string): MetricDefinition {
  const def = (metrics as Record<string, MetricDefinition>)[id];
  if (def) return def;
  const ids = Object.keys(metrics);
  const near = nearest(id, ids);
  throw new AtelierError('E_PARAM', `Unknown metric ${JSON.stringify(id)}`, {
    expected: `one of ${ids.join(', ')}`,
    received: JSON.stringify(id),
    ...(near && { hint: `did you mean ${near}?` }),
  });
}

export function listMetrics(): MetricDefinition[] {
  return Object.values(metrics);
}
