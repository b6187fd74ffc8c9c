import path from 'node:path';
import type { Command } from 'commander';
import { AtelierError, ERROR_CODES, type ErrorCode } from '../core/errors.js';
import { parseInteger } from '../core/number-text.js';
import { writeFileAtomic } from '../core/io.js';
import type { AnyMethod } from '../core/registry.js';
import { writeContactSheets } from '../eval/contact-sheet.js';
import { renderReport } from '../eval/report-html.js';
import { runEvaluation } from '../eval/run-evaluation.js';
import { getMetric, listMetrics } from '../metrics/index.js';
import type { MetricDefinition } from '../metrics/metric.js';
import { createProgressDisplay } from './progress-display.js';
import { progressMode } from './shared-flags.js';
import { isModelInstalled } from '../engine/store.js';

/**
 * What `atelier eval` and `atelier compare` share: their flags, the run with a progress bar, the
 * report and the closing summary. The commands differ only in how they name their methods.
 */

/** Flags of these commands that a method parameter must not take over. */
export const EVALUATION_FLAGS = ['pairs', 'out', 'metrics', 'group', 'limit', 'videoFrames', 'resume', 'force', 'weights', 'threads', 'maxPixels', 'quiet', 'json', 'method', 'methods', 'set'];

export function addEvaluationFlags(cmd: Command): Command {
  return cmd
    .requiredOption('--pairs <file>', 'pairs file (JSON): groups of {content, style, content_mask?, style_mask?}, paths relative to it')
    .requiredOption('--out <dir>', 'report folder: results.json, index.html, outputs/, thumbs/')
    .option('--metrics <list>', `metrics to compute (default: all that can run): ${listMetrics().map((m) => m.id).join(', ')}`)
    .option('--group <list>', 'only these groups of the pairs file, e.g. photoreal')
    .option('--limit <n>', 'at most n pairs (a quick look)')
    .option('--video-frames <n>', 'video pairs: frames decoded from the start and stylised one by one (default 12; needs ffmpeg)')
    .option('--resume', 'keep the successful results already in --out and run the rest')
    .option('--force', 'start over when --out already holds results')
    .option('--weights <mode>', '"installed" (default) or "random": seeded random weights, labelled so, for the neural metrics and for methods with a weights parameter')
    .option('--threads <n>', 'threads for the methods and neural metrics')
    .option('--max-pixels <n>', 'refuse input images larger than this many pixels')
    .option('-q, --quiet', 'no progress output')
    .option('--json', 'print the summary as JSON');
}

/**
 * Metrics that cannot run are said before any work: a named one whose weights are missing is an
 * error (the fix in the message); one left out of the default set is a warning naming the fix.
 */
function checkMetricsCanRun(ids: string[] | undefined, weights: 'installed' | 'random', warn: (m: string) => void): void {
  if (weights === 'random') return;
  const missing = (m: MetricDefinition) => (m.weights ?? []).filter((w) => !isModelInstalled(w.model)).map((w) => w.model);
  if (ids) {
    for (const id of ids) {
      const def = getMetric(id);
      const absent = missing(def);
      if (absent.length > 0) {
        throw new AtelierError('E_WEIGHTS_MISSING', `The metric ${id} needs weights that are not installed (${absent.join(', ')})`, {
          hint: `install them with \`atelier models pull ${absent.join(' ')}\`, pass --weights random to score with seeded random weights (labelled so), or leave ${id} out of --metrics`,
        });
      }
    }
    return;
  }
  const skipped = listMetrics().filter((m) => !m.needs.includes('frames') && missing(m).length > 0);
  if (skipped.length > 0) {
    const models = [...new Set(skipped.flatMap(missing))];
    warn(`not computing ${skipped.map((m) => m.id).join(', ')}: weights not installed; \`atelier models pull ${models.join(' ')}\` installs them, --weights random scores with seeded random weights`);
  }
}

function list(v: unknown): string[] | undefined {
  return typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : undefined;
}

export async function runEvaluationCommand(
  command: 'eval' | 'compare',
  methods: { def: AnyMethod; params: Record<string, unknown> }[],
  opts: Record<string, unknown>,
): Promise<void> {
  const weights = opts.weights === undefined ? 'installed' : String(opts.weights);
  if (weights !== 'installed' && weights !== 'random') {
    throw new AtelierError('E_USAGE', 'Invalid value for --weights', { expected: 'installed or random', received: JSON.stringify(weights) });
  }
  // `--weights random` means random weights wherever weights are missing: for the neural metrics
  // and for every method that has a `weights` parameter of its own (unless set with --set).
  if (opts.weights !== undefined) {
    methods = methods.map((m) => ('weights' in m.def.params.shape && m.params.weights === undefined ? { ...m, params: { ...m.params, weights } } : m));
  }
  const quiet = Boolean(opts.quiet) || Boolean(opts.json);
  const display = createProgressDisplay(process.stderr, progressMode({ quiet }));
  const warn = (m: string) => {
    if (quiet) return;
    display.finish();
    process.stderr.write(`warning: ${m}\n`);
  };
  const abort = new AbortController();
  const onSigint = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  const outDir = String(opts.out);
  try {
    const limit = parseInteger(opts.limit as string | undefined, '--limit');
    const videoFrames = parseInteger(opts.videoFrames as string | undefined, '--video-frames');
    const threads = parseInteger(opts.threads as string | undefined, '--threads');
    const maxPixels = parseInteger(opts.maxPixels as string | undefined, '--max-pixels');
    const metrics = list(opts.metrics);
    checkMetricsCanRun(metrics, weights as 'installed' | 'random', warn);
    const groups = list(opts.group);
    const results = await runEvaluation({
      pairsFile: String(opts.pairs),
      outDir,
      methods,
      command,
      weights,
      weightsInstalled: isModelInstalled,
      signal: abort.signal,
      onProgress: display.listener,
      log: { debug() {}, info() {}, warn },
      ...(metrics && { metrics }),
      ...(groups && { groups }),
      ...(limit !== undefined && { limit }),
      ...(videoFrames !== undefined && { videoFrames }),
      ...(threads !== undefined && { threads }),
      ...(maxPixels !== undefined && { maxPixels }),
      resume: Boolean(opts.resume),
      force: Boolean(opts.force),
    });
    display.finish();
    const sheets = command === 'compare' ? await writeContactSheets(results, path.resolve(outDir)) : [];
    const html = path.join(outDir, 'index.html');
    await writeFileAtomic(html, renderReport(results, sheets), { force: true });
    const ok = results.results.filter((r) => r.status === 'ok').length;
    const failed = results.results.filter((r) => r.status === 'failed');
    if (opts.json) {
      process.stdout.write(
        JSON.stringify({ ok: ok > 0, report: html, results: path.join(outDir, 'results.json'), sheets: sheets.map((s) => path.join(outDir, s)), succeeded: ok, failed: failed.length, aggregate: results.aggregate }, null, 2) + '\n',
      );
    } else if (!opts.quiet) {
      process.stderr.write(`${command}: ${ok} of ${results.results.length} runs succeeded${failed.length > 0 ? `, ${failed.length} failed (listed in the report)` : ''}\n`);
      for (const run of results.runs) {
        const agg = results.aggregate[run.method];
        const line = Object.entries(agg?.metrics ?? {})
          .map(([id, s]) => `${id} ${s.mean.toPrecision(4)}`)
          .join('  ');
        process.stderr.write(`  ${run.method}: ${line}${agg?.timeMs ? `  (${(agg.timeMs.median / 1000).toFixed(2)} s/image)` : ''}\n`);
      }
      process.stderr.write(`wrote ${html}\n`);
    }
    // A metric that failed on some runs is said here, not only inside results.json.
    const metricFailures = new Map<string, { n: number; message: string }>();
    for (const r of results.results) {
      for (const [id, e] of Object.entries(r.metricErrors ?? {})) {
        const seen = metricFailures.get(id);
        metricFailures.set(id, { n: (seen?.n ?? 0) + 1, message: seen?.message ?? e.message });
      }
    }
    for (const [id, f] of metricFailures) warn(`the metric ${id} failed on ${f.n} of ${results.results.length} runs: ${f.message}`);
    if (ok === 0) {
      // Every pair failed: report it with the first failure's own code (decode, weights, …).
      const reason = results.results.find((r) => r.error)?.error;
      const first = reason?.code;
      const code = first !== undefined && first in ERROR_CODES ? (first as ErrorCode) : 'E_INPUT_MISSING';
      throw new AtelierError(code, 'No pair could be evaluated', {
        received: reason?.message ?? 'no image pairs',
        hint: `see ${path.join(outDir, 'index.html')} for every failure`,
      });
    }
  } finally {
    display.finish();
    process.removeListener('SIGINT', onSigint);
  }
}
