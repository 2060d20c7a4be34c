import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { Interval, WorkerConfig, WorkerReport } from './global-worker.ts';
import { redisServerAvailable, startPrivateRedis } from './private-server.ts';

const skip = await redisServerAvailable();
const worker = fileURLToPath(new URL('./global-worker.ts', import.meta.url));
// The host's monotonic clock, one for every process: `performance.timeOrigin` is each process's own reading
// of the wall clock at its start, and a process descheduled while taking it is off by as long (a loaded
// machine once showed 7 permits held at once under a limit of 6, which such an offset would explain).
const wall = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Most intervals open at once at any instant in [from, to]. Ends sort before starts at equal times. */
function maxConcurrent(intervals: readonly Interval[], from = -Infinity, to = Infinity): number {
  const points: [number, number][] = [];
  for (const [start, end] of intervals) {
    if (end <= from || start >= to) continue;
    points.push([Math.max(start, from), 1], [end, -1]);
  }
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let max = 0;
  for (const [, d] of points) {
    open += d;
    if (open > max) max = open;
  }
  return max;
}

const INSTANCES = 3;
const LIMIT = 6;
const SHARE = LIMIT / INSTANCES;
const WORK_MAX = 30;

describe('a Redis global limit shared by several processes', { skip }, () => {
  it('is never exceeded by the processes together, and each keeps to its share while Redis is stopped', async (t) => {
    const server = await startPrivateRedis();
    const children: ChildProcess[] = [];
    const sampler = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    sampler.on('error', () => {});
    try {
      const config: WorkerConfig = {
        url: server.url,
        prefix: `sluice:test:${randomUUID()}:`,
        key: 'shared',
        limit: LIMIT,
        instances: INSTANCES,
        lanes: 4,
        timeout: 100,
        probeInterval: 200,
      };
      const reports: Promise<WorkerReport>[] = [];
      const ready: Promise<void>[] = [];
      for (let i = 0; i < INSTANCES; i++) {
        const child = fork(worker, [JSON.stringify(config)], {
          execArgv: [],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        children.push(child);
        ready.push(new Promise((resolve) => child.once('message', () => resolve())));
        reports.push(
          new Promise((resolve, reject) => {
            child.on('message', (m: { type: string }) => {
              if (m.type === 'done') resolve(m as WorkerReport);
            });
            child.once('exit', (code) => reject(new Error(`worker exited with ${code} before reporting`)));
          }),
        );
      }
      await Promise.all(ready);

      const t0 = wall();
      const endAt = t0 + 6_000;
      for (const child of children) child.send({ endAt });
      // Watch the lease set from outside while Redis is up: the count the store itself keeps.
      let maxLeases = 0;
      const leasesKey = `${config.prefix}{shared}:leases`;
      while (wall() < t0 + 2_000) {
        maxLeases = Math.max(maxLeases, await sampler.zcard(leasesKey));
        await delay(2);
      }
      const stoppedAt = wall();
      await server.stop();
      await delay(t0 + 4_000 - wall());
      const restartAt = wall();
      await server.start();
      const results = await Promise.all(reports);

      const all = results.flatMap((r) => r.intervals);
      const fellBack = results.map((r) => r.modes.find((m) => m.mode === 'fallback')?.at ?? Number.NaN);
      const rejoined = results.map(
        (r) => r.modes.find((m) => m.mode === 'global' && m.at > restartAt)?.at ?? Number.NaN,
      );
      assert.ok(
        fellBack.every((at) => at > stoppedAt && at < stoppedAt + 1_000),
        `fell back at ${fellBack}`,
      );
      assert.ok(
        rejoined.every((at) => at > restartAt && at < restartAt + 2_000),
        `rejoined at ${rejoined}`,
      );
      // Steady windows start once the permits granted under the previous mode have ended.
      const outageFrom = Math.max(...fellBack) + WORK_MAX + 10;
      const afterFrom = Math.max(...rejoined) + WORK_MAX + 10;

      const healthy = maxConcurrent(all, t0, stoppedAt);
      const outage = maxConcurrent(all, outageFrom, restartAt);
      const recovered = maxConcurrent(all, afterFrom, endAt);
      const switchingDown = maxConcurrent(all, stoppedAt, outageFrom);
      const switchingUp = maxConcurrent(all, restartAt, afterFrom);
      const perProcessOutage = results.map((r) => maxConcurrent(r.intervals, outageFrom, restartAt));
      const localGrants = results.map((r) => r.intervals.filter((i) => i[2] === 1).length);
      t.diagnostic(
        `limit ${LIMIT} over ${INSTANCES} processes: max concurrent healthy ${healthy} (lease set max ${maxLeases}), ` +
          `Redis stopped ${outage} (per process ${perProcessOutage.join('/')}, share ${SHARE}), ` +
          `after rejoin ${recovered}; while switching: down ${switchingDown}, up ${switchingUp}; ` +
          `permits ${all.length} (local ${localGrants.join('/')}); fallback after ` +
          `${Math.round(Math.max(...fellBack) - stoppedAt)} ms, rejoin ${Math.round(Math.max(...rejoined) - restartAt)} ms`,
      );

      assert.ok(healthy <= LIMIT, `${healthy} held at once while Redis was up, limit ${LIMIT}`);
      assert.ok(healthy >= LIMIT - 1, `the limit was used: ${healthy}`);
      assert.ok(maxLeases <= LIMIT, `lease set held ${maxLeases}`);
      assert.ok(outage <= LIMIT, `${outage} held at once while Redis was stopped`);
      for (const [i, n] of perProcessOutage.entries())
        assert.ok(n <= SHARE, `process ${i} held ${n} > share`);
      assert.ok(
        localGrants.every((n) => n > 20),
        `each process kept working on its share: ${localGrants}`,
      );
      assert.ok(recovered <= LIMIT, `${recovered} held at once after rejoining`);
      assert.ok(switchingUp <= LIMIT, `${switchingUp} held at once while the processes rejoined`);
      // Each local grant found its process below its share (permits from Redis included).
      for (const r of results) {
        for (const [start, , local] of r.intervals) {
          if (local !== 1) continue;
          const open = r.intervals.filter(([s, e]) => s <= start && e > start).length;
          assert.ok(open <= SHARE, `a local grant at ${open} held`);
        }
      }
    } finally {
      for (const child of children) if (child.exitCode === null) child.kill();
      sampler.disconnect();
      await server.close();
    }
  });
});
