/**
 * A thread-pool downstream whose slot count changes at run time, for the overload benchmark: the model of
 * `thread-pool-server.ts` (`slots` served at once, a FIFO queue of at most `queue`, a full queue answers 503
 * at once, a seeded service time held on a real timer, abandoned work kept), plus `setSlots()`. Fewer slots
 * take effect as requests in service finish (nothing is interrupted); more slots start queued work at once.
 *
 * A 503 for a full queue carries `x-downstream: refused`, so that a caller behind a gateway can tell the
 * downstream's refusals from the gateway's own shedding.
 *
 * Run directly (as `spawnResizablePool` does), the module serves with the options given as JSON in its
 * first argument and sends `{ type: 'ready', port }`. It answers `{ type: 'slots', slots }` by resizing and
 * `{ type: 'state' }` with `{ type: 'state', busy, queued, served, refused, slots }` (counts since start),
 * and exits when the parent disconnects.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Deque } from '../../src/sim/deque.ts';
import { distribution, Random } from '../../src/sim/index.ts';
import type { ThreadPoolOptions } from './thread-pool-server.ts';

/** The server's counters since it started, and its queue now. */
export interface PoolState {
  readonly slots: number;
  readonly busy: number;
  readonly queued: number;
  readonly served: number;
  readonly refused: number;
}

type Message = { readonly type: 'slots'; readonly slots: number } | { readonly type: 'state' };

type Reply =
  | { readonly type: 'ready'; readonly port: number }
  | ({ readonly type: 'state' } & PoolState)
  | { readonly type: 'resized'; readonly slots: number };

/** Starts the server in this process on 127.0.0.1 and an OS-chosen port. */
export async function startResizablePool(options: ThreadPoolOptions): Promise<{
  readonly port: number;
  setSlots(slots: number): void;
  state(): PoolState;
  close(): Promise<void>;
}> {
  const service = distribution(options.service, 'service');
  const random = new Random(options.seed, 'downstream');
  const queue = new Deque<ServerResponse>();
  let slots = options.slots;
  let busy = 0;
  let served = 0;
  let refused = 0;

  const start = (res: ServerResponse): void => {
    busy++;
    setTimeout(() => {
      served++;
      busy--;
      // A response to a caller that has gone is written into a destroyed socket and discarded.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      next();
    }, service.sample(random));
  };
  const next = (): void => {
    while (busy < slots && queue.size > 0) start(queue.shift()!);
  };

  const server = createServer((_req, res) => {
    if (busy >= slots && queue.size >= options.queue) {
      refused++;
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1', 'x-downstream': 'refused' });
      res.end('queue full');
      return;
    }
    queue.push(res);
    next();
  });
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    setSlots(n: number): void {
      slots = n;
      next();
    },
    state: () => ({ slots, busy, queued: queue.size, served, refused }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The server in a child process, driven over IPC. */
export interface RemoteResizablePool {
  readonly port: number;
  /** Resolves once the server serves with `slots` slots. */
  setSlots(slots: number): Promise<void>;
  state(): Promise<PoolState>;
  /** Resolves once no request is in service or waiting (abandoned work included). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** Starts the server in a child Node.js process (this module, run directly). */
export function spawnResizablePool(options: ThreadPoolOptions): Promise<RemoteResizablePool> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // The child answers messages in the order they were sent: one resolver per outstanding message.
  const pending: ((reply: Reply) => void)[] = [];
  const ask = (message: Message): Promise<Reply> =>
    new Promise((resolve) => {
      pending.push(resolve);
      child.send(message);
    });
  const state = async (): Promise<PoolState> => {
    const { type: _, ...rest } = (await ask({ type: 'state' })) as Extract<Reply, { type: 'state' }>;
    return rest;
  };
  return new Promise((resolve, reject) => {
    const early = (code: number | null): void =>
      reject(new Error(`resizable pool server exited (code ${code})`));
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
        setSlots: async (slots) => {
          await ask({ type: 'slots', slots });
        },
        state,
        async idle() {
          for (;;) {
            const s = await state();
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
  const server = await startResizablePool(options);
  process.on('message', (message: Message) => {
    if (message.type === 'slots') {
      server.setSlots(message.slots);
      process.send?.({ type: 'resized', slots: message.slots } satisfies Reply);
    } else process.send?.({ type: 'state', ...server.state() } satisfies Reply);
  });
  process.once('disconnect', () => void server.close().then(() => process.exit(0)));
  process.send?.({ type: 'ready', port: server.port } satisfies Reply);
}
