import { promises as fs } from 'node:fs';
import { AtelierError } from '../core/errors.js';
import { writeFileAtomic } from '../core/io.js';
import type { MetricAspect } from '../metrics/metric.js';
import type { EvalPair } from './pairs.js';

/**
 * `results.json` of an evaluation: everything needed to read, compare and reproduce it — the
 * method runs (id, resolved params, seed), the Atelier version, every pair × method result with
 * timings and metric values, and per-method aggregates. Written after every pair, atomically, so
 * an interrupted run can `--resume`.
 */

export const RESULTS_FORMAT = 'atelier-eval/1';

export interface MetricInfo {
  id: string;
  title: string;
  higherIsBetter: boolean;
  aspect: MetricAspect;
}

export interface MethodRun {
  method: string;
  /** Resolved params (defaults filled in), as `stylize` returned or would return them. */
  params: Record<string, unknown>;
  seed: number;
}

/** A pair as recorded in results.json: the pair itself plus its thumbnails. */
export interface PairRecord extends EvalPair {
  /** Paths relative to the report folder. */
  thumbs?: { content?: string; style?: string };
}

export interface MetricValue {
  value: number;
  parts: Record<string, number>;
  notes?: string[];
}

export interface ResultRecord {
  pair: string;
  method: string;
  status: 'ok' | 'failed' | 'skipped';
  error?: { code: string; message: string };
  /** Relative to the report folder. */
  output?: string;
  thumb?: string;
  width?: number;
  height?: number;
  timings?: { readMs: number; preprocessMs: number; runMs: number; postprocessMs: number; totalMs: number; metricsMs: number };
  metrics: Record<string, MetricValue>;
  metricErrors?: Record<string, { code: string; message: string }>;
  meta?: Record<string, unknown>;
}

export interface Summary {
  mean: number;
  median: number;
  min: number;
  max: number;
  count: number;
}

export interface MethodAggregate {
  ok: number;
  failed: number;
  skipped: number;
  /** Per-pair total time of the method (read + run + postprocess), ms. */
  timeMs?: Summary;
  metrics: Record<string, Summary>;
}

export interface EvaluationResults {
  format: typeof RESULTS_FORMAT;
  tool: { name: 'atelier'; version: string };
  createdAt: string;
  updatedAt: string;
  pairsFile: string;
  command: 'eval' | 'compare';
  metrics: MetricInfo[];
  runs: MethodRun[];
  pairs: PairRecord[];
  results: ResultRecord[];
  aggregate: Record<string, MethodAggregate>;
}

export function summarise(values: number[]): Summary | undefined {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  return {
    mean: v.reduce((s, x) => s + x, 0) / v.length,
    median: v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2,
    min: v[0]!,
    max: v[v.length - 1]!,
    count: v.length,
  };
}

export function aggregate(results: EvaluationResults): Record<string, MethodAggregate> {
  const out: Record<string, MethodAggregate> = {};
  for (const run of results.runs) {
    const mine = results.results.filter((r) => r.method === run.method);
    const ok = mine.filter((r) => r.status === 'ok');
    const metrics: Record<string, Summary> = {};
    for (const m of results.metrics) {
      const s = summarise(ok.map((r) => r.metrics[m.id]?.value).filter((x): x is number => x !== undefined));
      if (s) metrics[m.id] = s;
    }
    const time = summarise(ok.map((r) => r.timings?.totalMs).filter((x): x is number => x !== undefined));
    out[run.method] = {
      ok: ok.length,
      failed: mine.filter((r) => r.status === 'failed').length,
      skipped: mine.filter((r) => r.status === 'skipped').length,
      ...(time && { timeMs: time }),
      metrics,
    };
  }
  return out;
}

export async function loadResults(file: string): Promise<EvaluationResults | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const json = JSON.parse(text) as EvaluationResults;
    if (json.format !== RESULTS_FORMAT) throw new Error(`format ${String(json.format)}`);
    return json;
  } catch (e) {
    throw new AtelierError('E_PARAM', `Cannot resume from ${JSON.stringify(file)}`, {
      expected: `a results.json written by atelier eval (${RESULTS_FORMAT})`,
      received: (e as Error).message,
      hint: 'choose a fresh --out folder, or drop --resume and pass --force to start over',
      cause: e,
    });
  }
}

export async function saveResults(file: string, results: EvaluationResults): Promise<void> {
  results.updatedAt = new Date().toISOString();
  results.aggregate = aggregate(results);
  await writeFileAtomic(file, JSON.stringify(results, null, 2) + '\n', { force: true });
}
