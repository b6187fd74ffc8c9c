/**
 * The compiled server or a Redis worker, as `atelier serve` / `atelier worker` run them, but with
 * every job held HOLD_MS first (HeldExecutor): crash tests kill this process while a job is surely
 * running. Prints the same first line as the real commands.
 *   node test/server/held-atelier.mjs serve DATA_DIR HOLD_MS
 *   node test/server/held-atelier.mjs worker REDIS_URL HOLD_MS LOCK_MS [WORK_DIR]
 */
import { buildServer } from '../../dist/server/app.js';
import { createExecutor } from '../../dist/server/jobs/executor.js';
import { RedisWorker } from '../../dist/server/jobs/redis-worker.js';
import { HeldExecutor } from './held-executor.mjs';

const [mode, where, holdMs, lockMs, workDir] = process.argv.slice(2);
const executor = new HeldExecutor(createExecutor(undefined, 1), Number(holdMs));
if (mode === 'serve') {
  const app = await buildServer({ dataDir: where, concurrency: 1, studio: false, executor });
  await app.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`listening on http://127.0.0.1:${app.server.address().port}\n`);
} else if (mode === 'worker') {
  const worker = new RedisWorker({ url: where, concurrency: 1, lockDurationMs: Number(lockMs), executor, threads: 1, onEvent: (m) => process.stderr.write(`atelier worker: ${m}\n`), ...(workDir && { workDir }) });
  await worker.start();
  process.stdout.write(`worker ${worker.id} ready\n`);
} else {
  process.stderr.write('usage: held-atelier.mjs serve DATA_DIR HOLD_MS | worker REDIS_URL HOLD_MS LOCK_MS\n');
  process.exit(2);
}
