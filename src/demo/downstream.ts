import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, sleep } from '../core/clock.ts';
import { isRejectedError } from '../core/errors.ts';
import { createPool } from '../scale/pool/pool.ts';
import type { Pool } from '../scale/pool/types.ts';
import { Random } from '../sim/random.ts';
import type { DemoPlan } from './plan.ts';

/**
 * The demo's downstream: an HTTP service on 127.0.0.1 whose requests run on a sluice worker pool, each
 * holding a worker for a lognormal service time on a real timer, divided by the current speed. What does
 * not find a free worker waits in the pool's FIFO queue; a full queue answers 503 at once, marked
 * `x-downstream: refused` so the load generator can tell it from a gateway's own shedding.
 *
 * Like most servers, it does not notice a caller who gave up: abandoned work keeps its place in the queue
 * and its worker, which is what makes timeouts expensive under overload.
 */
export interface Downstream {
  readonly url: string;
  /** The workers: their count is the downstream's replica count, resized by the autoscaler. */
  readonly pool: Pool<void, void>;
  /** The per-task speed now (1 is full speed). */
  readonly speed: number;
  /** Sets the speed of tasks started from now on. */
  setSpeed(speed: number): void;
  /** Stops listening, refuses what is queued, and waits (briefly) for the tasks running. */
  close(): Promise<void>;
}

export interface DownstreamOptions {
  readonly plan: DemoPlan;
  readonly clock: Clock;
  /** Names the pool in events and on the dashboard. */
  readonly name: string;
}

export async function startDownstream(options: DownstreamOptions): Promise<Downstream> {
  const { plan, clock } = options;
  // The same stream in both runs: the n-th task to start draws the same service time.
  const random = new Random(plan.seed, 'demo/service');
  let speed = 1;
  const pool = createPool<void, void>({
    name: options.name,
    clock,
    min: 1,
    max: plan.maxWorkers,
    size: plan.workers,
    queue: { size: plan.queue },
    window: 5000,
    run: (_payload, { signal }) => sleep(clock, plan.service.sample(random) / speed, signal),
  });
  const server: Server = createServer((req, res) => {
    req.resume();
    pool.submit(undefined).then(
      () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      },
      (error: unknown) => {
        if (isRejectedError(error)) {
          const seconds = Math.max(1, Math.ceil(error.retryAfterMs / 1000));
          res.writeHead(503, {
            'content-type': 'text/plain',
            'retry-after': String(seconds),
            'x-downstream': 'refused',
          });
          res.end('busy');
        } else {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('failed');
        }
      },
    );
  });
  // Idle keep-alive sockets outlive any lull in the load: a socket closed by the server just as the gateway
  // reuses it would fail the request with a reset that has nothing to do with load.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    pool,
    get speed() {
      return speed;
    },
    setSpeed(next: number): void {
      speed = next;
    },
    async close(): Promise<void> {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      // Abandoned work is not waited for beyond a few service times: nobody reads its answers.
      await pool.close({ drain: false, timeoutMs: 1000 }).catch(() => {});
      await closed;
    },
  };
}
