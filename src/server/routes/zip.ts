import type { FastifyPluginAsync } from 'fastify';
import { ZipFile } from 'yazl';
import { AtelierError } from '../../core/errors.js';
import type { ServerContext } from '../context.js';

const MAX_JOBS = 100;

/**
 * `GET /api/zip?jobs=ID,ID,…`: the results of finished jobs in one zip (a batch from the studio).
 * Entries are named `NN-method-id.png` in the order asked; PNGs are stored, not deflated again.
 * Every job must be done, or the request fails before any byte is sent.
 */
export const zipRoutes: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.get<{ Querystring: { jobs?: string } }>('/api/zip', async (request, reply) => {
    const ids = (request.query.jobs ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    if (ids.length === 0 || ids.length > MAX_JOBS || new Set(ids).size !== ids.length) {
      throw new AtelierError('E_PARAM', 'Which jobs to zip', {
        expected: `jobs=ID,ID,… naming 1 to ${MAX_JOBS} different jobs`,
        received: ids.length === 0 ? 'none' : `${ids.length} ids${new Set(ids).size !== ids.length ? ' with repeats' : ''}`,
        subject: 'jobs',
      });
    }
    const jobs = ids.map((id) => ctx.store.get(id));
    const unfinished = jobs.filter((j) => j.status !== 'done');
    if (unfinished.length > 0) {
      const e = new AtelierError('E_JOB', `${unfinished.length} of the jobs have no result`, {
        expected: 'finished jobs',
        received: unfinished.map((j) => `${j.id} is ${j.status}`).join('; '),
        hint: 'zip the batch once every job is done, or leave the failed ones out',
      });
      return reply.code(409).send({ error: e.toJSON() });
    }
    const results = await Promise.all(jobs.map((j) => ctx.store.readResult(j.id)));
    const zip = new ZipFile();
    const width = String(jobs.length).length;
    jobs.forEach((j, i) => zip.addBuffer(Buffer.from(results[i]!), `${String(i + 1).padStart(width, '0')}-${j.method}-${j.id.slice(0, 8)}.png`, { compress: false, mtime: new Date(j.finishedAt ?? j.createdAt) }));
    zip.end();
    return reply
      .header('content-type', 'application/zip')
      .header('content-disposition', `attachment; filename="atelier-batch-${jobs.length}.zip"`)
      .send(zip.outputStream);
  });
};
