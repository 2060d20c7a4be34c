import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { systemClock } from '../../src/core/clock.ts';
import { isRejectedError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { type GlobalLimiterEvents, globalLimiter } from '../../src/global/limiter.ts';
import { redisStore } from '../../src/redis/store.ts';
import { services } from '../helpers/services.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

const service = await services.redis();
const prefix = `sluice:test:${randomUUID()}:`;

/** Polls `condition` every 10 ms for up to `ms`. */
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await delay(10);
  }
}

describe('globalLimiter on Redis', { skip: service.skip }, () => {
  let redis: Redis;
  before(() => {
    redis = new Redis(service.url, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it("measures refills and lease expiry on the server's time: instances' clocks may disagree by years", async () => {
    const store = redisStore({ redis, prefix });
    // Two instances whose clocks never move and are 30 years apart.
    const a = new VirtualClock(0);
    const b = new VirtualClock(1e12);
    const fallback = { mode: 'closed' as const };
    const rateA = globalLimiter({ store, key: 'skew-rate', rate: 20, burst: 2, clock: a, fallback });
    const rateB = globalLimiter({ store, key: 'skew-rate', rate: 20, burst: 2, clock: b, fallback });
    await rateA.acquire();
    await rateB.acquire();
    await assert.rejects(rateA.acquire(), isRejectedError);
    await delay(60); // one token at 20 per second, on the server's clock
    assert.equal((await rateB.acquire()).source, 'global');

    const leaseA = globalLimiter({ store, key: 'skew-lease', limit: 1, leaseTtl: 300, clock: a, fallback });
    const leaseB = globalLimiter({ store, key: 'skew-lease', limit: 1, leaseTtl: 300, clock: b, fallback });
    const reclaims: GlobalLimiterEvents['reclaim'][] = [];
    leaseB.on('reclaim', (e) => reclaims.push(e));
    await leaseA.acquire(); // A's clock never reaches a heartbeat: A is as good as dead
    await assert.rejects(leaseB.acquire(), isRejectedError);
    await delay(320);
    assert.equal((await leaseB.acquire()).source, 'global');
    assert.equal(reclaims[0]?.reclaimed, 1);
  });

  it('accepts an ioredis client as it is (typed structurally)', () => {
    const client: Redis = redis;
    const store = redisStore({ redis: client });
    assert.equal(store.name, 'redis');
  });

  describe('through a faulty network', () => {
    let proxy: TcpProxy;
    let client: Redis;
    before(async () => {
      const { hostname, port } = new URL(service.url);
      proxy = await startTcpProxy({ host: hostname, port: Number(port) || 6379 });
      client = new Redis({
        host: '127.0.0.1',
        port: proxy.port,
        maxRetriesPerRequest: null,
        retryStrategy: () => 50,
      });
      client.on('error', () => {}); // reconnections are expected here
      await client.ping();
    });
    after(async () => {
      client.disconnect();
      await proxy.close();
    });

    const faults = {
      hangs: () => proxy.stall(),
      'is cut off': () => proxy.cut(),
      'answers slower than the timeout': () => proxy.delay(300),
    };
    for (const [fault, inject] of Object.entries(faults)) {
      it(`falls back to its local share when Redis ${fault}, and rejoins when it answers again`, async () => {
        const key = `fault-${fault.replaceAll(' ', '-')}`;
        const limiter = globalLimiter({
          store: redisStore({ redis: client, prefix }),
          key,
          limit: 6,
          timeout: 100,
          probeInterval: 100,
          clock: systemClock,
          fallback: { instances: 3 },
        });
        const modes: GlobalLimiterEvents['mode'][] = [];
        limiter.on('mode', (e) => modes.push(e));
        const before = await limiter.acquire();
        assert.equal(before.source, 'global');
        before.release();
        await delay(50); // the release reaches Redis before the fault

        inject();
        const started = performance.now();
        const first = await limiter.acquire();
        const waited = performance.now() - started;
        assert.equal(first.source, 'local');
        assert.ok(waited < 500, `fell back after ${waited} ms`);
        assert.equal(limiter.mode, 'fallback');
        assert.equal(modes[0]?.error?.operation, 'acquire');
        const second = await limiter.acquire();
        assert.equal(second.source, 'local');
        await assert.rejects(limiter.acquire(), (e) => isRejectedError(e) && e.limit === 2);
        first.release();
        second.release();

        proxy.restore();
        await until(() => limiter.mode === 'global', 3000, 'rejoin');
        const after = await limiter.acquire();
        assert.equal(after.source, 'global');
        after.release();
        assert.deepEqual(
          modes.map((m) => m.mode),
          ['fallback', 'global'],
        );
        await limiter.close();
      });
    }

    it('keeps its lease through a stall shorter than the lease life', async () => {
      const limiter = globalLimiter({
        store: redisStore({ redis: client, prefix }),
        key: 'stall-lease',
        limit: 1,
        leaseTtl: 2_000,
        heartbeat: 200,
        timeout: 100,
        probeInterval: 100,
        clock: systemClock,
        fallback: { instances: 1 },
      });
      const permit = await limiter.acquire();
      proxy.stall();
      await delay(600);
      assert.equal(limiter.mode, 'fallback');
      proxy.restore();
      await until(() => limiter.mode === 'global', 3000, 'rejoin');
      await delay(250); // a heartbeat after the stall
      assert.equal(permit.lost, false);
      assert.equal(await redis.zcard(`${prefix}{stall-lease}:leases`), 1);
      permit.release();
      await until(() => limiter.inflight === 0, 1000, 'release');
      await limiter.close();
    });
  });
});
