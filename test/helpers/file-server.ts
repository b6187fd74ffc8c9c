import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback HTTP server for download tests. Routes:
 *   /files/NAME        the file, with Range (206) and ETag support
 *   /cut/NAME          announces the full length, sends `cutAt` bytes, then drops the connection
 *   /flaky/NAME        like /cut on the first request, like /files afterwards (to test resuming)
 *   /norange/NAME      ignores Range headers (always 200 with the whole file)
 *   /html/NAME         a web page instead of the file (as file hosts' confirmation pages are)
 *   anything else      404
 * Every request's path and Range header are recorded in `requests`.
 */
export interface FileServer {
  url: (route: string) => string;
  requests: { path: string; range?: string }[];
  close(): Promise<void>;
}

export async function startFileServer(files: Record<string, Uint8Array>, options: { cutAt?: number } = {}): Promise<FileServer> {
  const requests: FileServer['requests'] = [];
  const flakyServed = new Set<string>();
  const server = http.createServer((req, res) => {
    const [, route, name] = (req.url ?? '').split('/');
    requests.push({ path: req.url ?? '', ...(req.headers.range && { range: req.headers.range }) });
    const body = name !== undefined ? files[name] : undefined;
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
    const cutAt = options.cutAt ?? Math.floor(body.length / 2);
    const cut = route === 'cut' || (route === 'flaky' && !flakyServed.has(name!));
    if (route === 'flaky') flakyServed.add(name!);
    if (route === 'html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><p>Confirm download</p>');
      return;
    }
    if (cut) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, etag });
      // a graceful close (FIN) after the bytes: a reset could make the client's kernel drop them unread
      res.write(body.subarray(0, cutAt), () => res.socket?.end());
      return;
    }
    if (route !== 'files' && route !== 'flaky' && route !== 'norange') {
      res.writeHead(404).end();
      return;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (range && route !== 'norange' && (!ifRange || ifRange === etag)) {
      const start = Number(range[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, {
        'content-type': 'application/octet-stream',
        'content-length': body.length - start,
        'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
        etag,
      });
      res.end(body.subarray(start));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, etag, 'accept-ranges': 'bytes' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (route) => `http://127.0.0.1:${port}/${route}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
