/**
 * A loss-curve chart as SVG: one line per loss term, each divided by its first value (so terms of
 * very different sizes share one log-scale axis), smoothed by a moving average, with the raw
 * first and last values in the legend.
 */
export interface LossSeries {
  name: string;
  values: number[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

function smooth(values: number[], window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i]!;
    if (i >= window) sum -= values[i - window]!;
    out.push(sum / Math.min(i + 1, window));
  }
  return out;
}

export function lossCurveSvg(series: LossSeries[], title: string): string {
  const [W, H, left, right, top, bottom] = [760, 420, 64, 200, 36, 44];
  const n = Math.max(...series.map((s) => s.values.length));
  const window = Math.max(1, Math.round(n / 30));
  const relative = series.map((s) => {
    const first = s.values.slice(0, window).reduce((a, b) => a + b, 0) / Math.min(window, s.values.length) || 1;
    return smooth(s.values, window).map((v) => Math.max(v / first, 1e-6));
  });
  const all = relative.flat();
  const lo = Math.floor(Math.log10(Math.min(...all)));
  const hi = Math.ceil(Math.log10(Math.max(...all)) + 1e-9);
  const span = Math.max(1, hi - lo);
  const x = (i: number) => left + ((W - left - right) * i) / Math.max(1, n - 1);
  const y = (v: number) => top + ((H - top - bottom) * (hi - Math.log10(v))) / span;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14">${title}</text>`,
  ];
  for (let e = lo; e <= hi; e++) {
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${y(10 ** e) + 4}" text-anchor="end">1e${e}</text>`);
  }
  parts.push(`<text x="${(left + W - right) / 2}" y="${H - 10}" text-anchor="middle">iteration (0–${n - 1}); values relative to the first, moving average of ${window}</text>`);
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length]!;
    const pts = relative[k]!.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts}"/>`);
    const first = s.values[0] ?? NaN;
    const last = s.values.at(-1) ?? NaN;
    parts.push(`<text x="${W - right + 10}" y="${top + 16 + 34 * k}" fill="${color}">${s.name}</text>`);
    parts.push(`<text x="${W - right + 10}" y="${top + 30 + 34 * k}" fill="${color}" font-size="10">${first.toPrecision(3)} → ${last.toPrecision(3)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
