import type { FastifyPluginAsync } from 'fastify';
import { VERSION } from '../../core/version.js';
import type { ServerContext } from '../context.js';

/** `GET /healthz`: liveness and queue depth, without authentication (for load balancers). */
export const healthRoutes: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.get('/healthz', async () => ({ ok: true, version: VERSION, queue: ctx.queue.kind, ...(await ctx.queue.stats()) }));
};
