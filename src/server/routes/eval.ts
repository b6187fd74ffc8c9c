import { availableParallelism } from 'node:os';
import type { FastifyPluginAsync } from 'fastify';
import { AtelierError } from '../../core/errors.js';
import type { Image } from '../../core/image.js';
import { readImage } from '../../core/io.js';
import { resizeImage } from '../../core/resample.js';
import { isModelInstalled } from '../../engine/store.js';
import { getMetric, listMetrics } from '../../metrics/index.js';
import { computeMetric, type MetricDefinition, type MetricResult } from '../../metrics/metric.js';
import type { ServerContext } from '../context.js';

/** Image metrics a job can be scored with: not the frame metrics, which need a video. */
function imageMetrics(): MetricDefinition[] {
  return listMetrics().filter((m) => !m.needs.includes('frames'));
}

function weightsReady(m: MetricDefinition): boolean {
  return (m.weights ?? []).every((w) => isModelInstalled(w.model));
}

/**
 * `GET /api/metrics`: the image metrics of the registry (src/metrics) and whether their weights
 * are installed. `POST /api/eval` `{ job, metrics?, weights? }`: score a finished job's result
 * against its content and style. Default: every image metric whose weights are installed;
 * `weights: "random"` lets neural metrics run on seeded random weights (labelled in `notes`).
 */
export const evalRoutes: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.get('/api/metrics', async () => ({
    metrics: imageMetrics().map((m) => ({
      id: m.id,
      title: m.title,
      summary: m.summary,
      higherIsBetter: m.higherIsBetter,
      aspect: m.aspect,
      needs: m.needs,
      weights: (m.weights ?? []).map((w) => ({ ...w, installed: isModelInstalled(w.model) })),
    })),
  }));

  app.post<{ Body: { job?: unknown; metrics?: unknown; weights?: unknown } }>('/api/eval', async (request, reply) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || typeof body.job !== 'string') {
      throw new AtelierError('E_PARAM', 'No job named', { expected: 'a JSON body such as {"job": "<id>", "metrics": ["ssim"]}', subject: 'job' });
    }
    if (body.weights !== undefined && body.weights !== 'installed' && body.weights !== 'random') {
      throw new AtelierError('E_PARAM', 'Invalid weights', { expected: '"installed" or "random"', received: JSON.stringify(body.weights), subject: 'weights' });
    }
    const weights = (body.weights ?? 'installed') as 'installed' | 'random';
    let defs: MetricDefinition[];
    if (body.metrics === undefined) {
      defs = imageMetrics().filter((m) => weights === 'random' || weightsReady(m));
    } else {
      if (!Array.isArray(body.metrics) || body.metrics.length === 0 || body.metrics.some((m) => typeof m !== 'string')) {
        throw new AtelierError('E_PARAM', 'metrics must be a non-empty list of metric ids', { expected: `some of ${imageMetrics().map((m) => m.id).join(', ')}`, subject: 'metrics' });
      }
      defs = (body.metrics as string[]).map(getMetric);
      const video = defs.find((m) => m.needs.includes('frames'));
      if (video) throw new AtelierError('E_PARAM', `The metric ${video.id} scores videos, not a job's image`, { subject: 'metrics' });
    }
    const job = ctx.store.get(body.job);
    if (job.status !== 'done') {
      const e = new AtelierError('E_JOB', `Job ${job.id} has no result to evaluate`, { expected: 'a finished job', received: `a job that is ${job.status}` });
      return reply.code(409).send({ error: e.toJSON() });
    }
    const output = await readImage(await ctx.store.readResult(job.id), { name: 'result' });
    const content0 = await readImage(await ctx.store.readInput(job.id, 'content'), { name: 'content image', maxPixels: ctx.limits.maxPixels });
    // Metrics compare the content at the output's size; the style at any size.
    const content: Image = content0.sameSize(output) ? content0 : resizeImage(content0, output.width, output.height);
    const styleSlot = job.inputs.find((s) => s.startsWith('style-'));
    const style = styleSlot ? await readImage(await ctx.store.readInput(job.id, styleSlot), { name: 'style image', maxPixels: ctx.limits.maxPixels }) : undefined;
    const out: Record<string, MetricResult & { title: string; higherIsBetter: boolean; aspect: string }> = {};
    const skipped: Record<string, string> = {};
    for (const def of defs) {
      if (def.needs.includes('style') && !style) {
        skipped[def.id] = 'the job has no style image';
        continue;
      }
      // A requested metric whose weights are missing fails the request (503 with the fix).
      const result = await computeMetric(def, { output, content, ...(style && { style }) }, { weights, threads: availableParallelism(), seed: 1 });
      out[def.id] = { ...result, title: def.title, higherIsBetter: def.higherIsBetter, aspect: def.aspect };
    }
    return { job: job.id, metrics: out, ...(Object.keys(skipped).length > 0 && { skipped }) };
  });
};
