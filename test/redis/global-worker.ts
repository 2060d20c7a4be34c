// One instance of a service sharing a global limit in Redis, for the multi-process test: it runs `lanes`
// loops that acquire, work a random 10-30 ms, and release, until told time is up, and reports when each
// permit was held (wall-clock ms, comparable across processes on one host) and when its mode changed.
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { systemClock } from '../../src/core/clock.ts';
import { globalLimiter } from '../../src/global/limiter.ts';
import { redisStore } from '../../src/redis/store.ts';

export interface WorkerConfig {
  readonly url: string;
  readonly prefix: string;
  readonly key: string;
  readonly limit: number;
  readonly instances: number;
  readonly lanes: number;
  readonly timeout: number;
  readonly probeInterval: number;
}

/** [start, end, 0 for a global permit or 1 for a local one] */
export type Interval = [number, number, 0 | 1];

export interface WorkerReport {
  readonly type: 'done';
  readonly intervals: Interval[];
  readonly modes: { at: number; mode: string }[];
  readonly refused: number;
}

const WORK_MIN = 10;
const WORK_MAX = 30;
// The host's monotonic clock, one for every process: `performance.timeOrigin` is each process's own reading
// of the wall clock at its start, and a process descheduled while taking it is off by as long (a loaded
// machine once showed 7 permits held at once under a limit of 6, which such an offset would explain).
const wall = (): number => Number(process.hrtime.bigint()) / 1e6;

const config = JSON.parse(process.argv[2]!) as WorkerConfig;
const redis = new Redis(config.url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
redis.on('error', () => {});
const limiter = globalLimiter({
  store: redisStore({ redis, prefix: config.prefix }),
  key: config.key,
  limit: config.limit,
  timeout: config.timeout,
  probeInterval: config.probeInterval,
  leaseTtl: 3_000,
  clock: systemClock,
  fallback: { instances: config.instances },
});
const modes: { at: number; mode: string }[] = [];
limiter.on('mode', (e) => modes.push({ at: wall(), mode: e.mode }));
const intervals: Interval[] = [];
let refused = 0;

async function lane(endAt: number): Promise<void> {
  while (wall() < endAt) {
    let permit: Awaited<ReturnType<typeof limiter.acquire>>;
    try {
      permit = await limiter.acquire();
    } catch {
      refused++;
      await delay(2 + Math.random() * 3);
      continue;
    }
    const start = wall();
    await delay(WORK_MIN + Math.random() * (WORK_MAX - WORK_MIN));
    intervals.push([start, wall(), permit.source === 'global' ? 0 : 1]);
    permit.release();
  }
}

await redis.ping();
process.send!({ type: 'ready' });
process.once('message', async (message: { endAt: number }) => {
  await Promise.all(Array.from({ length: config.lanes }, () => lane(message.endAt)));
  const report: WorkerReport = { type: 'done', intervals, modes, refused };
  process.send!(report, () => {
    void limiter.close().finally(() => {
      redis.disconnect();
      process.disconnect();
    });
  });
});
