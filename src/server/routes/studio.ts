import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';

/**
 * The studio: the Vite build of web/ (dist/web), read into memory once at start. Requests are
 * answered from that map, so no path a client sends ever reaches the filesystem.
 */

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

const CSP = "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'";

/** dist/web beside the compiled server; from the TypeScript sources (tests), the built one. */
export function studioDir(): string | undefined {
  const candidates = [fileURLToPath(new URL('../../web/', import.meta.url)), fileURLToPath(new URL('../../../dist/web/', import.meta.url))];
  return candidates.find((d) => existsSync(path.join(d, 'index.html')));
}

function readTree(dir: string, prefix = '/'): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) for (const [k, v] of readTree(full, `${prefix}${name}/`)) files.set(k, v);
    else files.set(prefix + name, readFileSync(full));
  }
  return files;
}

export const studioRoutes: FastifyPluginAsync = async (app) => {
  const dir = studioDir();
  const files = dir ? readTree(dir) : new Map<string, Buffer>();
  const index = files.get('/index.html');
  const sendIndex = (reply: import('fastify').FastifyReply) => {
    if (!index) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The studio is not built: run `npm run build` (it builds web/ with Vite into dist/web). The API is under /api.');
    }
    return reply.type(TYPES['.html']!).header('cache-control', 'no-cache').header('content-security-policy', CSP).send(index);
  };
  app.get('/', async (_request, reply) => sendIndex(reply));
  app.get('/assets/*', async (request, reply) => {
    const key = request.url.split('?')[0]!;
    const bytes = files.get(key);
    if (!bytes) return reply.code(404).type('text/plain').send('not found');
    return reply
      .type(TYPES[path.extname(key)] ?? 'application/octet-stream')
      // Vite puts a content hash in every asset name.
      .header('cache-control', 'public, max-age=31536000, immutable')
      .send(bytes);
  });
  for (const key of files.keys()) {
    if (key === '/index.html' || key.startsWith('/assets/')) continue;
    app.get(key, async (_request, reply) => reply.type(TYPES[path.extname(key)] ?? 'application/octet-stream').send(files.get(key)));
  }
};
