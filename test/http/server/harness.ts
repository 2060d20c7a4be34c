import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import fastify, { type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { DrainResult, ServerProtection } from '../../../src/http/server/core.ts';
import { expressProtection } from '../../../src/http/server/express.ts';
import { fastifyProtection } from '../../../src/http/server/fastify.ts';
import { protect } from '../../../src/http/server/node.ts';

export type Adapter = 'node' | 'express' | 'fastify';
export const adapters: readonly Adapter[] = ['node', 'express', 'fastify'];

/**
 * The application behind every adapter: `/ok` answers 200, `/status/<n>` answers n, `/hold` answers 200 once
 * the test calls `release()`; every admitted request is logged by its `x-tag` header.
 */
export class App {
  readonly admitted: string[] = [];
  #held: (() => void)[] = [];

  get holding(): number {
    return this.#held.length;
  }

  /** Lets the oldest held request answer. */
  release(): void {
    this.#held.shift()?.();
  }

  answer(path: string, tag: string | undefined): Promise<{ status: number; body: string }> {
    this.admitted.push(tag ?? path);
    if (path.startsWith('/status/'))
      return Promise.resolve({ status: Number(path.slice(8)), body: 'status' });
    if (path === '/hold') {
      return new Promise((resolve) => this.#held.push(() => resolve({ status: 200, body: 'held' })));
    }
    return Promise.resolve({ status: 200, body: 'ok' });
  }
}

export interface Running {
  readonly url: string;
  readonly port: number;
  readonly app: App;
  readonly protection: ServerProtection;
  readonly server: http.Server;
  /**
   * The adapter's graceful shutdown: node:http and Express drain through `protection.close()` and then
   * close the server; Fastify drains through `fastify.close()` (the plugin's preClose hook).
   */
  shutdown(): Promise<DrainResult>;
  /** Tears down whatever is left (after `shutdown()` too). */
  close(): Promise<void>;
}

export interface ServerSettings {
  /** node:http server options (timeouts); Fastify gets them through its `http` option. */
  readonly http?: http.ServerOptions;
  /** Fastify's own options. Default `{ return503OnClosing: false }`, so that sluice answers while draining. */
  readonly fastify?: FastifyServerOptions;
}

function nodeListener(app: App) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0]!;
    // The body, if any, is read before the answer (GETs have none: 'end' comes at once).
    req.resume();
    req.once('end', () => {
      void app.answer(path, req.headers['x-tag'] as string | undefined).then(({ status, body }) => {
        res.statusCode = status;
        res.end(body);
      });
    });
  };
}

/** Starts `adapter` on port 0 around a fresh `App`, guarded by `protection`. */
export async function start(
  adapter: Adapter,
  protection: ServerProtection,
  settings: ServerSettings = {},
): Promise<Running> {
  const app = new App();
  const serverOptions = settings.http ?? {};
  let server: http.Server;
  let shutdown: () => Promise<DrainResult>;
  let teardown: () => Promise<void>;
  if (adapter === 'node' || adapter === 'express') {
    let listener: http.RequestListener;
    if (adapter === 'node') listener = protect(nodeListener(app), protection);
    else {
      const e = express();
      e.use(expressProtection(protection));
      e.use(nodeListener(app));
      listener = e;
    }
    const s = http.createServer(serverOptions, listener);
    server = s;
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
    shutdown = async () => {
      const result = await protection.close();
      await closeServer(s, false);
      return result;
    };
    teardown = () => closeServer(s, true);
  } else {
    const f = fastify({ return503OnClosing: false, ...settings.fastify, http: serverOptions });
    await f.register(fastifyProtection, { protection });
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const path = request.url.split('?')[0]!;
      const { status, body } = await app.answer(path, request.headers['x-tag'] as string | undefined);
      return reply.code(status).send(body);
    };
    f.get('/*', handler);
    f.post('/*', handler);
    await f.listen({ port: 0, host: '127.0.0.1' });
    server = f.server;
    let closing: Promise<undefined> | undefined;
    const closeFastify = (): Promise<undefined> => {
      closing ??= f.close();
      return closing;
    };
    shutdown = async () => {
      await closeFastify();
      return protection.close();
    };
    teardown = async () => {
      f.server.closeAllConnections();
      await closeFastify();
    };
  }
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    app,
    protection,
    server,
    shutdown,
    close: async () => {
      await teardown();
      await protection.close();
    },
  };
}

/** Closes `server`; with `all`, ends every connection first, else only idle ones end (Node >= 19). */
async function closeServer(server: http.Server, all: boolean): Promise<void> {
  if (all) server.closeAllConnections();
  if (!server.listening) return;
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** A GET over a fresh connection (or one of `agent`'s); `signal` aborts it. */
export function get(
  url: string,
  headers: Record<string, string | string[]> = {},
  signal?: AbortSignal,
  agent?: http.Agent,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = { headers, agent: agent ?? false, ...(signal ? { signal } : {}) };
    const req = http.get(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Polls (every ms of real time, as sockets need) until `condition` holds; fails after `turns` polls. */
export async function until(condition: () => boolean, turns = 2000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error('condition not reached');
}
