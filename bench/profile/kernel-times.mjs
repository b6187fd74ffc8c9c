// A compiled graph's runs under ONNX Runtime's own profiler, tabulated: kernel time per op type and
// per op with its input shapes, the first run (ORT's warm-up) left out. What the profile tools in
// this folder print; each builds its own graph and feeds.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const { compile } = await import('../../dist/engine/runtime.js');

/** Compile `graph` with the profiler on, run it `runs` times on `feeds`; the wall time of each run and ORT's events. */
export async function profiledRuns(graph, compileOptions, feeds, runs) {
  const dir = mkdtempSync(path.join(tmpdir(), 'atelier-profile-'));
  try {
    const runner = await compile(graph, { ...compileOptions, profile: path.join(dir, 'step') });
    const walls = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await runner.run(feeds);
      walls.push(performance.now() - t0);
    }
    return { walls, events: JSON.parse(readFileSync(runner.endProfiling(), 'utf8')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Print `title` with the profiled runs' walls, then the `top` op types and op/shape pairs by kernel time per run. */
export function printKernelTimes(title, { walls, events }, top) {
  const runStarts = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').map((e) => e.ts).sort((a, b) => a - b);
  const from = runStarts[1] ?? 0;
  const counted = Math.max(1, runStarts.length - 1);
  const byOp = new Map();
  const byNode = new Map();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < from) continue;
    const op = e.args.op_name;
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
    const shapes = (e.args.input_type_shape ?? []).map((s) => JSON.stringify(Object.values(s)[0])).join(' ');
    const key = `${op} ${shapes}`;
    const prev = byNode.get(key) ?? { us: 0, count: 0 };
    byNode.set(key, { us: prev.us + e.dur, count: prev.count + 1 });
  }
  const ms = (us) => (us / counted / 1000).toFixed(2).padStart(8);
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  console.log(`${title}: ${walls.slice(1).map((w) => w.toFixed(0)).join(', ')} ms per run (profiled); kernels ${ms(total)} ms per run`);
  console.log('\nper op type (ms per run):');
  for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us)} ${pct(us)}  ${op}`);
  console.log('\nper op and input shapes (ms per run, nodes):');
  for (const [key, v] of [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, top)) console.log(`${ms(v.us)} ${pct(v.us)}  ${String(v.count / counted).padStart(3)}×  ${key}`);
}
