import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A real HTTP server on 127.0.0.1 (port 0) that injects faults, for chaos tests of the guarded fetch and of
 * `guard()`. Each request takes the next queued fault, or the default one when the queue is empty.
 */
export type Fault =
  /** Answers `status` (default 200) with `body` (default "ok"). */
  | { readonly kind: 'ok'; readonly status?: number; readonly body?: string }
  /** Answers 200 after `ms` (a latency spike). */
  | { readonly kind: 'latency'; readonly ms: number }
  /** Answers `status` (a 500 or 503 burst), with a Retry-After header if given, and a body of `bytes`. */
  | {
      readonly kind: 'status';
      readonly status: number;
      readonly retryAfter?: string;
      readonly bytes?: number;
    }
  /** Destroys the connection without answering (a reset). */
  | { readonly kind: 'reset' }
  /** Never answers (until the server closes). */
  | { readonly kind: 'hang' };

export interface Served {
  readonly method: string;
  readonly path: string;
  readonly fault: Fault['kind'];
}

export interface ChaosServer {
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  url(path?: string): string;
  /** Every request received, in order. */
  readonly served: readonly Served[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Queues `fault` for the next `count` requests (after those already queued). */
  inject(fault: Fault, count?: number): void;
  /** The fault of requests beyond the queue. Initially `{ kind: 'ok' }`. */
  setDefault(fault: Fault): void;
  /** Cancels pending latency timers, destroys hanging requests and every connection, and closes. */
  close(): Promise<void>;
}

export async function startChaosServer(): Promise<ChaosServer> {
  const queue: Fault[] = [];
  let fallback: Fault = { kind: 'ok' };
  const served: Served[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  let connections = 0;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const fault = queue.shift() ?? fallback;
    served.push({ method: req.method ?? 'GET', path: req.url ?? '/', fault: fault.kind });
    req.resume(); // drain any request body
    switch (fault.kind) {
      case 'ok':
        res.writeHead(fault.status ?? 200, { 'content-type': 'text/plain' });
        res.end(fault.body ?? 'ok');
        return;
      case 'latency': {
        const timer = setTimeout(() => {
          timers.delete(timer);
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('slow');
        }, fault.ms);
        timers.add(timer);
        return;
      }
      case 'status': {
        const headers: Record<string, string> = { 'content-type': 'text/plain' };
        if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
        res.writeHead(fault.status, headers);
        res.end(fault.bytes === undefined ? `status ${fault.status}` : 'x'.repeat(fault.bytes));
        return;
      }
      case 'reset':
        req.socket.destroy();
        return;
      case 'hang':
        return;
    }
  };

  const server = createServer(handle);
  server.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  return {
    origin,
    url: (path = '/') => origin + path,
    served,
    get connections() {
      return connections;
    },
    inject(fault, count = 1) {
      for (let i = 0; i < count; i++) queue.push(fault);
    },
    setDefault(fault) {
      fallback = fault;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await closed;
    },
  };
}
