import { timingSafeEqual } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AtelierError } from '../core/errors.js';

/**
 * Who may talk to the server, decided before any route runs:
 * - `Host` must name this server (loopback names, the configured host, or — when listening on
 *   every interface — this machine's addresses and name). A DNS-rebinding page reaches us under
 *   its own domain name, so its requests are refused even though they come from the user's browser.
 * - A state-changing request (POST, PUT, PATCH, DELETE) from a browser must come from our own
 *   origin or one `--cors` allows. Browsers send `Origin` (or at least `Sec-Fetch-Site`) on such
 *   requests, so a foreign page cannot make the local server run or delete jobs. Tools (curl, the
 *   CLI) send neither and are not affected.
 * - With `--token`, every /api route needs `Authorization: Bearer <token>` (scheme in any case).
 * These checks hold with or without a token: a token does not stop a page that has it open in
 * the studio's tab from being tricked, and no token is the default.
 */

export interface GuardOptions {
  /** The address the server listens on (`--host`); loopback when absent. */
  host?: string;
  /** Further `Host` names to accept (a reverse proxy's public name). */
  allowedHosts?: string[];
  /** Origins `--cors` allows besides our own. */
  corsOrigins?: string[];
  token?: string;
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1', '[::1]'];
const WILDCARD = new Set(['0.0.0.0', '::', '[::]', '']);
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** `Host` header → the bare host name, lower case, without the port; IPv6 keeps its brackets. */
export function hostNameOf(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon >= 0 ? h.slice(0, colon) : h;
}

function bracketed(address: string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
}

/** The names a `Host` header may carry for a server listening on `host`. */
export function acceptedHostNames(options: Pick<GuardOptions, 'host' | 'allowedHosts'>): Set<string> {
  const names = new Set<string>();
  for (const n of LOOPBACK_NAMES) names.add(n);
  const host = (options.host ?? '127.0.0.1').toLowerCase();
  if (WILDCARD.has(host)) {
    // Every interface: the machine's own addresses and name are how the LAN reaches it.
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(bracketed(a.address.toLowerCase()));
    names.add(hostname().toLowerCase());
  } else {
    names.add(bracketed(host));
  }
  for (const h of options.allowedHosts ?? []) names.add(bracketed(h.toLowerCase()));
  // `*.localhost` always resolves to loopback (RFC 6761), never to an attacker's address.
  return names;
}

function isAcceptedHost(name: string, names: Set<string>): boolean {
  return names.has(name) || name.endsWith('.localhost');
}

function forbidden(summary: string, details: { expected: string; received: string; hint: string }): AtelierError {
  return new AtelierError('E_FORBIDDEN', summary, details);
}

/** The origin this request was sent to, as a browser would write it in `Origin`. */
function ownOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${(request.headers.host ?? '').toLowerCase()}`;
}

/** Check `Authorization` against the token: `Bearer` in any case, token compared in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]!);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function installRequestGuard(app: FastifyInstance, options: GuardOptions): void {
  const hosts = acceptedHostNames(options);
  const allowedOrigins = new Set((options.corsOrigins ?? []).map((o) => o.replace(/\/+$/, '').toLowerCase()));
  const token = options.token;

  app.addHook('onRequest', async (request, reply) => {
    // The matched route, not the raw URL, decides: no spelling of a path slips past a check.
    const route = request.routeOptions.url ?? request.url;
    // Load balancers probe /healthz under any name; it tells nothing about images or jobs.
    if (route === '/healthz') return;

    const hostHeader = request.headers.host ?? '';
    const name = hostNameOf(hostHeader);
    if (!isAcceptedHost(name, hosts)) {
      throw forbidden('This server does not answer to that host name', {
        expected: `a Host of ${[...hosts].slice(0, 6).join(', ')}${hosts.size > 6 ? ', …' : ''}`,
        received: JSON.stringify(hostHeader.slice(0, 100)),
        hint: 'open the studio at http://127.0.0.1:<port>/; behind a proxy, start the server with --allowed-host <name>',
      });
    }

    if (UNSAFE_METHODS.has(request.method)) {
      const origin = request.headers.origin;
      if (origin !== undefined) {
        const o = origin.replace(/\/+$/, '').toLowerCase();
        if (o !== ownOrigin(request) && !allowedOrigins.has(o)) {
          throw forbidden('Cross-site requests may not change anything here', {
            expected: `a request from this server's own pages${allowedOrigins.size > 0 ? ` or from ${[...allowedOrigins].join(', ')}` : ''}`,
            received: `Origin ${JSON.stringify(origin.slice(0, 100))}`,
            hint: 'to let another site drive this server, start it with --cors <origin>',
          });
        }
      } else {
        // A browser that did not send Origin still says where the request came from.
        const site = request.headers['sec-fetch-site'];
        if (site === 'cross-site' || site === 'same-site') {
          throw forbidden('Cross-site requests may not change anything here', {
            expected: "a request from this server's own pages",
            received: `Sec-Fetch-Site: ${site}`,
            hint: 'to let another site drive this server, start it with --cors <origin>',
          });
        }
      }
    }

    if (token && route.startsWith('/api/') && request.method !== 'OPTIONS' && !bearerMatches(request.headers.authorization, token)) {
      reply.header('www-authenticate', 'Bearer realm="atelier"');
      throw new AtelierError('E_UNAUTHORIZED', 'Missing or wrong bearer token', {
        expected: 'an `Authorization: Bearer <token>` header with the token the server was started with',
        hint: 'in the studio, enter the token under Settings',
      });
    }
  });
}
