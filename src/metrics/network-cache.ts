import { AtelierError } from '../core/errors.js';
import { isModelInstalled } from '../engine/store.js';
import type { MetricContext } from './metric.js';

export type WeightsSource = 'installed' | 'random';

/**
 * The network a neural metric scores with, built once per weights source and thread count and
 * shared by every call. Installed weights are used when all `models` are present; seeded random
 * weights only when the caller asked for them (`weights: 'random'`), otherwise E_WEIGHTS_MISSING
 * names the models to pull. A failed build is forgotten so the next call can retry.
 */
export function cachedMetricNetwork<T>(
  cache: Map<string, Promise<T>>,
  metricId: string,
  models: readonly string[],
  ctx: MetricContext,
  build: (source: WeightsSource, threads: number) => Promise<T>,
): Promise<T> {
  const missing = models.filter((m) => !isModelInstalled(m));
  if (missing.length > 0 && ctx.weights !== 'random') {
    return Promise.reject(
      new AtelierError('E_WEIGHTS_MISSING', `The metric ${metricId} needs the ${missing.join(' and ')} weights, which are not installed`, {
        hint: `run \`atelier models pull ${missing.join(' ')}\`, or pass --weights random to score with seeded random weights (labelled so)`,
      }),
    );
  }
  const source: WeightsSource = missing.length === 0 ? 'installed' : 'random';
  const key = `${source}:${ctx.threads}:${process.env.ATELIER_HOME ?? ''}`;
  let pending = cache.get(key);
  if (!pending) {
    pending = build(source, ctx.threads);
    pending.catch(() => cache.delete(key));
    cache.set(key, pending);
  }
  return pending;
}
