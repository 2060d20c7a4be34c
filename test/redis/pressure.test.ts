import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { systemClock } from '../../src/core/clock.ts';
import { pressurePublisher, subscribePressure } from '../../src/global/pressure-bus.ts';
import { pressureCap } from '../../src/global/pressure-cap.ts';
import { fixedLimit } from '../../src/limits/fixed.ts';
import { redisPressureTransport } from '../../src/redis/transport.ts';
import { services } from '../helpers/services.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';

const service = await services.redis();

/** Polls `condition` every 10 ms for up to `ms`. */
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await delay(10);
  }
}

describe('pressure bus over Redis pub/sub', { skip: service.skip }, () => {
  let redis: Redis;
  const prefix = `sluice:test:${randomUUID()}:pressure:`;
  before(() => {
    redis = new Redis(service.url, { maxRetriesPerRequest: 1 });
  });
  after(() => {
    redis.disconnect();
  });

  it("carries a downstream's pressure to a caller on another connection, and lowers the caller's limit", async () => {
    const downstream = redisPressureTransport({ redis, prefix });
    const callerRedis = new Redis(service.url);
    const caller = redisPressureTransport({ redis: callerRedis, prefix });
    let score = 0.1;
    const publisher = pressurePublisher({
      transport: downstream,
      name: 'orders',
      read: () => score,
      interval: 50,
      clock: systemClock,
    });
    const orders = await subscribePressure({ transport: caller, name: 'orders', clock: systemClock });
    const limit = pressureCap(fixedLimit(40), { signal: orders });
    publisher.start();
    await until(() => orders.pressure === 0.1, 2000, 'the first reading');
    assert.equal(limit.current, 40);
    score = 1;
    await until(() => orders.pressure === 1, 2000, 'the raised reading');
    assert.equal(limit.current, 4);
    publisher.stop();
    await until(() => orders.pressure === undefined, 2000, 'the reading to expire'); // 3 intervals: 150 ms
    assert.equal(limit.current, 40);
    await orders.close();
    await caller.close();
    await downstream.close();
    callerRedis.disconnect();
  });

  it('shares one subscription per name among subscribers, and unsubscribes when the last one leaves', async () => {
    const transport = redisPressureTransport({ redis, prefix });
    const a = await subscribePressure({ transport, name: 'shared', clock: systemClock });
    const b = await subscribePressure({ transport, name: 'shared', clock: systemClock });
    const channel = `${prefix}shared`;
    assert.equal(((await redis.call('PUBSUB', 'NUMSUB', channel)) as unknown[])[1], 1);
    await transport.publish('shared', JSON.stringify({ v: 1, instance: 'x', seq: 1, score: 0.5, ttl: 5000 }));
    await until(() => a.pressure === 0.5 && b.pressure === 0.5, 2000, 'both subscribers');
    await a.close();
    assert.equal(((await redis.call('PUBSUB', 'NUMSUB', channel)) as unknown[])[1], 1);
    await b.close();
    assert.equal(((await redis.call('PUBSUB', 'NUMSUB', channel)) as unknown[])[1], 0);
    await transport.close();
  });

  it('lets readings expire while the connection is cut, and hears them again once ioredis resubscribes', async () => {
    const { hostname, port } = new URL(service.url);
    const proxy = await startTcpProxy({ host: hostname, port: Number(port) || 6379 });
    const subscriber = new Redis({ host: '127.0.0.1', port: proxy.port, retryStrategy: () => 50 });
    subscriber.on('error', () => {});
    const transport = redisPressureTransport({ redis, subscriber, prefix });
    const publisher = pressurePublisher({
      transport,
      name: 'cut',
      read: () => 0.8,
      interval: 50,
      clock: systemClock,
    });
    const sub = await subscribePressure({ transport, name: 'cut', clock: systemClock });
    const stale: string[] = [];
    sub.on('stale', (e) => stale.push(e.instance));
    publisher.start();
    try {
      await until(() => sub.pressure === 0.8, 2000, 'the first reading');
      proxy.cut();
      await until(() => sub.pressure === undefined, 2000, 'the reading to expire');
      assert.deepEqual(stale, [publisher.instance]);
      proxy.restore();
      await until(() => sub.pressure === 0.8, 5000, 'readings after the reconnection');
    } finally {
      publisher.stop();
      await sub.close();
      await transport.close();
      subscriber.disconnect();
      await proxy.close();
    }
  });
});
