import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsync } from 'fastify';
import { AtelierError, isAtelierError } from '../../core/errors.js';
import { modelStatus } from '../../engine/store.js';
import { getMethod } from '../../methods/index.js';
import { redactPaths } from '../redact-paths.js';
import type { StyleThumbnails } from '../style-thumbnails.js';

/**
 * `GET /api/methods/:id/styles/:value`: the picture of one style in a method's gallery (its
 * `styleGallery`), as JPEG. A style pictured by a file its model ships (Magenta's 26 thumbnails)
 * is that file, once the model is installed; a style that is a network of its own (neural.fast) is
 * that network's output on the shipped sample, rendered on first request and kept
 * (style-thumbnails.ts). Styles are named by the method's own list, never by a path.
 */
export const styleRoutes: FastifyPluginAsync<{ thumbnails: StyleThumbnails }> = async (app, { thumbnails }) => {
  app.get<{ Params: { id: string; value: string } }>('/api/methods/:id/styles/:value', async (request, reply) => {
    const def = getMethod(request.params.id);
    const gallery = def.styleGallery;
    const item = gallery?.items.find((i) => String(i.value) === request.params.value);
    if (!gallery || !item) {
      throw new AtelierError('E_FILE_NOT_FOUND', `${def.id} has no style "${request.params.value}" in its gallery`, {
        ...(gallery && { expected: `one of ${gallery.items.map((i) => String(i.value)).join(', ')}` }),
        hint: 'GET /api/methods/ID names each method\'s gallery (styleGallery)',
      });
    }
    let bytes: Buffer;
    if (item.thumbnail !== undefined && gallery.model !== undefined) {
      const file = modelStatus(gallery.model).files.find((f) => f.path === item.thumbnail && f.format === 'jpeg' && f.installed);
      if (!file) {
        throw new AtelierError('E_WEIGHTS_MISSING', `The pictures of ${def.id}'s styles come with the model ${gallery.model}, which is not installed`, {
          subject: gallery.model,
          hint: `install it from the studio's Models, or run \`atelier models pull ${gallery.model}\``,
        });
      }
      bytes = await readFile(file.absolute);
    } else if (item.model !== undefined) {
      try {
        bytes = await thumbnails.picture(def, { ...item, model: item.model });
      } catch (e) {
        // The render's own failure may name the model's folder: only a redacted account leaves.
        if (isAtelierError(e)) throw new AtelierError(e.code, redactPaths(e.message));
        throw e;
      }
    } else {
      throw new AtelierError('E_FILE_NOT_FOUND', `The style "${item.label}" of ${def.id} has no picture`);
    }
    return reply.type('image/jpeg').header('cache-control', 'private, max-age=3600').send(bytes);
  });
};
