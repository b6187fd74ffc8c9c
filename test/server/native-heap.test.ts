import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..');
const compiled = path.join(root, 'dist/server/jobs/native-heap.js');
const glibc = process.platform === 'linux' && Boolean((process.report?.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime);

/**
 * The server's job threads in miniature, in a fresh process (glibc's state is per process): one
 * large block freed first (glibc then raises its mmap threshold to that size), then two threads
 * in turn that each fill and free 256 MB of 8 MB buffers and end. Prints the RSS growth in MB.
 */
const child = `
import { Worker } from 'node:worker_threads';
const { pinMallocThreshold } = await import(${JSON.stringify(pathToFileURL(compiled).href)});
const rss = () => process.memoryUsage.rss() / 2 ** 20;
pinMallocThreshold();
{ let big = Buffer.alloc(32 * 2 ** 20, 1); big = null; }
global.gc();
const before = rss();
// (the thread inherits --input-type=module: its code is a module)
const job = "import { parentPort } from 'node:worker_threads'; let kept = []; for (let i = 0; i < 32; i++) kept.push(Buffer.alloc(8 * 2 ** 20 - 4096, 1)); kept = null; global.gc(); parentPort.postMessage(0);";
for (let i = 0; i < 2; i++) {
  const w = new Worker(job, { eval: true });
  await new Promise((r) => w.once('message', r));
  await w.terminate();
}
console.log(JSON.stringify({ grownMB: rss() - before }));
`;

function grownMB(env: Record<string, string>): number {
  // glibc's settings as a user would leave them (MALLOC_MMAP_THRESHOLD_ set by hand turns the tuning off).
  const { MALLOC_MMAP_THRESHOLD_: _, ...inherited } = process.env;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', child], { encoding: 'utf8', env: { ...inherited, ...env }, timeout: 60_000 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!).grownMB as number;
}

describe.skipIf(!existsSync(compiled) || !glibc)('native heap of a long-running server (glibc)', () => {
  it("gives a finished job thread's freed buffers back: RSS does not keep its arena heaps", () => {
    const tuned = grownMB({ ATELIER_MALLOC_TUNING: '' });
    // The larger of two runs: in one full-suite run glibc kept only 30 MB once (188 MB alone, 100 MB
    // in other full-suite runs); the precondition is that it does keep the arenas, not that it always does.
    const glibcDefaults = Math.max(grownMB({ ATELIER_MALLOC_TUNING: 'off' }), grownMB({ ATELIER_MALLOC_TUNING: 'off' }));
    // glibc's own behaviour first, so the test shows it measures something: the threads' arenas stay resident
    // (above 80, twice the tuned bound).
    expect(glibcDefaults).toBeGreaterThan(80);
    expect(tuned).toBeLessThan(48);
  }, 120_000);
});
