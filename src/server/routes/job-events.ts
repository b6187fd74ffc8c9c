import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';
import { FINISHED, type JobRecord } from '../job-store.js';
import type { JobEvent } from '../jobs/job-events.js';
import { redactError } from '../redact-paths.js';
import { jobView } from './jobs.js';

const HEARTBEAT_MS = 15_000;

/**
 * `GET /api/jobs/:id/events`: server-sent events. First `status` (the job as it is), then
 * `progress` (the method's ProgressEvents: start, step, frame, download) and `status` changes,
 * and last `done` (the finished job) or `error` ({ code, message, status }: failed or cancelled),
 * after which the stream ends. A client that connects after the end gets `status` and the end.
 */
export const jobEventRoutes: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  // Open streams are never idle, so closing the server ends them rather than waiting on them.
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const stop of [...open]) stop();
  });
  app.get<{ Params: { id: string } }>('/api/jobs/:id/events', async (request, reply) => {
    ctx.store.get(request.params.id); // 404 before the stream starts
    const id = request.params.id;
    const raw = reply.raw;
    reply.hijack();
    raw.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>), // CORS headers, when enabled
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
    });
    const send = (event: string, data: unknown) => raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    let closed = false;
    const finish = (job: JobRecord) => {
      if (job.status === 'done') send('done', jobView(ctx, job));
      else send('error', { ...redactError(job.error ?? { code: 'E_JOB', message: `The job ${job.status}` }), status: job.status });
      stop();
    };
    const onEvent = (e: JobEvent) => {
      if (closed) return;
      if (e.type === 'progress') send('progress', e.event);
      else if (FINISHED.includes(e.job.status)) finish(e.job);
      else send('status', jobView(ctx, e.job));
    };
    // Subscribe before reading the state, so an end between the two is not missed.
    const unsubscribe = ctx.events.subscribe(id, onEvent);
    const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
    function stop() {
      if (closed) return;
      closed = true;
      open.delete(stop);
      unsubscribe();
      clearInterval(heartbeat);
      raw.end();
    }
    open.add(stop);
    raw.on('close', stop);
    raw.write('retry: 2000\n\n');
    const job = ctx.store.get(id);
    send('status', jobView(ctx, job));
    const latest = ctx.events.latestProgress(id);
    if (latest && job.status === 'running') send('progress', latest);
    if (FINISHED.includes(job.status)) finish(job);
  });
};
