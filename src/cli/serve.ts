import { createServer } from 'node:net';
import { homedir, networkInterfaces } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { AtelierError } from '../core/errors.js';
import { parseInteger, parsePositiveNumber } from '../core/number-text.js';
import { parseDecimal } from '../core/params.js';
import { DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_PORT } from '../server/limits.js';
import type { CliCommand } from './command.js';
import { untilStopped } from './until-stopped.js';

/** The data directory when none is given: $ATELIER_DATA_DIR, else the XDG data home. */
export function defaultDataDir(): string {
  if (process.env.ATELIER_DATA_DIR) return process.env.ATELIER_DATA_DIR;
  const base = process.env.XDG_DATA_HOME || path.join(homedir(), '.local', 'share');
  return path.join(base, 'atelier', 'server');
}

function nonNegative(value: string, flag: string): number {
  const n = parseDecimal(value);
  if (n === undefined || n < 0) throw new AtelierError('E_USAGE', `Invalid value for ${flag}`, { expected: 'a number ≥ 0', received: JSON.stringify(value) });
  return n;
}

const UNITS: Record<string, number> = { '': 1024 ** 2, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `500M`, `20G`, `1.5T`, `300` (MiB) → bytes. */
export function parseSize(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(value.trim());
  if (!m || Number(m[1]) <= 0) {
    throw new AtelierError('E_USAGE', `Invalid value for ${flag}`, { expected: 'a size such as 500M, 20G or 1.5T (a plain number is MiB)', received: JSON.stringify(value) });
  }
  return Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

function urlOf(address: string, port: number): string {
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/**
 * What the server really listens on (fastify's own line names 127.0.0.1 even for 0.0.0.0), and
 * the URLs that reach it: for a wildcard address, each interface's, loopback first.
 */
export function describeAddresses(bound: { address: string; port: number; family: string }[], host: string): { listening: string; reachable: string[] } {
  const port = bound[0]?.port ?? 0;
  const wildcard = host === '0.0.0.0' || host === '::';
  if (!wildcard) return { listening: urlOf(bound[0]?.address ?? host, port), reachable: bound.map((b) => urlOf(b.address, port)) };
  const reachable: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (host === '0.0.0.0' && a.family !== 'IPv4') continue;
      reachable.push(urlOf(a.address, port));
    }
  }
  reachable.sort((a, b) => Number(!a.includes('127.0.0.1') && !a.includes('[::1]')) - Number(!b.includes('127.0.0.1') && !b.includes('[::1]')));
  return { listening: urlOf(host, port), reachable: reachable.length > 0 ? reachable : [urlOf('127.0.0.1', port)] };
}

/** `listen` failures a user can fix get a sentence: a port in use, a privileged port, an address not ours. */
export function listenError(e: unknown, host: string, port: number, freePort?: number): AtelierError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    const another = freePort !== undefined ? `choose another port with --port ${freePort} (free now), or --port 0 for any free one` : 'choose another port with --port, or --port 0 for any free one';
    return new AtelierError('E_BUSY', `Port ${port} on ${host} is already in use`, {
      hint: `another program (perhaps another \`atelier serve\`) listens there: stop it, or ${another}`,
      cause: e,
    });
  }
  if (code === 'EACCES') {
    return new AtelierError('E_USAGE', `Not allowed to listen on port ${port}`, { hint: 'ports below 1024 need privileges: choose one above, e.g. --port 8420', cause: e });
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
    return new AtelierError('E_USAGE', `Cannot listen on ${host}`, { expected: 'an address of this machine (127.0.0.1, 0.0.0.0, or an interface address)', received: JSON.stringify(host), cause: e });
  }
  return new AtelierError('E_INTERNAL', `Cannot listen on ${host}:${port} (${(e as Error).message})`, { cause: e });
}

/** The first of the next few ports that can be listened on now (a suggestion that works), if any. */
async function freePortAfter(host: string, port: number): Promise<number | undefined> {
  for (let p = port + 1; p <= Math.min(65535, port + 20); p++) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen({ port: p, host }, () => probe.close(() => resolve(true)));
    });
    if (free) return p;
  }
  return undefined;
}

export const serve: CliCommand = {
  register(command: Command) {
    command
      .option('-p, --port <port>', 'port to listen on (0: any free port)', String(DEFAULT_PORT))
      .option('--host <address>', 'address to listen on; anything but loopback exposes the server to the network', '127.0.0.1')
      .option('--data-dir <dir>', 'where jobs, uploads and results are kept (default $ATELIER_DATA_DIR or ~/.local/share/atelier/server)')
      .option('--token <token>', 'require `Authorization: Bearer <token>` on every /api request (or set ATELIER_TOKEN)')
      .option('--cors <origins>', 'comma-separated origins allowed to call the API from other sites (default: none)')
      .option('--allowed-host <names>', 'comma-separated Host names to answer to besides loopback and --host (a reverse proxy\'s public name)')
      .option('--max-upload-mb <n>', `largest uploaded file in MiB (default ${DEFAULT_MAX_UPLOAD_BYTES / 1024 / 1024})`)
      .option('--max-pixels <n>', `largest uploaded image in pixels (default ${DEFAULT_MAX_PIXELS})`)
      .option('--max-queue <n>', 'waiting jobs beyond which submissions get 503 (default 1000)')
      .option('--keep-days <days>', 'delete finished jobs (and images no other job uses) older than this, at start and hourly')
      .option('--max-disk <size>', 'delete the oldest finished jobs while stored images take more than this, e.g. 500M or 20G (plain numbers: MiB)')
      .option('--concurrency <n>', 'jobs run at once by the embedded queue (default: half the cores)')
      .option('--redis <url>', 'redis://host:port — queue jobs on BullMQ for `atelier worker` processes instead of running them here')
      .option('--training-photos <dir>', "photos training jobs train on when they upload none (default: the studio's sample photos)")
      .option('--quiet', 'log nothing but errors')
      .action(async (opts: Record<string, string | boolean | undefined>) => {
        const port = Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) {
          throw new AtelierError('E_USAGE', 'Invalid value for --port', { expected: 'an integer in [0, 65535]', received: JSON.stringify(opts.port) });
        }
        const host = String(opts.host);
        const token = (opts.token as string | undefined) ?? process.env.ATELIER_TOKEN;
        const maxUploadMb = parsePositiveNumber(opts.maxUploadMb as string | undefined, '--max-upload-mb');
        const maxPixels = parseInteger(opts.maxPixels as string | undefined, '--max-pixels');
        const concurrency = parseInteger(opts.concurrency as string | undefined, '--concurrency');
        const maxQueue = parseInteger(opts.maxQueue as string | undefined, '--max-queue');
        const keepDays = opts.keepDays === undefined ? undefined : nonNegative(String(opts.keepDays), '--keep-days');
        const maxDiskBytes = opts.maxDisk === undefined ? undefined : parseSize(String(opts.maxDisk), '--max-disk');
        const dataDir = path.resolve((opts.dataDir as string | undefined) ?? defaultDataDir());
        // Loaded here, not at the top: fastify, BullMQ and SQLite would slow every other command's start.
        const { buildServer } = await import('../server/app.js');
        const app = await buildServer({
          dataDir,
          host,
          ...(token && { token }),
          ...(typeof opts.allowedHost === 'string' && { allowedHosts: opts.allowedHost.split(',').map((s) => s.trim()).filter(Boolean) }),
          ...(typeof opts.cors === 'string' && { corsOrigins: opts.cors.split(',').map((s) => s.trim()).filter(Boolean) }),
          ...(maxUploadMb !== undefined && { maxUploadBytes: Math.floor(maxUploadMb * 1024 * 1024) }),
          ...(maxPixels !== undefined && { maxPixels }),
          ...(concurrency !== undefined && { concurrency }),
          ...(maxQueue !== undefined && { maxQueue }),
          ...(keepDays !== undefined && { keepDays }),
          ...(maxDiskBytes !== undefined && { maxDiskBytes }),
          ...(typeof opts.redis === 'string' && { redis: opts.redis }),
          ...(typeof opts.trainingPhotos === 'string' && { trainingPhotos: path.resolve(opts.trainingPhotos) }),
          // Failures (5xx) are logged as JSON lines on stderr.
          logger: { level: opts.quiet ? 'error' : 'warn' },
        });
        try {
          await app.listen({ port, host });
        } catch (e) {
          await app.close();
          throw listenError(e, host, port, (e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? await freePortAfter(host, port) : undefined);
        }
        const say = (m: string) => opts.quiet || process.stderr.write(`${m}\n`);
        const { listening, reachable } = describeAddresses(app.addresses().filter((a): a is import('node:net').AddressInfo => typeof a !== 'string'), host);
        // stdout carries exactly one line, the address, for scripts that start the server.
        process.stdout.write(`listening on ${listening}\n`);
        say(`atelier: studio at ${reachable[0]}/, API at ${reachable[0]}/api, data in ${dataDir}, ${opts.redis ? `jobs on Redis (${String(opts.redis)})` : 'jobs run here'}`);
        if (reachable.length > 1) say(`atelier: also reachable at ${reachable.slice(1).join(', ')}`);
        if (!LOOPBACK.has(host) && !token) say('atelier: warning: listening beyond loopback without --token; anyone who can reach this port can run jobs');
        const signal = await untilStopped();
        say(`atelier: ${signal}, stopping (running jobs will run again at the next start)`);
        await app.close();
      });
  },
};
