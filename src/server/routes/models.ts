import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsync } from 'fastify';
import { AtelierError } from '../../core/errors.js';
import { modelStatus } from '../../engine/store.js';
import type { ServerContext } from '../context.js';

type NameParams = { Params: { name: string } };

/**
 * The model store over HTTP, for the studio's model manager: `GET /api/models` (every model the
 * manifest knows: licence, size, installed, install progress), `POST /api/models/:name/install`
 * (202; body `{ acceptLicence: true }` for non-commercial licences, `variants: ["int8"]` for the
 * files of a model with variants: GET names them) and `DELETE
 * /api/models/:name/install` (cancel a download). Models are named, never located: no route takes
 * or returns a server path.
 */
export const modelRoutes: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.get('/api/models', async () => ({ models: ctx.installs.list() }));
  app.get<NameParams>('/api/models/:name', async (request) => ctx.installs.get(request.params.name));
  app.post<NameParams & { Body: { acceptLicence?: boolean; variants?: unknown } | undefined }>('/api/models/:name/install', async (request, reply) => {
    const variants = request.body?.variants;
    if (variants !== undefined && !(Array.isArray(variants) && variants.length <= 16 && variants.every((v) => typeof v === 'string' && v.length > 0 && v.length <= 64))) {
      throw new AtelierError('E_PARAM', 'variants must be a list of variant names', {
        subject: 'variants',
        expected: 'e.g. ["int8"] (GET /api/models names each model\'s variants)',
        received: JSON.stringify(variants).slice(0, 80),
      });
    }
    ctx.installs.start(request.params.name, request.body?.acceptLicence === true, variants as string[] | undefined);
    return reply.code(202).send(ctx.installs.get(request.params.name));
  });
  /**
   * A picture an installed model ships (a style thumbnail), by its path in the manifest: only
   * files the manifest lists as JPEG are served, never weights, and nothing outside the model.
   */
  app.get<{ Params: { name: string; '*': string } }>('/api/models/:name/files/*', async (request, reply) => {
    const file = modelStatus(request.params.name).files.find((f) => f.path === request.params['*'] && f.format === 'jpeg' && f.installed);
    if (!file) {
      throw new AtelierError('E_FILE_NOT_FOUND', `The model "${request.params.name}" has no installed picture by that name`, {
        hint: 'pictures (style thumbnails) are served once their model is installed; GET /api/methods names them',
      });
    }
    return reply.type('image/jpeg').header('cache-control', 'private, max-age=86400').send(await readFile(file.absolute));
  });
  app.delete<NameParams>('/api/models/:name/install', async (request, reply) => {
    const cancelled = ctx.installs.cancel(request.params.name);
    return reply.code(cancelled ? 202 : 200).send(ctx.installs.get(request.params.name));
  });
};
