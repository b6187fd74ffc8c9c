import type { FastifyPluginAsync } from 'fastify';
import { describeMethod } from '../../core/describe.js';
import { isModelInstalled } from '../../engine/store.js';
import { getMethod, listMethods } from '../../methods/index.js';

/**
 * `GET /api/methods`: every registered method as the same JSON description `atelier methods
 * --json` prints (parameter JSON Schema from zod, inputs, weights status). The studio builds its
 * picker and forms from this alone, so a new method needs no studio change.
 */
export const methodRoutes: FastifyPluginAsync = async (app) => {
  app.get('/api/methods', async () => ({ methods: listMethods().map((m) => describeMethod(m, isModelInstalled)) }));
  app.get<{ Params: { id: string } }>('/api/methods/:id', async (request) => describeMethod(getMethod(request.params.id), isModelInstalled));
};
