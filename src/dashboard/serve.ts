import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, BlockList, isIP } from 'node:net';
import { ConfigError } from '../core/errors.ts';
import { integer } from '../core/validate.ts';
import type { DashboardAddress, DashboardHandler, DashboardListenOptions } from './types.ts';

const MIN_TOKEN = 16;

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/** True for a loopback address or name: `127.0.0.0/8`, `::1`, an IPv4-mapped loopback, `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const family = isIP(h);
  return family !== 0 && loopback.check(h, family === 4 ? 'ipv4' : 'ipv6');
}

/** Hashing first makes the comparison take the same time whatever the lengths. */
function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Whether the request carries `token`: `Authorization: Bearer <token>`, or `?token=<token>`. */
export function hasToken(req: IncomingMessage, expected: Buffer): boolean {
  let given: string | undefined;
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    given = m?.[1];
  }
  if (given === undefined) {
    const q = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
    given = q ?? undefined;
  }
  // Compare even when nothing was given, so a missing token takes as long as a wrong one.
  return timingSafeEqual(digest(given ?? ''), expected) && given !== undefined;
}

/** The host part of a Host header: `[::1]:80` → `::1`, `localhost:8080` → `localhost`. */
function hostOf(header: string | undefined): string {
  if (header === undefined) return '';
  const m = /^\[([^\]]*)\]/.exec(header);
  if (m !== null) return m[1]!;
  const colon = header.lastIndexOf(':');
  return colon < 0 ? header : header.slice(0, colon);
}

/**
 * Serves `handler` on its own server. Without a token it binds loopback only, and answers only requests
 * addressed to a loopback name: a web page the user visits cannot reach it by pointing a DNS name of its
 * own at 127.0.0.1 (DNS rebinding).
 */
export async function serve(
  handler: DashboardHandler,
  options: DashboardListenOptions,
  onClose: () => void,
): Promise<DashboardAddress> {
  if (typeof options !== 'object' || options === null)
    throw new ConfigError('options', options, 'an object { port?, host?, token? }');
  const port = integer('port', options.port ?? 0, 0, 65535);
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') throw new ConfigError('host', host, 'an address to bind');
  const token = options.token;
  if (token !== undefined && (typeof token !== 'string' || token.length < MIN_TOKEN || /\s/.test(token))) {
    throw new ConfigError(
      'token',
      token === undefined || typeof token !== 'string' ? token : '(hidden)',
      `a string of at least ${MIN_TOKEN} characters without spaces`,
    );
  }
  if (token === undefined && !isLoopback(host)) {
    throw new ConfigError(
      'host',
      host,
      'a loopback address (127.0.0.1, ::1, localhost) unless a token is given: the dashboard shows the service internals',
    );
  }
  const expected = token === undefined ? undefined : digest(token);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (expected !== undefined) {
      if (!hasToken(req, expected)) {
        res.writeHead(401, {
          'content-type': 'text/plain; charset=utf-8',
          'www-authenticate': 'Bearer realm="sluice dashboard"',
        });
        res.end(
          'sluice: this dashboard needs its token (Authorization: Bearer <token>, or ?token=<token>)\n',
        );
        return;
      }
    } else if (!isLoopback(hostOf(req.headers.host))) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('sluice: this dashboard answers only requests to a loopback address\n');
      return;
    }
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const query = token === undefined ? '' : `?token=${encodeURIComponent(token)}`;
  const url = `http://${shown}:${address.port}/${query}`;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      onClose();
      server.close(() => resolve());
      // Live streams never end by themselves.
      server.closeAllConnections();
    });
    return closing;
  };
  return { url, host: address.address, port: address.port, server, close };
}
