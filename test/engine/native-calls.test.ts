import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { expect, it } from 'vitest';
import { newNativeGauge, terminateBetweenNativeCalls } from '../../src/engine/native-calls.js';

/**
 * A worker thread that runs ONNX Runtime sessions back to back, ignoring every signal, is ended
 * while a run is under way: ended at once (Worker.terminate), onnxruntime-node 1.30 aborts the
 * whole process ("terminate called after throwing an instance of 'Napi::Error'"), which here would
 * take the test runner's fork down. terminateBetweenNativeCalls waits for the run to return. The worker loads the compiled engine (`npm run build`).
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const built = existsSync(path.join(root, 'dist/engine/native-calls.js'));
if (!built) console.warn('native-calls test skipped: no compiled build (run `npm run build`)');

const WORKER = `
import { parentPort, workerData } from 'node:worker_threads';
// Listening keeps the thread alive once it stops calling, as the CLI's and the server's threads are.
parentPort.on('message', () => {});
const dist = workerData.dist;
const { countNativeCallsIn } = await import(dist + '/engine/native-calls.js');
countNativeCallsIn(workerData.nativeGauge);
const { Graph } = await import(dist + '/engine/graph/graph.js');
const { vgg19, randomVgg19Weights } = await import(dist + '/engine/nets/vgg19.js');
const { compile } = await import(dist + '/engine/runtime.js');
const g = new Graph();
const x = g.input('image', [1, 3, 'H', 'W']);
g.output('y', vgg19(g, x, randomVgg19Weights('torchvision', 1), { layout: 'torchvision', taps: ['relu3_1'] }).relu3_1);
const runner = await compile(g, { threads: 1, cache: false });
const s = 384;
let runs = 0;
for (;;) {
  await runner.run({ image: { data: new Float32Array(3 * s * s), shape: [1, 3, s, s] } });
  parentPort.postMessage(++runs);
}
`;

it.skipIf(!built)('ends a thread in the middle of an ONNX Runtime run without taking the process down', async () => {
  const nativeGauge = newNativeGauge();
  const dist = new URL('../../dist', import.meta.url).href;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(WORKER)}`), { workerData: { nativeGauge, dist } });
  const runsSeen: number[] = [];
  worker.on('message', (n: number) => runsSeen.push(n));
  // Two runs done, so the sessions are built; then wait until the next run is under way.
  await expect.poll(() => runsSeen.length, { timeout: 60_000, interval: 20 }).toBeGreaterThanOrEqual(2);
  await expect.poll(() => Atomics.load(nativeGauge, 0), { timeout: 10_000, interval: 1 }).toBe(1);
  const code = await terminateBetweenNativeCalls(worker, nativeGauge, 2);
  expect(code).toBe(1); // ended by terminate(), not by a crash or its own exit
  expect(Atomics.load(nativeGauge, 0)).toBe(0);
}, 90_000);
