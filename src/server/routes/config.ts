import type { FastifyPluginAsync } from 'fastify';
import { VERSION } from '../../core/version.js';
import { DEFAULT_VIDEO_LIMITS } from '../../video/probe.js';
import type { ServerContext } from '../context.js';
import { ACCEPTED_FORMATS, MAX_STYLES } from '../uploads.js';

/** The browser's MIME type for each format the server sniffs and accepts. */
const MIME: Record<string, string[]> = {
  jpeg: ['image/jpeg'],
  png: ['image/png'],
  webp: ['image/webp'],
  tiff: ['image/tiff'],
  heif: ['image/avif', 'image/heif', 'image/heic'],
  gif: ['image/gif'],
};

/**
 * `GET /api/config`: the limits an upload must meet, so a client can check files before sending
 * them (the server checks again: bytes are sniffed, pixels counted on decode).
 */
export const configRoutes: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.get('/api/config', async () => ({
    version: VERSION,
    limits: {
      maxFileBytes: ctx.limits.maxFileBytes,
      maxPixels: ctx.limits.maxPixels,
      maxStyles: MAX_STYLES,
      imageTypes: [...ACCEPTED_FORMATS].flatMap((f) => MIME[f] ?? []),
      // Clips (the `video` field): ffprobe decides what is a video; these are the limits it checks.
      maxVideoSeconds: DEFAULT_VIDEO_LIMITS.maxDuration,
      maxVideoPixels: DEFAULT_VIDEO_LIMITS.maxFramePixels,
    },
  }));
};
