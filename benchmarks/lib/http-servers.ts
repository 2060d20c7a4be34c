/**
 * The servers of the HTTP overhead benchmark, each run in its own child process so that the load
 * generator's CPU is not the server's. Run directly, the module starts the server named by its first
 * argument (options as JSON in the second), sends `{ type: 'ready', port }`, answers `{ type: 'memory' }`
 * (and `{ type: 'gc' }`, which collects all garbage first when `--expose-gc` is on) with
 * `{ type: 'memory', memory }`, and exits when the parent disconnects.
 *
 * - `hello`: node:http answering `hello world` (the origin behind the proxies);
 * - `fastify-plain` / `fastify-sluice`: Fastify 5 with one hello-world route, bare or with the plugin;
 * - `proxy-plain`: node:http forwarding through an undici `Pool` with streamed bodies, hop-by-hop headers
 *   dropped and `X-Forwarded-*` set: the sluice proxy's shape without the limiter;
 * - `proxy-sluice`: sluice's `createProxy`;
 * - `gateway`: node:http guarded by `protect()`, forwarding through an undici `Pool` (the overload run);
 * - `gateway-plain`: the same forwarder through the same `Pool`, without `protect()`: the overload run's
 *   control. It cannot shed, so under overload every request it is sent waits for the downstream.
 *
 * Both gateways report, with their memory, how many requests their pool holds towards the downstream.
 */
import { type ChildProcess, fork } from 'node:child_process';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { getHeapSpaceStatistics } from 'node:v8';
import Fastify from 'fastify';
import { Pool } from 'undici';
import { fastifyProtection } from '../../src/http/server/fastify.ts';
import { protect } from '../../src/http/server/node.ts';
import { createProxy } from '../../src/proxy/proxy.ts';

export type ServerKind =
  | 'hello'
  | 'fastify-plain'
  | 'fastify-sluice'
  | 'proxy-plain'
  | 'proxy-sluice'
  | 'gateway'
  | 'gateway-plain';

export interface ServerOptions {
  /** Origin the proxies and the gateway forward to. */
  readonly upstream?: string;
  /** Keep-alive connections to the upstream. Default 128 (the sluice proxy's default). */
  readonly connections?: number;
  /** Extra Node.js flags of the child (besides --expose-gc). */
  readonly nodeFlags?: readonly string[];
}

/** Memory of the child, and the gateway's limiter state when it has one. */
export interface MemoryReading {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  /** Size of each V8 heap space (bytes), by space name: where heapTotal grew. */
  readonly spaces: Readonly<Record<string, number>>;
  /**
   * Physical size of each V8 heap space (bytes), by space name. Where the OS commits memory lazily
   * (Linux), V8 counts the part of each page it has written, so this is how much of the space is resident.
   */
  readonly physicalSpaces: Readonly<Record<string, number>>;
  readonly limit?: number;
  readonly inflight?: number;
  readonly queued?: number;
  /** Requests a gateway's pool holds towards the downstream: sent, or waiting for a connection. */
  readonly upstreamOpen?: number;
}

export interface RemoteServer {
  readonly kind: ServerKind;
  readonly port: number;
  readonly url: string;
  /** Process id of the child. */
  readonly pid: number;
  memory(): Promise<MemoryReading>;
  /** Collects all garbage in the child first (if it runs with --expose-gc), then reads memory. */
  memoryAfterGc(): Promise<MemoryReading>;
  /** CPU time the child has used so far, all its threads, user and system (µs). */
  cpu(): Promise<number>;
  close(): Promise<void>;
}

type Reply =
  | { readonly type: 'ready'; readonly port: number }
  | { readonly type: 'memory'; readonly memory: MemoryReading }
  | { readonly type: 'cpu'; readonly micros: number };

const HELLO = 'hello world';

/** Starts a server of `kind` in a child Node.js process (this module, run directly). */
export function spawnServer(kind: ServerKind, options: ServerOptions = {}): Promise<RemoteServer> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [kind, JSON.stringify(options)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: ['--expose-gc', ...(options.nodeFlags ?? [])],
  });
  const pending: ((reply: Reply) => void)[] = [];
  const ask = (type: 'memory' | 'gc'): Promise<MemoryReading> =>
    new Promise((resolve) => {
      pending.push((reply) => resolve((reply as Extract<Reply, { type: 'memory' }>).memory));
      child.send({ type });
    });
  const cpu = (): Promise<number> =>
    new Promise((resolve) => {
      pending.push((reply) => resolve((reply as Extract<Reply, { type: 'cpu' }>).micros));
      child.send({ type: 'cpu' });
    });
  return new Promise((resolve, reject) => {
    const early = (code: number | null): void => reject(new Error(`${kind} server exited (code ${code})`));
    child.once('error', reject);
    child.once('exit', early);
    child.on('message', (reply: Reply) => {
      if (reply.type !== 'ready') {
        pending.shift()?.(reply);
        return;
      }
      child.off('exit', early);
      resolve({
        kind,
        port: reply.port,
        url: `http://127.0.0.1:${reply.port}`,
        pid: child.pid!,
        memory: () => ask('memory'),
        memoryAfterGc: () => ask('gc'),
        cpu,
        close: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) {
              done();
              return;
            }
            child.once('exit', () => done());
            child.disconnect();
          }),
      });
    });
  });
}

const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

function forwardHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !hopByHop.has(name)) out[name] = value;
  }
  const client = req.socket.remoteAddress;
  if (client !== undefined) out['x-forwarded-for'] = client;
  out['x-forwarded-proto'] ??= 'http';
  if (req.headers.host !== undefined) out['x-forwarded-host'] ??= req.headers.host;
  return out;
}

function backHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>) {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !hopByHop.has(name)) out[name] = value;
  }
  return out;
}

/** A streaming forwarder through `pool`, as a plain proxy would write it. */
function forwarder(pool: Pool): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
    pool
      .request({
        path: req.url ?? '/',
        method: (req.method ?? 'GET') as 'GET',
        headers: forwardHeaders(req),
        body: hasBody ? req : null,
        signal: controller.signal,
      })
      .then(
        (upstream) => {
          if (res.closed) {
            upstream.body.destroy();
            return;
          }
          res.writeHead(upstream.statusCode, backHeaders(upstream.headers));
          pipeline(upstream.body, res, () => {});
        },
        () => {
          if (res.headersSent || res.closed) res.destroy();
          else {
            res.writeHead(502, { 'content-type': 'text/plain' });
            res.end('upstream unavailable\n');
          }
        },
      );
  };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

async function start(
  kind: ServerKind,
  options: ServerOptions,
): Promise<{ port: number; extra?: () => Partial<MemoryReading> }> {
  const upstream = options.upstream ?? 'http://127.0.0.1:1';
  const connections = options.connections ?? 128;
  switch (kind) {
    case 'hello':
      return {
        port: await listen(
          createServer((_req, res) => {
            res.writeHead(200, { 'content-type': 'text/plain', 'content-length': HELLO.length });
            res.end(HELLO);
          }),
        ),
      };
    case 'fastify-plain':
    case 'fastify-sluice': {
      const app = Fastify({ logger: false });
      if (kind === 'fastify-sluice') await app.register(fastifyProtection, {});
      app.get('/', async () => HELLO);
      await app.listen({ port: 0, host: '127.0.0.1' });
      return { port: (app.server.address() as AddressInfo).port };
    }
    case 'proxy-plain':
      return { port: await listen(createServer(forwarder(new Pool(upstream, { connections })))) };
    case 'proxy-sluice': {
      const proxy = createProxy({ upstream, host: '127.0.0.1', port: 0, connections });
      return { port: (await proxy.start()).port };
    }
    case 'gateway': {
      const pool = new Pool(upstream, { connections });
      const listener = protect(forwarder(pool), { name: 'gateway' });
      const port = await listen(createServer(listener));
      return {
        port,
        extra: () => {
          const s = listener.protection.snapshot();
          return { limit: s.limit, inflight: s.inflight, queued: s.queued, upstreamOpen: pool.stats.size };
        },
      };
    }
    case 'gateway-plain': {
      const pool = new Pool(upstream, { connections });
      const port = await listen(createServer(forwarder(pool)));
      return { port, extra: () => ({ upstreamOpen: pool.stats.size }) };
    }
  }
}

if (import.meta.main) {
  const kind = process.argv[2] as ServerKind;
  const options = JSON.parse(process.argv[3] ?? '{}') as ServerOptions;
  const { port, extra } = await start(kind, options);
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', (message: { type: string }) => {
    if (message.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send?.({ type: 'cpu', micros: user + system } satisfies Reply);
      return;
    }
    if (message.type === 'gc' && gc !== undefined) {
      gc();
      gc();
    }
    const m = process.memoryUsage();
    const spaces = getHeapSpaceStatistics();
    const memory: MemoryReading = {
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      spaces: Object.fromEntries(spaces.map((x) => [x.space_name, x.space_size])),
      physicalSpaces: Object.fromEntries(spaces.map((x) => [x.space_name, x.physical_space_size])),
      ...extra?.(),
    };
    process.send?.({ type: 'memory', memory } satisfies Reply);
  });
  process.once('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', port } satisfies Reply);
}
