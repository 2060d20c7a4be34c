/**
 * A real downstream for loopback benchmarks, in the shape the simulator's downstream model describes: a
 * thread-pool server. `slots` requests are served at once, the rest wait in one FIFO queue of at most
 * `queue` requests, and a full queue answers 503 at once (Tomcat's `acceptCount`, a full executor queue).
 * Serving a request holds its slot for a service time drawn from a seeded distribution, on a real timer.
 *
 * Like the model, the server never notices that a caller has given up: abandoned work keeps its place in
 * the queue and its slot, which is what makes timeouts expensive under overload.
 *
 * It runs in a child process (`spawnThreadPoolServer`), so that its timers do not wait behind the load
 * generator's and the gateway's work, and reports what it measured over IPC: above all the *timer error*,
 * how much longer (positive) or shorter (negative) than the drawn service time each slot was actually held.
 * A simulation holds a slot for exactly the drawn time; a real timer does not. Node counts a timer's delay
 * on the event loop's cached whole-millisecond clock, so a timer can fire up to a millisecond early, and it
 * fires late when the event loop is busy. The error shifts the real capacity away from the nominal
 * `slots / mean service time`, and is measured rather than assumed.
 *
 * Run directly (as `spawnThreadPoolServer` does), the module serves with the options given as JSON in its
 * first argument and sends `{ type: 'ready', port }`. It answers `{ type: 'stats' }` with
 * `{ type: 'stats', stats }` (and starts a new measurement window) and `{ type: 'state' }` with
 * `{ type: 'state', busy, queued }`, and exits when the parent disconnects.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Deque } from '../../src/sim/deque.ts';
import { type DistributionSpec, distribution, Random } from '../../src/sim/index.ts';

export interface ThreadPoolOptions {
  /** Requests served at once. */
  readonly slots: number;
  /** Most requests waiting for a slot; a full queue answers 503. */
  readonly queue: number;
  /** Service time of a request (ms), in the simulator's distribution format. */
  readonly service: DistributionSpec;
  /** Seed of the service-time stream. */
  readonly seed: number;
}

/** What the server saw since the previous `stats()` (or since it started). */
export interface ThreadPoolStats {
  /** Requests that got a slot and were answered 200. */
  readonly served: number;
  /** Requests answered 503 because the queue was full. */
  readonly refused: number;
  /** Requests in service and waiting now. */
  readonly busy: number;
  readonly queued: number;
  /** Mean drawn service time of the requests served (ms). */
  readonly meanService: number;
  /** Slot time minus the drawn service time (ms; negative when early): mean, median, p99 and maximum. */
  readonly timerError: {
    readonly mean: number;
    readonly p50: number;
    readonly p99: number;
    readonly max: number;
  };
  /** CPU time the server process used (ms of user + system time). */
  readonly cpuMs: number;
}

interface Waiter {
  readonly res: ServerResponse;
  readonly queuedAt: number;
}

/** Starts the server in this process on 127.0.0.1 and an OS-chosen port. */
export async function startThreadPoolServer(options: ThreadPoolOptions): Promise<{
  readonly port: number;
  /** What the server saw since the previous call; starts a new window. */
  stats(): ThreadPoolStats;
  /** Requests in service and waiting now. */
  state(): { busy: number; queued: number };
  close(): Promise<void>;
}> {
  const service = distribution(options.service, 'service');
  const random = new Random(options.seed, 'downstream');
  const queue = new Deque<Waiter>();
  let busy = 0;
  let served = 0;
  let refused = 0;
  let drawnTotal = 0;
  let errors: number[] = [];
  let cpu = process.cpuUsage();

  const start = (w: Waiter): void => {
    busy++;
    const drawn = service.sample(random);
    const began = performance.now();
    // The response carries the server's side of the call, so that the gateway can tell its own overhead
    // (HTTP, sockets, its event loop) from the time spent here.
    setTimeout(() => {
      const held = performance.now() - began;
      errors.push(held - drawn);
      drawnTotal += drawn;
      served++;
      w.res.writeHead(200, {
        'content-type': 'text/plain',
        'x-queue-ms': (began - w.queuedAt).toFixed(3),
        'x-hold-ms': held.toFixed(3),
      });
      w.res.end('ok');
      busy--;
      next();
    }, drawn);
  };

  const next = (): void => {
    while (busy < options.slots && queue.size > 0) start(queue.shift()!);
  };

  const server = createServer((_req, res) => {
    if (busy >= options.slots && queue.size >= options.queue) {
      refused++;
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' });
      res.end('queue full');
      return;
    }
    queue.push({ res, queuedAt: performance.now() });
    next();
  });
  // Idle keep-alive sockets must outlive the pauses between benchmark runs: a socket the server closes
  // just as the gateway reuses it fails the request with ECONNRESET.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    stats(): ThreadPoolStats {
      const sorted = errors.sort((a, b) => a - b);
      const n = sorted.length;
      const used = process.cpuUsage(cpu);
      const stats: ThreadPoolStats = {
        served,
        refused,
        busy,
        queued: queue.size,
        meanService: n === 0 ? Number.NaN : drawnTotal / n,
        timerError: {
          mean: n === 0 ? Number.NaN : sorted.reduce((s, x) => s + x, 0) / n,
          p50: n === 0 ? Number.NaN : sorted[Math.floor(0.5 * (n - 1))]!,
          p99: n === 0 ? Number.NaN : sorted[Math.floor(0.99 * (n - 1))]!,
          max: n === 0 ? Number.NaN : sorted[n - 1]!,
        },
        cpuMs: (used.user + used.system) / 1000,
      };
      served = 0;
      refused = 0;
      drawnTotal = 0;
      errors = [];
      cpu = process.cpuUsage();
      return stats;
    },
    state: () => ({ busy, queued: queue.size }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The server in a child process, driven over IPC. */
export interface RemoteThreadPool {
  readonly port: number;
  /** What the server saw since the previous call; starts a new window. */
  stats(): Promise<ThreadPoolStats>;
  /** Resolves once the server has no request in service or waiting (abandoned work included). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

type Reply =
  | { readonly type: 'ready'; readonly port: number }
  | { readonly type: 'stats'; readonly stats: ThreadPoolStats }
  | { readonly type: 'state'; readonly busy: number; readonly queued: number };

/** Starts the server in a child Node.js process (this module, run directly). */
export function spawnThreadPoolServer(options: ThreadPoolOptions): Promise<RemoteThreadPool> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // The child answers messages in the order they were sent: one resolver per outstanding message.
  const pending: ((reply: Reply) => void)[] = [];
  const ask = (type: 'stats' | 'state'): Promise<Reply> =>
    new Promise((resolve) => {
      pending.push(resolve);
      child.send({ type });
    });
  return new Promise((resolve, reject) => {
    const early = (code: number | null): void =>
      reject(new Error(`thread-pool server exited (code ${code})`));
    child.once('error', reject);
    child.once('exit', early);
    child.on('message', (reply: Reply) => {
      if (reply.type !== 'ready') {
        pending.shift()?.(reply);
        return;
      }
      child.off('exit', early);
      resolve({
        port: reply.port,
        stats: async () => ((await ask('stats')) as Extract<Reply, { type: 'stats' }>).stats,
        async idle() {
          // Polls: it runs only between benchmark runs, where a few milliseconds do not matter.
          for (;;) {
            const s = (await ask('state')) as Extract<Reply, { type: 'state' }>;
            if (s.busy === 0 && s.queued === 0) return;
            await new Promise((r) => setTimeout(r, 50));
          }
        },
        close: () =>
          new Promise<void>((done) => {
            child.once('exit', () => done());
            child.disconnect();
          }),
      });
    });
  });
}

if (import.meta.main) {
  const options = JSON.parse(process.argv[2] ?? '{}') as ThreadPoolOptions;
  const server = await startThreadPoolServer(options);
  process.on('message', (message: { type: string }) => {
    const reply: Reply =
      message.type === 'stats'
        ? { type: 'stats', stats: server.stats() }
        : { type: 'state', ...server.state() };
    process.send?.(reply);
  });
  process.once('disconnect', () => void server.close().then(() => process.exit(0)));
  process.send?.({ type: 'ready', port: server.port } satisfies Reply);
}
