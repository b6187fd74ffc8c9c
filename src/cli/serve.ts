import { homedir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { AtelierError } from '../core/errors.js';
import { DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_PORT } from '../server/limits.js';
import type { CliCommand } from './commands.js';

/** The data directory when none is given: $ATELIER_DATA_DIR, else the XDG data home. */
export function defaultDataDir(): string {
  if (process.env.ATELIER_DATA_DIR) return process.env.ATELIER_DATA_DIR;
  const base = process.env.XDG_DATA_HOME || path.join(homedir(), '.local', 'share');
  return path.join(base, 'atelier', 'server');
}

export function positiveNumber(value: string | undefined, flag: string, integer = true): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new AtelierError('E_USAGE', `Invalid value for ${flag}`, { expected: integer ? 'a positive integer' : 'a positive number', received: JSON.stringify(value) });
  }
  return n;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Resolve when the process is asked to stop (Ctrl-C, SIGTERM). */
export function untilStopped(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(signal);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
  });
}

export const serve: CliCommand = {
  register(program: Command) {
    program
      .command('serve')
      .description('Run the HTTP API and the web studio. Jobs persist in the data directory and survive restarts.')
      .option('-p, --port <port>', 'port to listen on (0: any free port)', String(DEFAULT_PORT))
      .option('--host <address>', 'address to listen on; anything but loopback exposes the server to the network', '127.0.0.1')
      .option('--data-dir <dir>', 'where jobs, uploads and results are kept (default $ATELIER_DATA_DIR or ~/.local/share/atelier/server)')
      .option('--token <token>', 'require `Authorization: Bearer <token>` on every /api request (or set ATELIER_TOKEN)')
      .option('--cors <origins>', 'comma-separated origins allowed to call the API from other sites (default: none)')
      .option('--max-upload-mb <n>', `largest uploaded file in MiB (default ${DEFAULT_MAX_UPLOAD_BYTES / 1024 / 1024})`)
      .option('--max-pixels <n>', `largest uploaded image in pixels (default ${DEFAULT_MAX_PIXELS})`)
      .option('--concurrency <n>', 'jobs run at once by the embedded queue (default: half the cores)')
      .option('--redis <url>', 'redis://host:port — queue jobs on BullMQ for `atelier worker` processes instead of running them here')
      .option('--quiet', 'log nothing but errors')
      .action(async (opts: Record<string, string | boolean | undefined>) => {
        const port = Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) {
          throw new AtelierError('E_USAGE', 'Invalid value for --port', { expected: 'an integer in [0, 65535]', received: JSON.stringify(opts.port) });
        }
        const host = String(opts.host);
        const token = (opts.token as string | undefined) ?? process.env.ATELIER_TOKEN;
        const maxUploadMb = positiveNumber(opts.maxUploadMb as string | undefined, '--max-upload-mb', false);
        const maxPixels = positiveNumber(opts.maxPixels as string | undefined, '--max-pixels');
        const concurrency = positiveNumber(opts.concurrency as string | undefined, '--concurrency');
        const dataDir = path.resolve((opts.dataDir as string | undefined) ?? defaultDataDir());
        // Loaded here, not at the top: fastify, BullMQ and SQLite would slow every other command's start.
        const { buildServer } = await import('../server/app.js');
        const app = await buildServer({
          dataDir,
          ...(token && { token }),
          ...(typeof opts.cors === 'string' && { corsOrigins: opts.cors.split(',').map((s) => s.trim()).filter(Boolean) }),
          ...(maxUploadMb !== undefined && { maxUploadBytes: Math.floor(maxUploadMb * 1024 * 1024) }),
          ...(maxPixels !== undefined && { maxPixels }),
          ...(concurrency !== undefined && { concurrency }),
          ...(typeof opts.redis === 'string' && { redis: opts.redis }),
          // Failures (5xx) are logged as JSON lines on stderr.
          logger: { level: opts.quiet ? 'error' : 'warn' },
        });
        const address = await app.listen({ port, host });
        const say = (m: string) => opts.quiet || process.stderr.write(`${m}\n`);
        // stdout carries exactly one line, the address, for scripts that start the server.
        process.stdout.write(`listening on ${address}\n`);
        say(`atelier: studio at ${address}/, API at ${address}/api, data in ${dataDir}, ${opts.redis ? `jobs on Redis (${String(opts.redis)})` : 'jobs run here'}`);
        if (!LOOPBACK.has(host) && !token) say('atelier: warning: listening beyond loopback without --token; anyone who can reach this port can run jobs');
        const signal = await untilStopped();
        say(`atelier: ${signal}, stopping (running jobs will run again at the next start)`);
        await app.close();
      });
  },
};
