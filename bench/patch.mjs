// Patch-based style transfer against G'MIC's `stylize` (Debian package gmic), same run, same images.
// For each artistic pair of the dev data: both inputs resized to 512 px on the long side, each
// tool run as a command (`atelier transfer` with the default method, `gmic … stylize`) with 2
// threads, median wall time of BENCH_RUNS runs (default 3); quality by two bench-local measures
// (bench/patch-metrics.js): SSIM of blurred luminance against the content (structure, higher is
// better) and sliced Wasserstein distance of 7 × 7 Lab patches against the style (style likeness,
// lower is better). Also times PatchMatch against exact search for the NNF module.
// Env: BENCH_RUNS, BENCH_PAIRS (e.g. 0,3,5), BENCH_SIZE (512), ATELIER_DEV_DATA (data folder),
// BENCH_PARAMS (JSON of extra patch.synthesis params, for tuning).
// Writes bench/results/patch.json, outputs and a manifest under .bench-out/patch/ (contact sheet:
// node bench/patch-contact-sheet.js). Other engineers share the 2 cores: timings are noisy.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { readImage } from '../dist/core/io.js';
import { Rng } from '../dist/core/rng.js';
import { exactSearch, gatherDescriptors, interleave, patchMatch, patchSampler, queryGrid } from '../dist/methods/patch/nnf.js';
import { patchSwd, structureSsim } from './patch-metrics.js';
import { median } from './stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = process.env.ATELIER_DEV_DATA ?? [path.resolve(root, '../shared/data/dev'), '/work/shared/data/dev'].find((d) => existsSync(path.join(d, 'pairs.json')));
if (!dataDir) {
  console.error('bench patch: no dev data (set ATELIER_DEV_DATA to the folder holding pairs.json)');
  process.exit(1);
}
const runs = Number(process.env.BENCH_RUNS ?? 3);
const size = Number(process.env.BENCH_SIZE ?? 512);
const threads = 2;
const extraParams = process.env.BENCH_PARAMS ? JSON.parse(process.env.BENCH_PARAMS) : {};
const outDir = path.join(root, '.bench-out/patch');
mkdirSync(path.join(outDir, 'in'), { recursive: true });

const gmic = spawnSync('gmic', ['-v', '-1', 'version'], { encoding: 'utf8' });
if (gmic.error) {
  console.error("bench patch: G'MIC not found; run scripts/system-deps.sh bench");
  process.exit(1);
}

const pairs = JSON.parse(readFileSync(path.join(dataDir, 'pairs.json'), 'utf8')).artistic;
const chosen = process.env.BENCH_PAIRS ? process.env.BENCH_PAIRS.split(',').map(Number) : pairs.map((_, i) => i);

async function prepared(rel) {
  const file = path.join(outDir, 'in', rel.replace(/[/\\]/g, '_').replace(/\.\w+$/, '.png'));
  if (!existsSync(file)) await sharp(path.join(dataDir, rel)).resize(size, size, { fit: 'inside' }).png().toFile(file);
  return file;
}

function timed(cmd, args, env = {}) {
  const t = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return ms;
}


const rows = [];
const manifest = { columns: ['content', 'style', 'gmic', 'atelier'], rows: [] };
for (const i of chosen) {
  const pair = pairs[i];
  const content = await prepared(pair.content);
  const style = await prepared(pair.style);
  const name = `${path.basename(pair.content).replace(/\.\w+$/, '')}-${path.basename(pair.style).replace(/\.\w+$/, '')}`;
  const gOut = path.join(outDir, `${name}.gmic.png`);
  const aOut = path.join(outDir, `${name}.atelier.png`);
  const gTimes = [];
  const aTimes = [];
  for (let r = 0; r < runs; r++) {
    gTimes.push(timed('gmic', ['-v', '-1', content, style, 'stylize[0]', '[1]', 'rm[1]', 'o', gOut], { OMP_NUM_THREADS: String(threads) }));
    const flags = Object.entries(extraParams).flatMap(([k, v]) => [`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`, String(v)]);
    aTimes.push(timed(process.execPath, [path.join(root, 'bin/atelier.js'), 'transfer', content, style, '-o', aOut, '-f', '-q', '--threads', String(threads), ...flags]));
  }
  const [c, s, g, a] = await Promise.all([content, style, gOut, aOut].map((f) => readImage(f)));
  const row = {
    pair: name,
    gmicMs: median(gTimes),
    atelierMs: median(aTimes),
    ratio: median(aTimes) / median(gTimes),
    ssimGmic: structureSsim(g, c),
    ssimAtelier: structureSsim(a, c),
    swdGmic: patchSwd(g, s),
    swdAtelier: patchSwd(a, s),
  };
  rows.push(row);
  manifest.rows.push({ content, style, gmic: gOut, atelier: aOut });
  // Partial results survive an interrupted run.
  writeFileSync(path.join(outDir, 'rows.partial.json'), JSON.stringify(rows, null, 2));
  console.log(
    `${name.padEnd(28)} time ${(row.atelierMs / 1000).toFixed(2)}s vs ${(row.gmicMs / 1000).toFixed(2)}s (×${row.ratio.toFixed(2)})  ` +
      `SSIM ${row.ssimAtelier.toFixed(3)} vs ${row.ssimGmic.toFixed(3)}  SWD ${row.swdAtelier.toFixed(4)} vs ${row.swdGmic.toFixed(4)}`,
  );
}
writeFileSync(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2));

// NNF: PatchMatch against exact search on one real case (a 64² crop of content against a 128² style, 7 × 7 patches).
const nnfCase = await (async () => {
  const c = await readImage(await prepared(pairs[chosen[0]].content));
  const s = await readImage(await prepared(pairs[chosen[0]].style));
  const small = (img, w) => sharp(Buffer.from(img.toInterleaved(255)), { raw: { width: img.width, height: img.height, channels: 3 } }).resize(w, w, { fit: 'fill' }).raw().toBuffer();
  const q = await small(c, 64);
  const t = await small(s, 128);
  const planesOf = (buf, w) => [0, 1, 2].map((k) => Float32Array.from({ length: w * w }, (_, i) => buf[i * 3 + k] / 255));
  const qi = interleave(planesOf(q, 64), 64, 64);
  const ti = interleave(planesOf(t, 128), 128, 128);
  const sampler = patchSampler(7);
  const grid = queryGrid(64, 64, 7, 1);
  const desc = gatherDescriptors(qi, sampler, grid.positions);
  let t0 = performance.now();
  const pm = patchMatch(desc, grid, ti, sampler, { rng: new Rng(1), iterations: 5 });
  const pmMs = performance.now() - t0;
  t0 = performance.now();
  const ex = exactSearch(desc, grid.cols * grid.rows, ti, sampler);
  const exMs = performance.now() - t0;
  const mean = (d) => d.reduce((a, b) => a + b, 0) / d.length;
  const exactShare = pm.index.filter((v, i) => v === ex.index[i]).length / pm.index.length;
  return { queries: grid.cols * grid.rows, targetPositions: 122 * 122, patchMatchMs: pmMs, exactMs: exMs, distanceRatio: mean(pm.distance) / mean(ex.distance), exactShare };
})();

const wins = (k, better) => rows.filter((r) => better(r[`${k}Atelier`], r[`${k}Gmic`])).length;
const summary = {
  pairs: rows.length,
  medianRatio: median(rows.map((r) => r.ratio)),
  ssimWins: wins('ssim', (a, g) => a > g),
  swdWins: wins('swd', (a, g) => a < g),
};
console.log(`\n| pair | Atelier s | G'MIC s | ratio | SSIM Atelier | SSIM G'MIC | SWD Atelier | SWD G'MIC |\n|---|---|---|---|---|---|---|---|`);
for (const r of rows) {
  console.log(
    `| ${r.pair} | ${(r.atelierMs / 1000).toFixed(2)} | ${(r.gmicMs / 1000).toFixed(2)} | ${r.ratio.toFixed(2)} | ${r.ssimAtelier.toFixed(3)} | ${r.ssimGmic.toFixed(3)} | ${r.swdAtelier.toFixed(4)} | ${r.swdGmic.toFixed(4)} |`,
  );
}
console.log(
  `\n${size} px long side, ${threads} threads, median of ${runs} runs (shared 2-core machine: other work adds noise).\n` +
    `median time ratio ${summary.medianRatio.toFixed(2)}; SSIM higher than G'MIC on ${summary.ssimWins}/${rows.length}; SWD lower on ${summary.swdWins}/${rows.length}\n` +
    `NNF (${nnfCase.queries} queries × ${nnfCase.targetPositions} positions, 7×7): PatchMatch ${nnfCase.patchMatchMs.toFixed(0)} ms, exact ${nnfCase.exactMs.toFixed(0)} ms, ` +
    `mean distance ratio ${nnfCase.distanceRatio.toFixed(3)}, ${(100 * nnfCase.exactShare).toFixed(0)} % exactly the nearest`,
);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(
  path.join(root, 'bench/results/patch.json'),
  JSON.stringify({ date: new Date().toISOString(), size, threads, runs, params: extraParams, summary, nnf: nnfCase, rows }, null, 2) + '\n',
);
