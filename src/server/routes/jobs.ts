import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import sharp from 'sharp';
import { AtelierError } from '../../core/errors.js';
import { parseInteger } from '../../core/number-text.js';
import { parseParams } from '../../core/params.js';
import { methodParamsSchema } from '../../core/stylize.js';
import { getMethod } from '../../methods/index.js';
import type { ServerContext } from '../context.js';
import type { JobJson } from '../job-record.js';
import { FINISHED, isTrainingJob, isVideoJob, type InputSlot, type JobRecord } from '../job-store.js';
import { TRAINING_PREVIEW_FILE } from '../jobs/training-task.js';
import { PREVIEW_FILE } from '../jobs/video-task.js';
import { redactError } from '../redact-paths.js';
import { refuseServerPaths } from '../refuse-paths.js';
import { jobFromForm, readForm } from '../uploads.js';

/** A job as clients see it (JobJson, which the studio imports too). */
export function jobView(ctx: ServerContext, job: JobRecord): JobJson {
  const live = job.status === 'running' ? ctx.events.latestProgress(job.id) : undefined;
  return {
    ...job,
    ...(job.error && { error: redactError(job.error) }),
    ...(live && { progress: live.fraction, progressLabel: live.label }),
    links: {
      self: `/api/jobs/${job.id}`,
      events: `/api/jobs/${job.id}/events`,
      ...(job.status === 'done' && { result: `/api/jobs/${job.id}/result` }),
      ...((isVideoJob(job) || isTrainingJob(job)) && { preview: `/api/jobs/${job.id}/preview` }),
      ...(isTrainingJob(job) && { losses: `/api/jobs/${job.id}/losses` }),
      ...(isTrainingJob(job) && (job.status === 'cancelled' || job.status === 'failed') && { resume: `/api/jobs/${job.id}/resume` }),
      inputs: Object.fromEntries(job.inputs.map((slot) => [slot, `/api/jobs/${job.id}/inputs/${slot}`])),
    },
  };
}

type IdParams = { Params: { id: string } };

export const jobRoutes: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const { store, queue } = ctx;

  app.post('/api/jobs', async (request, reply) => {
    // A full queue refuses before reading the upload: a flood costs nothing but this answer.
    const waiting = store.countByStatus().queued;
    if (waiting >= ctx.maxQueue) {
      const e = new AtelierError('E_BUSY', 'The queue is full', {
        expected: `at most ${ctx.maxQueue} waiting jobs (--max-queue)`,
        received: `${waiting} waiting`,
        hint: 'try again when some have finished (Retry-After says when to look again)',
      });
      return reply.code(503).header('retry-after', '30').send({ error: e.toJSON() });
    }
    const job = await store.create(await jobFromForm(await readForm(request, ctx.limits), ctx.limits));
    await queue.submit(job);
    return reply.code(201).header('location', `/api/jobs/${job.id}`).send(jobView(ctx, job));
  });

  app.get<{ Querystring: { page?: string; pageSize?: string } }>('/api/jobs', async (request) => {
    const page = parseInteger(request.query.page, 'page', { max: 1_000_000, code: 'E_PARAM' }) ?? 1;
    const pageSize = parseInteger(request.query.pageSize, 'pageSize', { max: 100, code: 'E_PARAM' }) ?? 20;
    const { jobs, total } = store.list((page - 1) * pageSize, pageSize);
    return { jobs: jobs.map((j) => jobView(ctx, j)), page, pageSize, total, pages: Math.ceil(total / pageSize) };
  });

  app.get<IdParams>('/api/jobs/:id', async (request) => jobView(ctx, store.get(request.params.id)));

  /**
   * Cancel or delete. A queued job is cancelled at once (200); a running one's AbortSignal fires
   * (202). A finished job (done, failed, cancelled) is deleted with its files that no other job
   * names (200 `{ deleted }`), so DELETE twice both stops and removes a job.
   */
  app.delete<IdParams>('/api/jobs/:id', async (request, reply) => {
    const job = store.get(request.params.id);
    if (FINISHED.includes(job.status)) {
      const { freedBytes } = await store.delete(job.id);
      return reply.code(200).send({ deleted: job.id, freedBytes });
    }
    const outcome = await queue.cancel(job.id);
    return reply.code(outcome === 'cancelled' ? 200 : 202).send(jobView(ctx, store.get(job.id)));
  });

  /** Run a job again on the same stored inputs, optionally with other params (JSON body `{ params }`). */
  app.post<IdParams & { Body: { params?: Record<string, unknown>; method?: string } | undefined }>('/api/jobs/:id/rerun', async (request, reply) => {
    const from = store.get(request.params.id);
    if (isTrainingJob(from)) {
      throw new AtelierError('E_JOB', `Job ${from.id} is a training`, { hint: 'a cancelled or failed training continues with POST /api/jobs/ID/resume; POST /api/trainings starts a new one' });
    }
    const body = request.body ?? {};
    const def = getMethod(body.method ?? from.method);
    const params = body.params ?? from.params;
    if (typeof params !== 'object' || params === null || Array.isArray(params)) {
      throw new AtelierError('E_PARAM', 'params must be a JSON object', { subject: 'params' });
    }
    parseParams(methodParamsSchema(def), params, { methodId: def.id });
    refuseServerPaths(params, def.id);
    if (def.inputs.style === 'required' && !from.inputs.some((s) => s.startsWith('style-'))) {
      throw new AtelierError('E_INPUT_MISSING', `${def.id} needs a style image and job ${from.id} has none`);
    }
    const files: Partial<Record<InputSlot, Uint8Array>> = await store.readInputs(from);
    const job = await store.create({ method: def.id, params, ...(from.styleWeights && { styleWeights: from.styleWeights }), files, rerunOf: from.id });
    await queue.submit(job);
    return reply.code(201).header('location', `/api/jobs/${job.id}`).send(jobView(ctx, job));
  });

  app.get<IdParams & { Querystring: { download?: string } }>('/api/jobs/:id/result', async (request, reply) => {
    const job = store.get(request.params.id);
    if (job.status !== 'done') {
      const e = new AtelierError('E_JOB', `Job ${job.id} has no result`, {
        expected: 'a finished job',
        received: `a job that is ${job.status}`,
        hint: job.status === 'queued' || job.status === 'running' ? 'wait for it: GET /api/jobs/ID/events streams its progress' : 'submit it again',
      });
      return reply.code(409).send({ error: e.toJSON() });
    }
    const disposition = request.query.download !== undefined ? 'attachment' : 'inline';
    const video = isVideoJob(job);
    return reply
      .header('content-type', video ? 'video/mp4' : 'image/png')
      .header('content-disposition', `${disposition}; filename="atelier-${job.method}-${job.id.slice(0, 8)}.${video ? 'mp4' : 'png'}"`)
      .header('cache-control', 'private, max-age=31536000, immutable')
      .send(await store.readResult(job.id));
  });

  /**
   * A video job's latest finished frame (JPEG), refreshed about once a second while it runs; a
   * training's latest preview on its fixed photo, refreshed every `previewEvery` iterations.
   */
  app.get<IdParams>('/api/jobs/:id/preview', async (request, reply) => {
    const job = store.get(request.params.id);
    const file = isVideoJob(job) ? PREVIEW_FILE : isTrainingJob(job) ? TRAINING_PREVIEW_FILE : undefined;
    const bytes = file ? await fs.readFile(path.join(store.jobDir(job.id), file)).catch(() => undefined) : undefined;
    if (!bytes) {
      throw new AtelierError('E_FILE_NOT_FOUND', `Job ${job.id} has no preview`, {
        expected: 'a video job that has finished at least one frame, or a training that has made its first preview',
        hint: file ? 'try again in a moment' : 'previews exist for video and training jobs only',
      });
    }
    return reply.header('content-type', 'image/jpeg').header('cache-control', 'no-store').send(bytes);
  });

  app.get<{ Params: { id: string; slot: string } }>('/api/jobs/:id/inputs/:slot', async (request, reply) => {
    const job = store.get(request.params.id);
    const slot = job.inputs.find((s) => s === request.params.slot);
    if (!slot) {
      throw new AtelierError('E_FILE_NOT_FOUND', `Job ${job.id} has no input ${JSON.stringify(request.params.slot)}`, { expected: `one of ${job.inputs.join(', ')}` });
    }
    const bytes = await store.readInput(job.id, slot);
    if (slot === 'video') return reply.header('content-type', 'application/octet-stream').header('content-disposition', 'attachment').send(bytes);
    // Inputs were sniffed on upload; the type served is what the bytes are.
    const format = (await sharp(bytes).metadata()).format;
    return reply
      .header('content-type', format === 'jpeg' ? 'image/jpeg' : `image/${format === 'heif' ? 'avif' : format}`)
      .header('cache-control', 'private, max-age=31536000, immutable')
      .send(bytes);
  });
};
