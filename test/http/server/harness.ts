import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import fastify from 'fastify';
import type { ServerProtection } from '../../../src/http/server/core.ts';
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
  close(): Promise<void>;
}

function nodeListener(app: App) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0]!;
    void app.answer(path, req.headers['x-tag'] as string | undefined).then(({ status, body }) => {
      res.statusCode = status;
      res.end(body);
    });
  };
}

/** Starts `adapter` on port 0 around a fresh `App`, guarded by `protection`. */
export async function start(adapter: Adapter, protection: ServerProtection): Promise<Running> {
  const app = new App();
  let server: http.Server;
  let stop: () => Promise<void>;
  if (adapter === 'node') {
    server = http.createServer(protect(nodeListener(app), protection));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    stop = () => closeServer(server);
  } else if (adapter === 'express') {
    const e = express();
    e.use(expressProtection(protection));
    e.use(nodeListener(app));
    server = e.listen(0, '127.0.0.1');
    await once(server, 'listening');
    stop = () => closeServer(server);
  } else {
    const f = fastify();
    await f.register(fastifyProtection, { protection });
    f.get('/*', async (request, reply) => {
      const path = request.url.split('?')[0]!;
      const { status, body } = await app.answer(path, request.headers['x-tag'] as string | undefined);
      return reply.code(status).send(body);
    });
    await f.listen({ port: 0, host: '127.0.0.1' });
    server = f.server;
    stop = async () => {
      f.server.closeAllConnections();
      await f.close();
    };
  }
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    app,
    protection,
    close: async () => {
      await stop();
      protection.close();
    },
  };
}

async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** A GET over a fresh connection; `signal` aborts it. */
export function get(
  url: string,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false, ...(signal ? { signal } : {}) }, (res) => {
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
