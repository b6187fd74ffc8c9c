// The artistic test on real features: every artistic method over the artistic dev pairs, scored by
// the `style` metric (relative Gram distance on the real VGG-19 relu1_1…relu3_1, lower = closer to
// the style) against content structure (SSIM of σ=2-blurred luminance to the content,
// bench/patch-metrics.js; higher = more of the content's structure kept). One point per method, and
// a curve across the style/content control of the methods that have one; G'MIC `stylize` as the
// outside reference point. Runs in one process (sessions shared), inputs at BENCH_SIZE (default:
// their own size, the dev images are 256²).
// Needs the real models installed (ATELIER_HOME with vgg19-relu3_1, wct-cd16x, microast; e.g.
// `atelier models pull NAME --from ../shared/weights --accept-licence`, or the tests' cache
// scratch/test-models) — the style metric refuses random weights here.
// Env: BENCH_PAIRS (indices), BENCH_ONLY (comma-separated series labels), BENCH_SIZE, BENCH_ALPHAS,
// BENCH_SYNTH_WEIGHTS (patch.synthesis contentWeight curve, default 0.1,0.4), BENCH_OUT (results file
// name under bench/results, default artistic.json), BENCH_GMIC_CACHE=1 (reuse G'MIC outputs already
// in .bench-out for the same pair and size: G'MIC takes 5-70 s a pair and does not change between
// runs; its time is then recorded as null), BENCH_RESUME=FILE (an earlier, cut-short artistic.json of the same size and series: its pairs
// are taken as done and only the others run; their outputs must still be in .bench-out).
// Full run:   nice -n 10 node bench/artistic.mjs                       (20 pairs, every series)
// Short mode: BENCH_PAIRS=0,7 BENCH_ALPHAS=1 nice -n 10 node bench/artistic.mjs
// patch.synthesis against G'MIC at 512 px (the contentWeight curve of bench/results/artistic-512-patch.json):
//   BENCH_SIZE=512 BENCH_ONLY="patch.synthesis,G'MIC stylize" BENCH_OUT=artistic-512-patch.json \
//     BENCH_SYNTH_WEIGHTS=0.3,0.6,2 BENCH_GMIC_CACHE=1 nice -n 10 node bench/artistic.mjs
// Writes bench/results/artistic.json (after every pair, so a cut-short run keeps what it did),
// .bench-out/artistic/{outputs/,plot.svg,manifest.json,contact-sheet.png} (one row per pair:
// content, style, each series at its strongest setting). The images are made from ../shared data:
// they stay in .bench-out, never in the repository.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readImage, writeImage } from '../dist/core/io.js';
import { resizeImage } from '../dist/core/resample.js';
import { runMethod } from '../dist/core/stylize.js';
import { methods } from '../dist/methods/index.js';
import { computeMetric } from '../dist/metrics/metric.js';
import { styleDistance } from '../dist/metrics/style.js';
import { scatterPlot, SERIES_COLORS } from '../dist/eval/plots.js';
import { structureSsim } from './patch-metrics.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = process.env.ATELIER_DEV_DATA ?? path.resolve(root, '../shared/data/dev');
if (!process.env.ATELIER_HOME) process.env.ATELIER_HOME = path.join(root, 'scratch/test-models');
const outDir = path.join(root, '.bench-out/artistic');
mkdirSync(path.join(outDir, 'outputs'), { recursive: true });
const size = process.env.BENCH_SIZE ? Number(process.env.BENCH_SIZE) : undefined;
const threads = 2;

const pairs = JSON.parse(readFileSync(path.join(dataDir, 'pairs.json'), 'utf8')).artistic;
const chosen = process.env.BENCH_PAIRS ? process.env.BENCH_PAIRS.split(',').map(Number) : pairs.map((_, i) => i);

/** label → { method, params, control?: [name, value] } ; series with several entries are curves. */
const alphas = (process.env.BENCH_ALPHAS ?? "0.4,0.7,1").split(",").map(Number);
const series = [
  { label: 'neural.wct cd16x', points: alphas.map((a) => ({ method: 'neural.wct', params: { network: 'cd16x', alpha: a }, control: `alpha ${a}` })) },
  { label: 'neural.wct vgg19', points: alphas.map((a) => ({ method: 'neural.wct', params: { network: 'vgg19', alpha: a }, control: `alpha ${a}` })) },
  { label: 'neural.adain', points: alphas.map((a) => ({ method: 'neural.adain', params: { alpha: a }, control: `alpha ${a}` })) },
  { label: 'neural.microast', points: alphas.map((a) => ({ method: 'neural.microast', params: { alpha: a }, control: `alpha ${a}` })) },
  { label: 'neural.gatys', points: [{ method: 'neural.gatys', params: { iterations: 40, pyramid: 1 } }] },
  { label: 'neural.arbitrary', points: [{ method: 'neural.arbitrary', params: {} }] },
  {
    label: 'patch.synthesis',
    points: (process.env.BENCH_SYNTH_WEIGHTS ?? '0.1,0.4').split(',').map(Number).map((w) => ({ method: 'patch.synthesis', params: { contentWeight: w }, control: `contentWeight ${w}` })).concat([{ method: 'patch.synthesis', params: {}, control: 'default' }]),
  },
  { label: 'patch.quilting', points: [{ method: 'patch.quilting', params: {} }] },
  ...['filter.kuwahara', 'filter.oil', 'filter.watercolor', 'filter.toon', 'paint.strokes', 'paint.haeberli'].map((m) => ({ label: `${m} +style`, points: [{ method: m, params: {} }] })),
  { label: "G'MIC stylize", points: [{ method: 'gmic', params: {} }] },
];
const only = process.env.BENCH_ONLY?.split(',');
const active = only ? series.filter((s) => only.includes(s.label)) : series;

function gmicStylize(contentFile, styleFile, out) {
  const r = spawnSync('gmic', ['-v', '-1', contentFile, styleFile, 'stylize[0]', '[1]', 'rm[1]', 'o', out], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
  if (r.status !== 0) throw new Error(`gmic failed: ${r.stderr}`);
}

const results = [];
/** Sheet rows: per pair, the content, the style and each series' output at its last (strongest/default) point. */
const sheetRows = [];
const resultsFile = path.join(root, 'bench/results', process.env.BENCH_OUT ?? 'artistic.json');
const prev = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : undefined;
const gmicCache = process.env.BENCH_GMIC_CACHE === '1';
const pairName = (pair) => `${path.basename(pair.content).replace(/\.\w+$/, '')}-${path.basename(pair.style).replace(/\.\w+$/, '')}`;
const tagOf = (s, pt) => `${s.label}${pt.control ? ` ${pt.control}` : ''}`.replace(/[^a-z0-9.]+/gi, '_');
const resumed = new Set();
if (process.env.BENCH_RESUME) {
  const earlier = JSON.parse(readFileSync(process.env.BENCH_RESUME, 'utf8'));
  if (String(earlier.size) !== String(size ?? 'native (256²)')) throw new Error(`BENCH_RESUME: ${process.env.BENCH_RESUME} was run at size ${earlier.size}, this run is at ${size ?? 'native'}`);
  for (const i of chosen) {
    const name = pairName(pairs[i]);
    const rows = earlier.rows.filter((r) => r.pair === name && active.some((s) => s.label === r.series));
    if (rows.length === 0) continue;
    const row = { content: path.join(outDir, 'outputs', `${name}.content.png`), style: path.join(outDir, 'outputs', `${name}.style.png`) };
    for (const s of active) {
      const file = path.join(outDir, 'outputs', `${name}.${tagOf(s, s.points.at(-1))}.png`);
      if (rows.some((r) => r.series === s.label) && existsSync(file)) row[s.label] = file;
    }
    results.push(...rows);
    sheetRows.push(row);
    resumed.add(i);
  }
  console.log(`resumed ${resumed.size} pairs (${results.length} rows) from ${process.env.BENCH_RESUME}`);
}
const t0 = Date.now();
for (const i of chosen) {
  if (resumed.has(i)) continue;
  const pair = pairs[i];
  let content = await readImage(path.join(dataDir, pair.content));
  let style = await readImage(path.join(dataDir, pair.style));
  if (size) {
    const fit = (img) => { const s = size / Math.max(img.width, img.height); return resizeImage(img, Math.round(img.width * s), Math.round(img.height * s)); };
    content = fit(content);
    style = fit(style);
  }
  const name = pairName(pair);
  const cFile = path.join(outDir, 'outputs', `${name}.content.png`);
  const sFile = path.join(outDir, 'outputs', `${name}.style.png`);
  await writeImage(content, cFile, { force: true });
  await writeImage(style, sFile, { force: true });
  const sheetRow = { content: cFile, style: sFile };
  sheetRows.push(sheetRow);
  for (const s of active) {
    for (const pt of s.points) {
      const tag = tagOf(s, pt);
      const file = path.join(outDir, 'outputs', `${name}.${tag}.png`);
      let output;
      const t = performance.now();
      let cached = false;
      try {
        if (pt.method === 'gmic') {
          // The cached file is only trusted when it was made from these very inputs (same size).
          const key = `${file}.inputs`;
          const inputs = `${size ?? 'native'} ${pair.content} ${pair.style}`;
          cached = gmicCache && existsSync(file) && existsSync(key) && readFileSync(key, 'utf8') === inputs;
          if (!cached) {
            gmicStylize(cFile, sFile, file);
            writeFileSync(key, inputs);
          }
          output = await readImage(file);
          if (output.width !== content.width || output.height !== content.height) output = resizeImage(output, content.width, content.height);
        } else {
          const r = await runMethod(methods[pt.method], { content, style, extra: {} }, pt.params, { threads });
          output = r.image;
          await writeImage(output, file, { force: true });
        }
      } catch (e) {
        console.error(`${name} ${tag}: ${e.code ?? ''} ${e.message.split('\n')[0]}`);
        continue;
      }
      const ms = cached ? null : performance.now() - t;
      if (pt === s.points.at(-1)) sheetRow[s.label] = file;
      const st = await computeMetric(styleDistance, { output, style });
      const structure = structureSsim(output, content);
      results.push({ pair: name, series: s.label, method: pt.method, params: pt.params, control: pt.control ?? null, style: st.value, styleParts: st.parts, structure, ms });
      console.log(`${name}\t${tag}\tstyle ${st.value.toFixed(3)}\tstructure ${structure.toFixed(3)}\t${ms === null ? 'cached' : `${(ms / 1000).toFixed(1)} s`}`);
    }
  }
  writeResults(summarise(), { partial: `${sheetRows.length} of ${chosen.length} pairs done` });
}

/** Mean per series point: { groups, table }. */
function summarise() {
  const groups = new Map();
  for (const r of results) {
    const key = `${r.series}|${r.control ?? ''}`;
    const g = groups.get(key) ?? { series: r.series, control: r.control, style: [], structure: [], ms: [] };
    g.style.push(r.style);
    g.structure.push(r.structure);
    if (r.ms !== null) g.ms.push(r.ms);
    groups.set(key, g);
  }
  const table = [...groups.values()].map((g) => ({ series: g.series, control: g.control, pairs: g.style.length, style: mean(g.style), structure: mean(g.structure), seconds: g.ms.length ? mean(g.ms) / 1000 : null }));
  table.sort((a, b) => a.style - b.style);
  return { groups, table };
}

function mean(a) {
  return a.reduce((p, q) => p + q, 0) / a.length;
}

function writeResults({ table }, extra = {}) {
  writeFileSync(
    resultsFile,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        host: { cpus: os.cpus()[0]?.model, load: os.loadavg() },
        size: size ?? 'native (256²)',
        threads,
        pairs: sheetRows.length,
        minutes: (Date.now() - t0) / 60000,
        ...extra,
        table,
        rows: only && prev ? [...prev.rows.filter((r) => !only.includes(r.series)), ...results] : results,
      },
      null,
      1,
    ),
  );
}

const { groups, table } = summarise();
console.log('\nseries\tcontrol\tpairs\tstyle↓\tstructure↑\ts/pair');
for (const r of table) console.log(`${r.series}\t${r.control ?? ''}\t${r.pairs}\t${r.style.toFixed(3)}\t${r.structure.toFixed(3)}\t${r.seconds === null ? 'cached' : r.seconds.toFixed(2)}`);

const svg = scatterPlot(
  active
    .filter((s) => s.points.some((p) => groups.has(`${s.label}|${p.control ?? ''}`)))
    .map((s, k) => {
      const pts = s.points.map((p) => groups.get(`${s.label}|${p.control ?? ''}`)).filter(Boolean);
      return {
        label: s.label,
        color: SERIES_COLORS[k % SERIES_COLORS.length],
        points: pts.map((g) => ({ x: mean(g.style), y: mean(g.structure), title: `${s.label} ${g.control ?? ''}` })),
        ...(pts.length === 1 && { centre: { x: mean(pts[0].style), y: mean(pts[0].structure) } }),
      };
    }),
  { label: 'style distance (real VGG-19 Gram, relative) ↓' },
  { label: 'content structure (SSIM of blurred luma) ↑' },
  'Artistic trade-off over the dev pairs (mean per method / control value)',
);
writeFileSync(path.join(outDir, 'plot.svg'), svg);
writeResults({ table });

// The contact sheet (bench/patch-contact-sheet.js lays it out from a manifest).
const columns = ['content', 'style', ...active.map((s) => s.label).filter((l) => sheetRows.some((r) => r[l]))];
writeFileSync(path.join(outDir, 'manifest.json'), JSON.stringify({ columns, rows: sheetRows }, null, 1));
const sheet = spawnSync(process.execPath, [path.join(root, 'bench/patch-contact-sheet.js'), path.join(outDir, 'manifest.json'), '-o', path.join(outDir, 'contact-sheet.png'), '--cell', '160'], { encoding: 'utf8' });
console.log(sheet.status === 0 ? sheet.stdout.trim() : `contact sheet failed: ${sheet.stderr}`);
console.log(`plot: ${path.join(outDir, 'plot.svg')}`);
