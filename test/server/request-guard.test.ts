import { createServer, type Server } from 'node:net';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, type AtelierServer } from '../../src/server/app.js';
import { acceptedHostNames, bearerMatches, hostNameOf } from '../../src/server/request-guard.js';
import { tempDir } from '../helpers/fixtures.js';
import { runCliAsync } from '../helpers/cli.js';
import { multipart, samplePngs } from './helpers.js';
import { startAtelier } from './processes.js';

/**
 * The server from a browser's and an attacker's side: a foreign Host (DNS rebinding) is refused on
 * every route but /healthz, a cross-site Origin cannot change anything unless --cors allows it,
 * with or without a token; 401 names its scheme; methods a route lacks get 405 in our shape.
 */

const tmp = tempDir('atelier-guard-');
let pngs: Awaited<ReturnType<typeof samplePngs>>;
let open: AtelierServer;
let guarded: AtelierServer;

beforeAll(async () => {
  pngs = await samplePngs(32, 24);
  open = await buildServer({ dataDir: tmp.file('open'), execution: 'inline', concurrency: 1, studio: false });
  guarded = await buildServer({
    dataDir: tmp.file('guarded'),
    execution: 'inline',
    concurrency: 1,
    studio: false,
    token: 's3cret',
    host: '192.0.2.10',
    corsOrigins: ['https://friend.example'],
  });
});
afterAll(async () => {
  await open.close();
  await guarded.close();
  tmp.cleanup();
});

async function post(app: AtelierServer, headers: Record<string, string>) {
  const body = await multipart([
    ['method', 'color.reinhard'],
    ['content', { bytes: pngs.content }],
    ['style', { bytes: pngs.style }],
  ]);
  return app.inject({ method: 'POST', url: '/api/jobs', payload: body.payload, headers: { ...body.headers, ...headers } });
}

const AUTH = { authorization: 'Bearer s3cret' };

describe('Host', () => {
  it('answers loopback names and the configured host, refuses any other name (403) on every route but /healthz', async () => {
    for (const host of ['localhost:8420', '127.0.0.1:8420', '[::1]:8420', 'LOCALHOST', 'studio.localhost:1']) {
      expect((await open.inject({ url: '/api/methods', headers: { host } })).statusCode, host).toBe(200);
    }
    for (const host of ['evil.example', 'evil.example:8420', '127.0.0.1.evil.example', 'localhost.evil.example:8420']) {
      const r = await open.inject({ url: '/api/jobs', headers: { host } });
      expect(r.statusCode, host).toBe(403);
      expect(r.json().error.code).toBe('E_FORBIDDEN');
      expect(r.json().error.message).toMatch(/host name.*--allowed-host/);
    }
    // The studio and results too: a rebinding page must not read them.
    expect((await open.inject({ url: '/', headers: { host: 'evil.example' } })).statusCode).toBe(403);
    expect((await open.inject({ url: '/healthz', headers: { host: 'lb.internal' } })).statusCode).toBe(200);
    // With a token, the configured host; a foreign name is refused even with the right token.
    expect((await guarded.inject({ url: '/api/methods', headers: { host: '192.0.2.10:8420', ...AUTH } })).statusCode).toBe(200);
    expect((await guarded.inject({ url: '/api/methods', headers: { host: 'evil.example', ...AUTH } })).statusCode).toBe(403);
  });

  it('parses Host headers and lists names for a wildcard address', () => {
    expect(hostNameOf('Example.COM:80')).toBe('example.com');
    expect(hostNameOf('[::1]:8420')).toBe('[::1]');
    expect(hostNameOf('127.0.0.1')).toBe('127.0.0.1');
    const wildcard = acceptedHostNames({ host: '0.0.0.0' });
    expect(wildcard.has('127.0.0.1')).toBe(true);
    expect(wildcard.has('evil.example')).toBe(false);
    expect(acceptedHostNames({ host: '::1', allowedHosts: ['Atelier.Example'] }).has('atelier.example')).toBe(true);
  });
});

describe('Origin on state-changing requests', () => {
  it('refuses a cross-site POST and DELETE without a token (the default)', async () => {
    const evil = await post(open, { origin: 'http://evil.example' });
    expect(evil.statusCode).toBe(403);
    expect(evil.json().error.code).toBe('E_FORBIDDEN');
    expect(evil.json().error.message).toMatch(/Origin "http:\/\/evil\.example".*--cors/);
    // A browser that hides Origin still tells Sec-Fetch-Site; a null origin (sandboxed frame) is foreign.
    expect((await post(open, { 'sec-fetch-site': 'cross-site' })).statusCode).toBe(403);
    expect((await post(open, { origin: 'null' })).statusCode).toBe(403);
    // Same origin (the studio), and tools that send no Origin (curl, scripts) are served.
    const own = await post(open, { origin: 'http://localhost:80', 'sec-fetch-site': 'same-origin' });
    expect(own.statusCode).toBe(201);
    expect((await post(open, {})).statusCode).toBe(201);
    const id = own.json().id as string;
    const del = await open.inject({ method: 'DELETE', url: `/api/jobs/${id}`, headers: { origin: 'http://evil.example' } });
    expect(del.statusCode).toBe(403);
    // Reading is not state-changing: a GET with a foreign Origin is answered, without CORS headers
    // (so the foreign page's script cannot read it).
    const get = await open.inject({ url: '/api/methods', headers: { origin: 'http://evil.example' } });
    expect(get.statusCode).toBe(200);
    expect(get.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('with a token: a cross-site POST is refused even with the token, unless --cors names the origin', async () => {
    const headers = { host: '127.0.0.1:8420', ...AUTH };
    expect((await post(guarded, { ...headers, origin: 'http://evil.example' })).statusCode).toBe(403);
    const friend = await post(guarded, { ...headers, origin: 'https://friend.example' });
    expect(friend.statusCode).toBe(201);
    expect(friend.headers['access-control-allow-origin']).toBe('https://friend.example');
    // Preflight from the allowed origin works.
    const pre = await guarded.inject({
      method: 'OPTIONS',
      url: '/api/jobs',
      headers: { host: '127.0.0.1', origin: 'https://friend.example', 'access-control-request-method': 'POST' },
    });
    expect(pre.statusCode).toBeLessThan(300);
    expect(pre.headers['access-control-allow-origin']).toBe('https://friend.example');
  });
});

describe('bearer token', () => {
  it('401 carries WWW-Authenticate; the scheme is case-insensitive', async () => {
    const none = await guarded.inject({ url: '/api/methods', headers: { host: 'localhost' } });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="atelier"');
    expect(none.json().error.code).toBe('E_UNAUTHORIZED');
    for (const authorization of ['bearer s3cret', 'BEARER s3cret', 'Bearer  s3cret ']) {
      expect((await guarded.inject({ url: '/api/methods', headers: { host: 'localhost', authorization } })).statusCode, authorization).toBe(200);
    }
    for (const authorization of ['Bearer s3cre', 'Basic s3cret', 's3cret', 'Bearer s3cret extra']) {
      expect((await guarded.inject({ url: '/api/methods', headers: { host: 'localhost', authorization } })).statusCode, authorization).toBe(401);
    }
    expect(bearerMatches('bearer abc', 'abc')).toBe(true);
    expect(bearerMatches(undefined, 'abc')).toBe(false);
  });
});

describe('HTTP methods', () => {
  it('a method the route lacks gets 405 with Allow, in our error shape; an unknown path stays 404', async () => {
    const put = await open.inject({ method: 'PUT', url: '/api/jobs' });
    expect(put.statusCode).toBe(405);
    expect(put.headers.allow).toContain('POST');
    expect(put.json().error.code).toBe('E_HTTP_METHOD');
    const patch = await open.inject({ method: 'PATCH', url: '/api/jobs/00000000-0000-0000-0000-000000000000' });
    expect(patch.statusCode).toBe(405);
    expect(patch.headers.allow).toMatch(/GET.*DELETE/);
    const missing = await open.inject({ method: 'PUT', url: '/api/nothing' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('E_FILE_NOT_FOUND');
  });

  it('a method node cannot parse (FOO) gets 405 in our shape over a real socket', async () => {
    const base = await open.listen({ port: 0, host: '127.0.0.1' });
    const { port } = new URL(base);
    const r = await new Promise<{ status: number; body: string; allow?: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'FOO', path: '/api/jobs' }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body, ...(res.headers.allow && { allow: res.headers.allow }) }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(r.status).toBe(405);
    expect(JSON.parse(r.body).error.code).toBe('E_HTTP_METHOD');
    expect(r.allow).toContain('GET');
  });
});

describe('atelier serve', () => {
  let held: Server;
  beforeAll(async () => {
    held = createServer();
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => held.close());

  it('on a port in use: a sentence suggesting a port that is free, no stack trace, exit 1', async () => {
    const port = (held.address() as { port: number }).port;
    // The next port taken too: the suggestion must be one that works, not port + 1 blindly.
    const next = createServer();
    const nextTaken = await new Promise<boolean>((resolve) => {
      next.once('error', () => resolve(false));
      next.listen({ port: port + 1, host: '127.0.0.1' }, () => resolve(true));
    });
    try {
      const r = await runCliAsync(['serve', '--port', String(port), '--data-dir', tmp.file('busy')]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`Port ${port} on 127\\.0\\.0\\.1 is already in use.*--port (\\d+) \\(free now\\).*\\[E_BUSY\\]`));
      const suggested = Number(/--port (\d+) \(free now\)/.exec(r.stderr)![1]);
      expect(suggested).toBeGreaterThan(port);
      if (nextTaken) expect(suggested).toBeGreaterThan(port + 1);
      expect(r.stderr).not.toMatch(/internal error|This is a bug|at .*\.js:\d+/);
    } finally {
      if (nextTaken) await new Promise((r) => next.close(r));
    }
  });

  it('--host 0.0.0.0 says so, and lists loopback among the addresses that reach it', async () => {
    const child = await startAtelier(['serve', '--host', '0.0.0.0', '--port', '0', '--data-dir', tmp.file('wild')]);
    try {
      expect(child.ready).toMatch(/^listening on http:\/\/0\.0\.0\.0:\d+$/);
      const port = /:(\d+)$/.exec(child.ready)![1];
      await new Promise((r) => setTimeout(r, 200));
      expect(child.log()).toContain(`http://127.0.0.1:${port}`);
      expect(child.log()).toMatch(/warning: listening beyond loopback without --token/);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      await child.kill('SIGTERM');
    }
  });
});
