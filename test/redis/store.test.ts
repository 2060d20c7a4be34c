import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { isConfigError } from '../../src/core/errors.ts';
import { redisStore } from '../../src/redis/store.ts';
import { storeContract } from '../global/store-contract.ts';
import { services } from '../helpers/services.ts';
import { redisServerAvailable, startPrivateRedis } from './private-server.ts';

const service = await services.redis();
const prefix = `sluice:test:${randomUUID()}:`;
let redis: Redis | undefined;
let next = 0;

before(() => {
  if (service.skip === false) redis = new Redis(service.url, { maxRetriesPerRequest: 1 });
});
after(async () => {
  if (redis === undefined) return;
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

storeContract(
  'redis',
  () => ({
    store: redisStore({ redis: redis!, prefix }),
    elapse: (ms) => delay(ms + 2),
    slack: 150,
    key: () => `k${++next}`,
    runs: 15,
  }),
  { skip: service.skip },
);

describe('redisStore', { skip: service.skip }, () => {
  it('keys a limit as <prefix>{<key>}:tokens and :leases, and lets them expire once they hold nothing', async () => {
    const store = redisStore({ redis: redis!, prefix });
    await store.take('shape', 1, { rate: 10, burst: 2 });
    await store.acquire('shape', 1, 5000);
    const tokensTtl = await redis!.pttl(`${prefix}{shape}:tokens`);
    const leasesTtl = await redis!.pttl(`${prefix}{shape}:leases`);
    // One token at 10 per second refills in 100 ms; the lease lives 5 s; each with a second of margin.
    assert.ok(tokensTtl > 0 && tokensTtl <= 1100, `tokens pttl ${tokensTtl}`);
    assert.ok(leasesTtl > 5000 && leasesTtl <= 6000, `leases pttl ${leasesTtl}`);
  });

  it('sends its scripts again to a server that lost them (a restart, a failover)', async (t) => {
    const skip = await redisServerAvailable();
    if (skip !== false) {
      t.skip(skip);
      return;
    }
    // A private server: restarting the shared one would disturb other tests.
    const server = await startPrivateRedis();
    const client = new Redis(server.url, { retryStrategy: () => 20 });
    client.on('error', () => {});
    const sent: string[] = [];
    const recording = {
      call: (command: string, args: (string | number)[]) => {
        sent.push(command);
        return client.call(command, args);
      },
    };
    try {
      const store = redisStore({ redis: recording, prefix });
      assert.equal((await store.take('restart', 1, { rate: 1, burst: 5 })).granted, true);
      assert.equal((await store.take('restart', 1, { rate: 1, burst: 5 })).granted, true);
      assert.deepEqual(sent, ['EVALSHA', 'EVAL', 'EVALSHA'], 'unknown at first, then cached');
      await server.stop();
      await server.start();
      sent.length = 0;
      const r = await store.take('restart', 1, { rate: 1, burst: 5 });
      assert.deepEqual(sent, ['EVALSHA', 'EVAL']);
      assert.equal(r.granted, true);
      assert.ok(Math.abs(r.remaining - 4) < 0.01, 'a restarted server without persistence starts empty');
    } finally {
      client.disconnect();
      await server.close();
    }
  });

  it('accepts only a client with call(command, args)', () => {
    assert.throws(() => redisStore({ redis: {} as never }), isConfigError);
  });
});
