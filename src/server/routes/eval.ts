import type { FastifyPluginAsync } from 'fastify';
import { AtelierError } from '../../core/errors.js';
import { readImage } from '../../core/io.js';
import { resizeImage } from '../../core/resample.js';
import type { ServerContext } from '../app.js';
import { evalMetrics } from '../eval-metrics.js';

/**
 * `POST /api/eval` `{ job, metrics? }`: metrics of a finished job's result, each against the input
 * it is defined on (resized to the result's size). Default: every metric available.
 */
export const evalRoutes: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.post<{ Body: { job?: unknown; metrics?: unknown } }>('/api/eval', async (request, reply) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || typeof body.job !== 'string') {
      throw new AtelierError('E_PARAM', 'No job named', { expected: 'a JSON body such as {"job": "<id>", "metrics": ["ssim"]}', subject: 'job' });
    }
    const known = Object.keys(evalMetrics);
    const wanted = body.metrics === undefined ? known : body.metrics;
    if (!Array.isArray(wanted) || wanted.length === 0 || wanted.some((m) => typeof m !== 'string')) {
      throw new AtelierError('E_PARAM', 'metrics must be a non-empty list of metric ids', { expected: `some of ${known.join(', ')}`, subject: 'metrics' });
    }
    for (const m of wanted as string[]) {
      if (!evalMetrics[m]) throw new AtelierError('E_PARAM', `Unknown metric ${JSON.stringify(m)}`, { expected: `one of ${known.join(', ')}`, subject: 'metrics' });
    }
    const job = ctx.store.get(body.job);
    if (job.status !== 'done') {
      const e = new AtelierError('E_JOB', `Job ${job.id} has no result to evaluate`, { expected: 'a finished job', received: `a job that is ${job.status}` });
      return reply.code(409).send({ error: e.toJSON() });
    }
    const result = await readImage(await ctx.store.readResult(job.id), { name: 'result' });
    const references = new Map<string, Awaited<ReturnType<typeof readImage>>>();
    const out: Record<string, { value: number | null; higherIsBetter: boolean; title: string; reference: string }> = {};
    for (const id of wanted as string[]) {
      const metric = evalMetrics[id]!;
      const slot = metric.reference === 'content' ? 'content' : job.inputs.find((s) => s.startsWith('style-'));
      if (!slot) continue;
      if (!references.has(slot)) {
        const ref = await readImage(await ctx.store.readInput(job.id, slot), { name: slot, maxPixels: ctx.limits.maxPixels });
        references.set(slot, ref.sameSize(result) ? ref : resizeImage(ref, result.width, result.height));
      }
      const { value } = metric.compute(result, references.get(slot)!);
      // JSON has no Infinity: identical images have PSNR null with the reason in the title.
      out[id] = { value: Number.isFinite(value) ? value : null, higherIsBetter: metric.higherIsBetter, title: metric.title, reference: metric.reference };
    }
    return { job: job.id, metrics: out };
  });
};
