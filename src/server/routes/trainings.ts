import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { AtelierError } from '../../core/errors.js';
import { parseInteger } from '../../core/number-text.js';
import { forApi } from '../../core/describe.js';
import { describeTrainer, MAX_JOB_ITERATIONS } from '../../train/describe.js';
import { getTrainer, listTrainers } from '../../train/index.js';
import type { ServerContext } from '../context.js';
import type { TrainingJobParams } from '../job-record.js';
import { isTrainingJob } from '../job-store.js';
import { TRAINING_DIR } from '../jobs/training-task.js';
import { baseChoices, MAX_TRAINING_FILES, refuseTakenModel, trainingJobFromForm } from '../training-upload.js';
import { readForm } from '../uploads.js';
import { jobView } from './jobs.js';

type IdParams = { Params: { id: string } };

/**
 * Training over HTTP, for the studio's trainer page: `GET /api/trainers` (each registered recipe
 * with its form), `POST /api/trainings` (a multipart form: `trainer`, `model`, the loop's
 * `iterations` / `saveEvery` / `previewEvery` / `seed`, the recipe's `params` as JSON, and image
 * files by param name) → a job of kind `training` that the job routes follow, cancel and delete
 * like any other; `POST /api/jobs/:id/resume` continues a cancelled or failed training from its
 * last checkpoint (body `{ iterations }` to train longer); `GET /api/jobs/:id/losses` the losses
 * recorded so far (at each checkpoint), to redraw the plot after a reload.
 */
export const trainingRoutes: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const { store, queue } = ctx;

  app.get('/api/trainers', async () => ({
    trainers: listTrainers()
      .filter((t) => t.studio !== undefined)
      .map((t) => {
        const d = describeTrainer(t);
        return { ...d, params: forApi(d.params), ...(d.base && { base: { ...d.base, choices: baseChoices(t) } }) };
      }),
  }));
  app.get<IdParams>('/api/trainers/:id', async (request) => {
    const def = getTrainer(request.params.id);
    const d = describeTrainer(def);
    return { ...d, params: forApi(d.params), ...(d.base && { base: { ...d.base, choices: baseChoices(def) } }) };
  });

  app.post('/api/trainings', async (request, reply) => {
    const waiting = store.countByStatus().queued;
    if (waiting >= ctx.maxQueue) {
      const e = new AtelierError('E_BUSY', 'The queue is full', { expected: `at most ${ctx.maxQueue} waiting jobs (--max-queue)`, received: `${waiting} waiting` });
      return reply.code(503).header('retry-after', '30').send({ error: e.toJSON() });
    }
    const form = await readForm(request, ctx.limits, MAX_TRAINING_FILES);
    const job = await store.create(await trainingJobFromForm(form, { store, limits: ctx.limits, photos: ctx.trainingPhotos }));
    await queue.submit(job);
    return reply.code(201).header('location', `/api/jobs/${job.id}`).send(jobView(ctx, job));
  });

  app.post<IdParams & { Body: { iterations?: unknown } | undefined }>('/api/jobs/:id/resume', async (request, reply) => {
    const job = store.get(request.params.id);
    if (!isTrainingJob(job)) {
      throw new AtelierError('E_JOB', `Job ${job.id} is not a training`, { expected: 'a training job', hint: 'image and video jobs run again with POST /api/jobs/ID/rerun' });
    }
    if (job.status !== 'cancelled' && job.status !== 'failed') {
      throw new AtelierError('E_JOB', `Job ${job.id} is ${job.status}`, {
        expected: 'a cancelled or failed training',
        received: `a training that is ${job.status}`,
        hint: job.status === 'done' ? 'its model is installed; start a new training with it as the base model to train further' : 'it is running or waiting already',
      });
    }
    const params = job.params as unknown as TrainingJobParams;
    const iterations = parseInteger(request.body?.iterations, 'iterations', { min: 1, max: MAX_JOB_ITERATIONS, code: 'E_PARAM' }) ?? params.iterations;
    refuseTakenModel(store, params.model, job.id);
    if (!store.requeueTraining(job.id, { ...params, iterations })) throw new AtelierError('E_JOB', `Job ${job.id} changed meanwhile`, { hint: 'look at it again' });
    const requeued = store.get(job.id);
    await queue.submit(requeued);
    ctx.events.status(requeued);
    return reply.code(202).send(jobView(ctx, requeued));
  });

  app.get<IdParams>('/api/jobs/:id/losses', async (request) => {
    const job = store.get(request.params.id);
    if (!isTrainingJob(job)) throw new AtelierError('E_JOB', `Job ${job.id} is not a training`, { expected: 'a training job' });
    const text = await fs.readFile(path.join(store.jobDir(job.id), TRAINING_DIR, 'losses.json'), 'utf8').catch(() => undefined);
    const records = text ? ((JSON.parse(text) as { records?: unknown[] }).records ?? []) : [];
    return { records };
  });
};
