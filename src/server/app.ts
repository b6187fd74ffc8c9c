import { availableParallelism } from 'node:os';
import path from 'node:path';
import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { AtelierError, httpStatusFor, isAtelierError } from '../core/errors.js';
import type { ServerContext } from './context.js';
import { isTrainingJob, JobStore } from './job-store.js';
import { DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_BYTES } from './limits.js';
import { EmbeddedQueue } from './jobs/embedded-queue.js';
import { createExecutor, type Executor } from './jobs/executor.js';
import { JobEvents } from './jobs/job-events.js';
import type { JobQueue } from './jobs/job-queue.js';
import { RedisQueue } from './jobs/redis-queue.js';
import { SplitQueue } from './jobs/split-queue.js';
import { ModelInstalls } from './model-installs.js';
import { configRoutes } from './routes/config.js';
import { evalRoutes } from './routes/eval.js';
import { healthRoutes } from './routes/health.js';
import { jobEventRoutes } from './routes/job-events.js';
import { jobRoutes } from './routes/jobs.js';
import { methodRoutes } from './routes/methods.js';
import { modelRoutes } from './routes/models.js';
import { studioRoutes } from './routes/studio.js';
import { styleRoutes } from './routes/styles.js';
import { StyleThumbnails } from './style-thumbnails.js';
import { trainingRoutes } from './routes/trainings.js';
import { zipRoutes } from './routes/zip.js';
import { trainingPhotoFiles } from './training-upload.js';
import { installRequestGuard } from './request-guard.js';
import type { UploadLimits } from './uploads.js';

/**
 * `atelier serve`: the HTTP API and the studio over the method registry. Safe by default: listens
 * on loopback (the CLI's choice), no CORS, optional bearer token, limits on upload bytes and
 * pixels, uploads sniffed, results reachable only by job id.
 */
export interface ServerOptions {
  /** Where the SQLite database and job files live. */
  dataDir: string;
  /** When set, every /api request needs `Authorization: Bearer <token>`. */
  token?: string;
  /** The address the server listens on: decides which `Host` names are answered (loopback by default). */
  host?: string;
  /** More `Host` names to answer to (a reverse proxy's public name). */
  allowedHosts?: string[];
  /** Origins allowed to call the API from a browser; none by default (CORS off). */
  corsOrigins?: string[];
  /** Bytes per uploaded file (default 32 MiB). */
  maxUploadBytes?: number;
  /** Pixels per uploaded image (default 40 MP). */
  maxPixels?: number;
  /** Jobs run at once by the embedded queue (default: half the cores, at least 1). */
  concurrency?: number;
  /** `redis://…`: put jobs on BullMQ for `atelier worker` processes instead of running them here. */
  redis?: string;
  /** 'thread' (default when compiled) runs jobs on worker threads; 'inline' on the server's thread. */
  execution?: 'thread' | 'inline';
  /** Run the embedded queue's jobs on this executor instead (an embedding's own, or a test double); `execution` is then unused. */
  executor?: Executor;
  /** Waiting jobs beyond which POST /api/jobs answers 503 (default 1000). */
  maxQueue?: number;
  /** Finished jobs older than this many days are deleted, at start and every `retentionIntervalMs`. */
  keepDays?: number;
  /** Oldest finished jobs are deleted until the stored images fit in this many bytes. */
  maxDiskBytes?: number;
  /** How often retention runs while the server is up (default hourly). */
  retentionIntervalMs?: number;
  /** Photos training jobs train on when they upload none (default: the studio's content samples). */
  trainingPhotos?: string;
  /** Serve the studio at `/` (default true). */
  studio?: boolean;
  /** fastify's logger (pino): false (default), or the level to log at. */
  logger?: false | { level: 'error' | 'warn' | 'info' };
}


export const DEFAULT_MAX_QUEUE = 1000;

export type AtelierServer = FastifyInstance & { atelier: ServerContext };

export function defaultConcurrency(): number {
  return Math.max(1, Math.floor(availableParallelism() / 2));
}

export async function buildServer(options: ServerOptions): Promise<AtelierServer> {
  const limits: UploadLimits = {
    maxFileBytes: options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES,
    maxPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS,
  };
  const store = new JobStore(options.dataDir);
  const events = new JobEvents();
  const concurrency = options.concurrency ?? defaultConcurrency();
  let main: JobQueue;
  if (options.redis) {
    main = new RedisQueue(store, events, options.redis, { maxPixels: limits.maxPixels }, (m) => process.stderr.write(`atelier: ${m}\n`));
  } else {
    const threads = Math.max(1, Math.floor(availableParallelism() / concurrency));
    main = new EmbeddedQueue(store, events, options.executor ?? createExecutor(options.execution, concurrency), concurrency, { maxPixels: limits.maxPixels, threads }, (j) => !isTrainingJob(j));
  }
  // Trainings run here one at a time, on their own thread, with the threads of half the cores.
  const trainingThreads = Math.max(1, Math.floor(availableParallelism() / 2));
  const training = new EmbeddedQueue(store, events, createExecutor(options.execution, 1), 1, { maxPixels: limits.maxPixels, threads: trainingThreads }, isTrainingJob);
  const queue: JobQueue = new SplitQueue(store, main, training);

  const app = Fastify({
    // stdout carries only the address line (scripts read it); logs go to stderr.
    logger: options.logger ? { ...options.logger, stream: process.stderr } : false,
    // JSON bodies are small (eval requests); uploads go through multipart with their own limit.
    bodyLimit: 1024 * 1024,
    // Requests node's HTTP parser cannot read (an unknown method such as FOO, a broken header)
    // get our error shape too, not fastify's.
    clientErrorHandler: answerClientError,
  }) as unknown as AtelierServer;
  const installs = new ModelInstalls();
  app.decorate('atelier', { store, events, queue, limits, installs, maxQueue: options.maxQueue ?? DEFAULT_MAX_QUEUE, trainingPhotos: trainingPhotoFiles(options.trainingPhotos) });

  app.setErrorHandler((err: FastifyError | AtelierError, request, reply) => {
    const e = toAtelierError(err, limits);
    const status = httpStatusFor(e);
    if (status >= 500) request.log.error({ err }, 'request failed');
    void reply.code(status).send({ error: e.toJSON() });
  });
  app.setNotFoundHandler((request, reply) => {
    const allowed = methodsAt(app, request.url);
    if (allowed.length > 0) {
      const e = new AtelierError('E_HTTP_METHOD', `${request.method} is not allowed on ${request.url.split('?')[0]}`, { expected: `one of ${allowed.join(', ')}` });
      return reply.code(405).header('allow', allowed.join(', ')).send({ error: e.toJSON() });
    }
    const e = new AtelierError('E_FILE_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`, {
      hint: 'the API lives under /api (GET /api/methods, POST /api/jobs, …)',
    });
    void reply.code(404).send({ error: e.toJSON() });
  });
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
  });

  if (options.corsOrigins && options.corsOrigins.length > 0) {
    await app.register(cors, { origin: options.corsOrigins, methods: ['GET', 'POST', 'DELETE'] });
  }
  installRequestGuard(app, { ...(options.host && { host: options.host }), ...(options.allowedHosts && { allowedHosts: options.allowedHosts }), ...(options.corsOrigins && { corsOrigins: options.corsOrigins }), ...(options.token && { token: options.token }) });

  await app.register(multipart, { limits: { fileSize: limits.maxFileBytes } });
  await app.register(healthRoutes, { ctx: app.atelier });
  await app.register(methodRoutes);
  await app.register(jobRoutes, { ctx: app.atelier });
  await app.register(jobEventRoutes, { ctx: app.atelier });
  await app.register(evalRoutes, { ctx: app.atelier });
  await app.register(configRoutes, { ctx: app.atelier });
  await app.register(modelRoutes, { ctx: app.atelier });
  await app.register(styleRoutes, { thumbnails: new StyleThumbnails(path.join(options.dataDir, 'gallery')) });
  await app.register(zipRoutes, { ctx: app.atelier });
  await app.register(trainingRoutes, { ctx: app.atelier });
  if (options.studio ?? true) await app.register(studioRoutes);

  // Retention at start (before any job runs), then periodically; errors are logged, never fatal.
  const policy = { ...(options.keepDays !== undefined && { keepDays: options.keepDays }), ...(options.maxDiskBytes !== undefined && { maxDiskBytes: options.maxDiskBytes }) };
  let retention: Promise<unknown> = Promise.resolve();
  const applyRetention = (graceMs?: number) => {
    retention = retention.then(() => store.applyRetention(policy, graceMs)).catch((e: unknown) => app.log.error({ err: e }, 'retention failed'));
    return retention;
  };
  const retentionTimer = setInterval(() => void applyRetention(), options.retentionIntervalMs ?? 3_600_000);
  retentionTimer.unref();
  app.addHook('onClose', async () => {
    clearInterval(retentionTimer);
    await retention;
    installs.close();
    await queue.close();
    store.close();
  });
  try {
    // Nothing is being created yet: blobs a killed server wrote for no recorded job go at once.
    await applyRetention(0);
    await queue.start();
  } catch (e) {
    await app.close();
    throw e;
  }
  return app;
}

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** The methods some route answers to at this URL (for 405 and `Allow`). */
function methodsAt(app: FastifyInstance, url: string): string[] {
  const pathOnly = url.split('?')[0]!;
  const found = HTTP_METHODS.filter((method) => app.findRoute({ method, url: pathOnly }) !== null);
  // CORS answers OPTIONS on every path: that alone does not make a path exist.
  return found.some((m) => m !== 'OPTIONS') ? found : [];
}

/** A request node's parser refused: answer in our shape on the raw socket, then close it. */
function answerClientError(err: Error & { code?: string }, socket: import('node:net').Socket): void {
  if (!socket.writable) return;
  const e =
    err.code === 'HPE_INVALID_METHOD'
      ? new AtelierError('E_HTTP_METHOD', 'Unknown HTTP method', { expected: 'GET, POST, DELETE (or HEAD, OPTIONS)' })
      : new AtelierError('E_PARAM', 'The request is malformed', { received: err.code ?? err.message });
  const status = err.code === 'HPE_INVALID_METHOD' ? 405 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const body = JSON.stringify({ error: e.toJSON() });
  socket.end(
    `HTTP/1.1 ${status} ${status === 405 ? 'Method Not Allowed' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n` +
      (status === 405 ? 'Allow: GET, HEAD, POST, DELETE, OPTIONS\r\n' : '') +
      `\r\n${body}`,
  );
}

/** Fastify's and its plugins' errors carry an HTTP status; give each a code and a sentence. */
function toAtelierError(err: FastifyError | AtelierError, limits: UploadLimits): AtelierError {
  if (isAtelierError(err)) return err;
  const e = err as FastifyError;
  switch (e.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return new AtelierError('E_TOO_LARGE', 'An uploaded file is too large', {
        expected: `at most ${limits.maxFileBytes.toLocaleString('en')} bytes per file`,
        hint: 'shrink or recompress the image first',
      });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AtelierError('E_TOO_LARGE', 'The request body is too large', { hint: 'images go in a multipart form to POST /api/jobs' });
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new AtelierError('E_TOO_LARGE', 'The form has too many parts', { received: e.message });
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new AtelierError('E_INPUT_MISSING', 'A job is submitted as a multipart form', { expected: 'Content-Type: multipart/form-data' });
  }
  const status = e.statusCode ?? 500;
  if (status === 413) return new AtelierError('E_TOO_LARGE', 'The request is too large', { received: e.message });
  if (status >= 400 && status < 500) return new AtelierError('E_PARAM', 'The request is malformed', { received: e.message });
  return new AtelierError('E_INTERNAL', `The server failed (${e.message})`, { cause: e });
}
