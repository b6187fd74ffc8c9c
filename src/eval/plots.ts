/**
 * Small inline-SVG charts for the HTML report: no script, no external files, readable when the
 * report is opened straight from disk. Scales are linear with "nice" ticks.
 */

export interface ScatterSeries {
  label: string;
  color: string;
  /** Individual points (per pair). */
  points: { x: number; y: number; title: string }[];
  /** The series summary (mean), drawn large. */
  centre?: { x: number; y: number };
}

export interface AxisSpec {
  label: string;
}

const W = 560;
const H = 380;
const M = { left: 64, right: 150, top: 16, bottom: 48 };

export const SERIES_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round-number ticks covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.floor(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks[ticks.length - 1]! < hi) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

function fmt(v: number): string {
  return Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(3)));
}

function frame(xTicks: number[], yTicks: number[], x: AxisSpec, y: AxisSpec, sx: (v: number) => number, sy: (v: number) => number): string {
  const parts: string[] = [];
  for (const t of xTicks) {
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${sx(t)}" y="${H - M.bottom + 16}" text-anchor="middle" font-size="11">${fmt(t)}</text>`);
  }
  for (const t of yTicks) {
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${M.left - 6}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${fmt(t)}</text>`);
  }
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 10}" text-anchor="middle" font-size="12">${escapeXml(x.label)}</text>`);
  parts.push(
    `<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(y.label)}</text>`,
  );
  return parts.join('');
}

function legend(items: { label: string; color: string }[]): string {
  return items
    .map(
      (s, i) =>
        `<g transform="translate(${W - M.right + 12} ${M.top + 8 + i * 18})"><rect width="10" height="10" fill="${s.color}"/><text x="16" y="9" font-size="11">${escapeXml(s.label)}</text></g>`,
    )
    .join('');
}

export function scatterPlot(series: ScatterSeries[], x: AxisSpec, y: AxisSpec, title: string): string {
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  if (xs.length === 0) return `<p class="empty">${escapeXml(title)}: no data.</p>`;
  // 4 % headroom so points never sit on the frame (but no negative axis for non-negative data).
  const pad = (lo: number, hi: number) => [lo >= 0 ? Math.max(0, lo - (hi - lo) * 0.04) : lo - (hi - lo) * 0.04, hi + (hi - lo) * 0.04] as const;
  const xTicks = niceTicks(...pad(Math.min(...xs), Math.max(...xs)));
  const yTicks = niceTicks(...pad(Math.min(...ys), Math.max(...ys)));
  const [x0, x1] = [xTicks[0]!, xTicks[xTicks.length - 1]!];
  const [y0, y1] = [yTicks[0]!, yTicks[yTicks.length - 1]!];
  const sx = (v: number) => Number((M.left + ((v - x0) / (x1 - x0 || 1)) * (W - M.left - M.right)).toFixed(1));
  const sy = (v: number) => Number((H - M.bottom - ((v - y0) / (y1 - y0 || 1)) * (H - M.top - M.bottom)).toFixed(1));
  const dots = series
    .map((s) =>
      [
        ...s.points.map((p) => `<circle cx="${sx(p.x)}" cy="${sy(p.y)}" r="3.5" fill="${s.color}" fill-opacity="0.45"><title>${escapeXml(p.title)}</title></circle>`),
        ...(s.centre
          ? [
              `<circle cx="${sx(s.centre.x)}" cy="${sy(s.centre.y)}" r="8" fill="${s.color}" stroke="#000" stroke-width="1.5"><title>${escapeXml(`${s.label} mean: ${fmt(s.centre.x)}, ${fmt(s.centre.y)}`)}</title></circle>`,
            ]
          : []),
      ].join(''),
    )
    .join('');
  return `<svg class="plot" role="img" aria-label="${escapeXml(title)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">${frame(xTicks, yTicks, x, y, sx, sy)}${dots}${legend(series)}</svg>`;
}

export interface BarRow {
  label: string;
  color: string;
  /** The bar (e.g. median). */
  value: number;
  /** Individual values drawn as ticks on the bar (e.g. per pair). */
  points: number[];
}

/** Horizontal bars, one per row, with the individual values as dots. */
export function barPlot(rows: BarRow[], axis: AxisSpec, title: string): string {
  if (rows.length === 0) return `<p class="empty">${escapeXml(title)}: no data.</p>`;
  const height = M.top + M.bottom + rows.length * 34;
  const hi = Math.max(...rows.flatMap((r) => [r.value, ...r.points]));
  const ticks = niceTicks(0, hi);
  const top = ticks[ticks.length - 1]!;
  const left = 150;
  const right = 30;
  const sx = (v: number) => Number((left + (v / (top || 1)) * (W - left - right)).toFixed(1));
  const parts: string[] = [];
  for (const t of ticks) {
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${M.top}" y2="${height - M.bottom}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${sx(t)}" y="${height - M.bottom + 16}" text-anchor="middle" font-size="11">${fmt(t)}</text>`);
  }
  rows.forEach((r, i) => {
    const y = M.top + 6 + i * 34;
    parts.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end" font-size="12">${escapeXml(r.label)}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${Math.max(1, sx(r.value) - left)}" height="22" fill="${r.color}" fill-opacity="0.7"><title>${escapeXml(`${r.label}: ${fmt(r.value)}`)}</title></rect>`);
    for (const p of r.points) parts.push(`<circle cx="${sx(p)}" cy="${y + 11}" r="3" fill="#000" fill-opacity="0.55"/>`);
  });
  parts.push(`<text x="${(left + W - right) / 2}" y="${height - 10}" text-anchor="middle" font-size="12">${escapeXml(axis.label)}</text>`);
  return `<svg class="plot" role="img" aria-label="${escapeXml(title)}" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">${parts.join('')}</svg>`;
}
