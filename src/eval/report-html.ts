import type { EvaluationResults, MetricInfo } from './results.js';
import { barPlot, escapeXml, scatterPlot, SERIES_COLORS, type ScatterSeries } from './plots.js';

/**
 * `index.html` of an evaluation: one self-contained page (inline CSS and SVG, images by relative
 * path) with the runs and their parameters, the summary table, the trade-off scatter (content
 * fidelity against style distance, one colour per method), time per image, and every pair with its
 * thumbnails and metric values. Failed pairs are listed with their error.
 */

const CONTENT_AXIS_ORDER = ['ssim', 'ms-ssim', 'edge-ssim', 'psnr', 'lpips', 'content-loss'];
const STYLE_AXIS_ORDER = ['gram', 'swd-patches', 'histogram'];

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(3) : v.toFixed(4);
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? '–' : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

function arrow(m: MetricInfo): string {
  return m.higherIsBetter ? '↑' : '↓';
}

export function methodColor(results: EvaluationResults, method: string): string {
  return SERIES_COLORS[results.runs.findIndex((r) => r.method === method) % SERIES_COLORS.length]!;
}

function summaryTable(results: EvaluationResults): string {
  const head = results.metrics.map((m) => `<th title="${escapeXml(m.title)}">${escapeXml(m.id)} ${arrow(m)}</th>`).join('');
  const best: Record<string, number> = {};
  for (const m of results.metrics) {
    const means = results.runs.map((r) => results.aggregate[r.method]?.metrics[m.id]?.mean).filter((v): v is number => v !== undefined);
    if (means.length > 1) best[m.id] = m.higherIsBetter ? Math.max(...means) : Math.min(...means);
  }
  const rows = results.runs
    .map((run) => {
      const a = results.aggregate[run.method];
      const cells = results.metrics
        .map((m) => {
          const s = a?.metrics[m.id];
          const isBest = s !== undefined && best[m.id] === s.mean;
          return `<td class="num${isBest ? ' best' : ''}" title="${s ? `median ${fmt(s.median)}, min ${fmt(s.min)}, max ${fmt(s.max)}, n ${s.count}` : ''}">${fmt(s?.mean)}</td>`;
        })
        .join('');
      return `<tr><th><span class="swatch" style="background:${methodColor(results, run.method)}"></span>${escapeXml(run.method)}</th><td class="num">${a?.ok ?? 0}</td><td class="num${a?.failed ? ' bad' : ''}">${a?.failed ?? 0}</td><td class="num">${seconds(a?.timeMs?.median)}</td>${cells}</tr>`;
    })
    .join('');
  return `<table class="summary"><thead><tr><th>method</th><th>ok</th><th>failed</th><th>median time</th>${head}</tr></thead><tbody>${rows}</tbody></table>
<p class="note">Means over the pairs that succeeded (hover a cell for median, range and count). ↑ higher is better, ↓ lower is better; the best mean of each column is bold.</p>`;
}

function tradeOffPlots(results: EvaluationResults): string {
  const ids = results.metrics.map((m) => m.id);
  const x = CONTENT_AXIS_ORDER.find((id) => ids.includes(id));
  const ys = STYLE_AXIS_ORDER.filter((id) => ids.includes(id));
  if (!x || ys.length === 0) return '<p class="empty">The trade-off plot needs one content metric (ssim, …) and one style metric (swd-patches, histogram, gram).</p>';
  const xm = results.metrics.find((m) => m.id === x)!;
  return ys
    .map((y) => {
      const ym = results.metrics.find((m) => m.id === y)!;
      const series: ScatterSeries[] = results.runs.map((run) => {
        const ok = results.results.filter((r) => r.method === run.method && r.status === 'ok' && r.metrics[x] && r.metrics[y]);
        const agg = results.aggregate[run.method]?.metrics;
        return {
          label: run.method,
          color: methodColor(results, run.method),
          points: ok.map((r) => ({ x: r.metrics[x]!.value, y: r.metrics[y]!.value, title: `${r.pair} (${run.method}): ${x} ${fmt(r.metrics[x]!.value)}, ${y} ${fmt(r.metrics[y]!.value)}` })),
          ...(agg?.[x] && agg[y] && { centre: { x: agg[x].mean, y: agg[y].mean } }),
        };
      });
      const xLabel = `${xm.title} with the content (${xm.higherIsBetter ? 'higher' : 'lower'} keeps more content)`;
      const yLabel = `${ym.id} to the style (${ym.higherIsBetter ? 'higher' : 'lower'} = more like the style)`;
      return `<figure>${scatterPlot(series, { label: xLabel }, { label: yLabel }, `content fidelity vs style likeness (${y})`)}<figcaption>Content fidelity (${escapeXml(x)}) against style likeness (${escapeXml(y)}): small dots are pairs, large ones the method means.</figcaption></figure>`;
    })
    .join('');
}

function timePlot(results: EvaluationResults): string {
  const rows = results.runs
    .map((run) => {
      const times = results.results.filter((r) => r.method === run.method && r.status === 'ok' && r.timings).map((r) => r.timings!.totalMs / 1000);
      const med = results.aggregate[run.method]?.timeMs?.median;
      return { label: run.method, color: methodColor(results, run.method), value: (med ?? 0) / 1000, points: times };
    })
    .filter((r) => r.points.length > 0);
  return `<figure>${barPlot(rows, { label: 'seconds per image (bar: median; dots: pairs)' }, 'time per image')}<figcaption>Time per image: the method's run with its pre- and post-processing (decoding and metrics excluded).</figcaption></figure>`;
}

function img(src: string | undefined, alt: string, href = src): string {
  return src ? `<a href="${escapeXml(href!)}"><img loading="lazy" src="${escapeXml(src)}" alt="${escapeXml(alt)}"></a>` : '<div class="noimg">–</div>';
}

function pairSection(results: EvaluationResults): string {
  const metricHead = results.metrics.map((m) => `<th>${escapeXml(m.id)} ${arrow(m)}</th>`).join('');
  const groups = [...new Set(results.pairs.map((p) => p.group))];
  return groups
    .map((group) => {
      const rows = results.pairs
        .filter((p) => p.group === group)
        .map((pair) => {
          const mine = results.runs.map((run) => results.results.find((r) => r.pair === pair.id && r.method === run.method));
          const outputs = mine
            .map((r, i) => {
              const method = results.runs[i]!.method;
              const body =
                r?.status === 'ok'
                  ? `${img(r.thumb, `${method} output`, r.output)}<span class="t">${seconds(r.timings?.totalMs)}</span>`
                  : `<div class="noimg ${r?.status === 'failed' ? 'bad' : ''}" title="${escapeXml(r?.error?.message ?? '')}">${escapeXml(r?.status ?? 'not run')}${r?.error ? `<br><small>${escapeXml(r.error.code)}</small>` : ''}</div>`;
              return `<td class="cell">${body}</td>`;
            })
            .join('');
          const metricRows = mine
            .map((r, i) => {
              if (r?.status !== 'ok') return '';
              const cells = results.metrics
                .map((m) => {
                  const v = r.metrics[m.id];
                  const err = r.metricErrors?.[m.id];
                  return `<td class="num" title="${escapeXml(err ? err.message : v ? Object.entries(v.parts).map(([k, x]) => `${k} ${fmt(x)}`).join(', ') + (v.notes ? ' — ' + v.notes.join('; ') : '') : '')}">${err ? '<span class="bad">error</span>' : fmt(v?.value)}${v?.notes ? '*' : ''}</td>`;
                })
                .join('');
              return `<tr><th><span class="swatch" style="background:${methodColor(results, results.runs[i]!.method)}"></span>${escapeXml(results.runs[i]!.method)}</th>${cells}</tr>`;
            })
            .join('');
          const frames = mine.find((r) => typeof r?.meta?.frames === 'number')?.meta?.frames;
          const masks = `${pair.contentMask ? '<span class="tag">masks</span>' : ''}${pair.kind === 'video' ? `<span class="tag">video${frames ? `, ${String(frames)} frames (middle one shown)` : ''}</span>` : ''}`;
          return `<tr id="${escapeXml(pair.id)}"><td class="cell">${img(pair.thumbs?.content, 'content')}</td><td class="cell">${img(pair.thumbs?.style, 'style')}</td>${outputs}<td class="metrics"><div class="pairname">${escapeXml(pair.id)} ${masks}</div>${metricRows === '' ? '' : `<table class="mini"><thead><tr><th></th>${metricHead}</tr></thead><tbody>${metricRows}</tbody></table>`}</td></tr>`;
        })
        .join('');
      const methodHeads = results.runs.map((r) => `<th>${escapeXml(r.method)}</th>`).join('');
      return `<h3>${escapeXml(group)}</h3><table class="pairs"><thead><tr><th>content</th><th>style</th>${methodHeads}<th>metrics</th></tr></thead><tbody>${rows}</tbody></table>`;
    })
    .join('');
}

function failures(results: EvaluationResults): string {
  const bad = results.results.filter((r) => r.status !== 'ok');
  if (bad.length === 0) return '';
  const rows = bad
    .map((r) => `<tr><td>${escapeXml(r.pair)}</td><td>${escapeXml(r.method)}</td><td>${escapeXml(r.status)}</td><td><code>${escapeXml(r.error?.code ?? '')}</code> ${escapeXml(r.error?.message ?? '')}</td></tr>`)
    .join('');
  return `<h2 id="failures">Failed and skipped (${bad.length})</h2><table class="failures"><thead><tr><th>pair</th><th>method</th><th>status</th><th>reason</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function metricGlossary(results: EvaluationResults): string {
  return `<dl class="glossary">${results.metrics.map((m) => `<dt>${escapeXml(m.id)} ${arrow(m)}</dt><dd>${escapeXml(m.title)} — measures ${m.aspect === 'content' ? 'content fidelity (output vs content)' : m.aspect === 'style' ? 'style likeness (output vs style)' : 'temporal stability'}.</dd>`).join('')}</dl>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;max-width:1600px}
h1{margin:0 0 4px;font-size:24px} h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px} h3{margin:20px 0 8px}
.meta{color:#555} code{background:#f4f4f4;padding:1px 4px;border-radius:3px}
table{border-collapse:collapse} th,td{padding:4px 8px;border-bottom:1px solid #eee;vertical-align:top;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums} td.best{font-weight:700} .bad{color:#b00020}
.swatch{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:2px}
.plots{display:flex;flex-wrap:wrap;gap:24px} figure{margin:0} figcaption{color:#555;font-size:12px;max-width:560px}
td.cell{width:168px;text-align:center} td.cell img{max-width:160px;max-height:160px;display:block;margin:auto;border:1px solid #ddd}
.noimg{width:160px;height:60px;line-height:20px;padding-top:20px;background:#f6f6f6;color:#888;text-align:center}
.t{font-size:11px;color:#666} .pairname{font-weight:600;margin-bottom:4px} .tag{font-size:11px;background:#eef;padding:1px 5px;border-radius:8px;font-weight:400}
table.mini th,table.mini td{font-size:12px;padding:2px 6px} .note{color:#666;font-size:12px} details pre{background:#f6f6f6;padding:8px;overflow:auto}
.glossary dt{font-weight:600;float:left;clear:left;width:120px} .glossary dd{margin-left:130px}
`;

function skippedCount(results: EvaluationResults): string {
  const n = results.results.filter((r) => r.status === 'skipped').length;
  return n > 0 ? ` (${n} skipped)` : '';
}

export function renderReport(results: EvaluationResults, sheets: string[] = []): string {
  const runs = results.runs
    .map((r) => `<li><b>${escapeXml(r.method)}</b>, seed ${r.seed}<details><summary>parameters</summary><pre>${escapeXml(JSON.stringify(r.params, null, 2))}</pre></details></li>`)
    .join('');
  const ok = results.results.filter((r) => r.status === 'ok').length;
  const neuralNotes = [...new Set(results.results.flatMap((r) => Object.values(r.metrics).flatMap((m) => m.notes ?? [])))];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Atelier ${escapeXml(results.command)}: ${escapeXml(results.runs.map((r) => r.method).join(', '))}</title>
<style>${CSS}</style></head><body>
<h1>Atelier ${results.command === 'compare' ? 'comparison' : 'evaluation'}</h1>
<p class="meta">${escapeXml(results.runs.map((r) => r.method).join(' · '))} — ${results.pairs.length} pairs, ${ok} of ${results.results.length} runs succeeded${skippedCount(results)} — Atelier ${escapeXml(results.tool.version)} — ${escapeXml(results.updatedAt)}<br>pairs file <code>${escapeXml(results.pairsFile)}</code> — raw numbers in <a href="results.json">results.json</a></p>
${neuralNotes.length > 0 ? `<p class="bad">* ${neuralNotes.map(escapeXml).join('; ')}</p>` : ''}
<h2>Summary</h2>${summaryTable(results)}
<h2>Trade-off and time</h2><div class="plots">${tradeOffPlots(results)}${timePlot(results)}</div>
<h2>Runs</h2><ul>${runs}</ul>
<h2>Metrics</h2>${metricGlossary(results)}
${failures(results)}
${sheets.length > 0 ? `<h2>Contact sheets</h2><p>${sheets.map((f) => `<a href="${escapeXml(f)}">${escapeXml(f)}</a>`).join(' · ')}</p>` : ''}
<h2>Pairs</h2>${pairSection(results)}
</body></html>
`;
}
