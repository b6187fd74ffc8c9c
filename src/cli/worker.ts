import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { parseInteger } from '../core/number-text.js';
import type { CliCommand } from './command.js';
import { untilStopped } from './until-stopped.js';

export const worker: CliCommand = {
  register(command: Command) {
    command
      .requiredOption('--redis <url>', 'redis://host:port of the queue')
      .option('--concurrency <n>', 'jobs run at once (default 1)', '1')
      .option('--lock-duration <ms>', 'how long a job stays claimed by a worker that stopped answering before another takes it', '30000')
      .option('--work-dir <dir>', "where video jobs keep their clip and finished frames while they run (default: atelier-worker in the system's temp folder)")
      .option('--quiet', 'log nothing but errors')
      .action(async (opts: Record<string, string | boolean | undefined>) => {
        const concurrency = parseInteger(opts.concurrency as string, '--concurrency')!;
        const lockDurationMs = parseInteger(opts.lockDuration as string, '--lock-duration')!;
        const say = (m: string) => opts.quiet || process.stderr.write(`atelier worker: ${m}\n`);
        // Loaded here so that other commands do not pay for BullMQ at start.
        const [{ createExecutor }, { RedisWorker }] = await Promise.all([import('../server/jobs/executor.js'), import('../server/jobs/redis-worker.js')]);
        const w = new RedisWorker({
          url: String(opts.redis),
          concurrency,
          lockDurationMs,
          executor: createExecutor(undefined, concurrency),
          threads: Math.max(1, Math.floor(availableParallelism() / concurrency)),
          onEvent: say,
          ...(typeof opts.workDir === 'string' && { workDir: opts.workDir }),
        });
        await w.start();
        process.stdout.write(`worker ${w.id} ready\n`);
        const signal = await untilStopped();
        say(`${signal}, finishing running jobs`);
        await w.close();
      });
  },
};
