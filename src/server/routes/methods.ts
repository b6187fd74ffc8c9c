import type { FastifyPluginAsync } from 'fastify';
import { describeMethod, type MethodDescription } from '../../core/describe.js';
import type { AnyMethod } from '../../core/registry.js';
import { isModelInstalled, listModels } from '../../engine/store.js';
import { getMethod, listMethods } from '../../methods/index.js';

/**
 * `GET /api/methods`: every registered method as the same JSON description `atelier methods
 * --json` prints (parameter JSON Schema from zod, inputs, weights status). The studio builds its
 * picker and forms from this alone, so a new method needs no studio change. Models trained here
 * join the weights of the method that runs them (needed when its param names them), so the
 * studio's model choices offer them.
 */
function describe(def: AnyMethod, trained: ReturnType<typeof listModels>): MethodDescription {
  // The API's descriptions: the server takes names, never the files the CLI also takes.
  const d = describeMethod(def, isModelInstalled, 'api');
  for (const s of trained) {
    const use = s.entry.trained?.use;
    if (!use || use.method !== def.id || !s.installed) continue;
    d.weights.push({
      model: s.name,
      description: s.entry.description,
      when: { [use.param]: [s.name] },
      installed: true,
      trained: true,
      // What it was made for (a LoRA's base) and what it allows (a StarGAN's domains): forms offer it only where it fits.
      ...(use.params && { params: use.params }),
      ...(use.choices && { choices: Object.fromEntries(Object.entries(use.choices).map(([k, v]) => [k, [...v]])) }),
    });
  }
  return d;
}

const trainedModels = () => listModels().filter((s) => s.entry.trained !== undefined);

export const methodRoutes: FastifyPluginAsync = async (app) => {
  app.get('/api/methods', async () => {
    const trained = trainedModels();
    return { methods: listMethods().map((m) => describe(m, trained)) };
  });
  app.get<{ Params: { id: string } }>('/api/methods/:id', async (request) => describe(getMethod(request.params.id), trainedModels()));
};
