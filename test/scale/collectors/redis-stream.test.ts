import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { isConfigError } from '../../../src/core/errors.ts';
import { VirtualClock } from '../../../src/core/virtual-clock.ts';
import { isCollectorError } from '../../../src/scale/collectors/errors.ts';
import { redisStreamCollector } from '../../../src/scale/collectors/redis-stream.ts';
import { services } from '../../helpers/services.ts';

const service = await services.redis();
const never = new AbortController().signal;

describe('redisStreamCollector (Redis)', { skip: service.skip }, () => {
  let redis: Redis;
  const keys: string[] = [];
  /** A fresh stream key, deleted after the tests. */
  const streamKey = (): string => {
    const key = `sluice:test:collector:${randomUUID()}`;
    keys.push(key);
    return key;
  };
  /** The server's time (ms since the epoch). */
  const serverMs = async (): Promise<number> => {
    const [s, us] = await redis.time();
    return Number(s) * 1000 + Math.floor(Number(us) / 1000);
  };
  /** Adds `n` entries with IDs (server times) `ageMs` in the past, one ms apart. */
  const addAged = async (stream: string, n: number, ageMs: number): Promise<string[]> => {
    const start = (await serverMs()) - ageMs;
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await redis.xadd(stream, `${start + i}-0`, 'job', String(i)))!);
    return ids;
  };

  before(() => {
    redis = new Redis(service.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  });
  after(async () => {
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('reads lag, pending, backlog and consumers of a group, and the age of the oldest pending entry', async () => {
    const stream = streamKey();
    await addAged(stream, 5, 60_000);
    await redis.xgroup('CREATE', stream, 'workers', '0');
    await redis.xreadgroup('GROUP', 'workers', 'w1', 'COUNT', 2, 'STREAMS', stream, '>');
    const collector = redisStreamCollector({ redis, stream, group: 'workers' });
    assert.equal(collector.name, `redis:${stream}/workers`);
    const r = await collector.collect(never);
    assert.equal(r['lag'], 3);
    assert.equal(r['pending'], 2);
    assert.equal(r['backlog'], 5);
    assert.equal(r['consumers'], 1);
    assert.ok(r['oldestAgeMs']! >= 60_000 && r['oldestAgeMs']! < 65_000, `oldest ${r['oldestAgeMs']}`);
    assert.equal('backlogGrowth' in r, false, 'growth needs two collects');
  });

  it('ages the first undelivered entry when nothing is pending, and reads 0 when nothing waits', async () => {
    const stream = streamKey();
    await redis.xgroup('CREATE', stream, 'workers', '$', 'MKSTREAM');
    const collector = redisStreamCollector({ redis, stream, group: 'workers' });
    assert.deepEqual(await collector.collect(never), {
      lag: 0,
      pending: 0,
      backlog: 0,
      consumers: 0,
      oldestAgeMs: 0,
    });
    await addAged(stream, 3, 30_000);
    const r = await collector.collect(never);
    assert.equal(r['lag'], 3);
    assert.equal(r['pending'], 0);
    assert.ok(r['oldestAgeMs']! >= 30_000 && r['oldestAgeMs']! < 35_000, `oldest ${r['oldestAgeMs']}`);
  });

  it('reports backlog growth per second between collects', async () => {
    const stream = streamKey();
    const clock = new VirtualClock();
    await redis.xgroup('CREATE', stream, 'workers', '$', 'MKSTREAM');
    const collector = redisStreamCollector({ redis, stream, group: 'workers', clock, oldestAge: false });
    await collector.collect(never);
    for (let i = 0; i < 10; i++) await redis.xadd(stream, '*', 'job', String(i));
    clock.advance(2000);
    assert.equal((await collector.collect(never))['backlogGrowth'], 5);
    const consumed = await redis.xreadgroup('GROUP', 'workers', 'w1', 'COUNT', 10, 'STREAMS', stream, '>');
    const ids = (consumed as [string, [string, string[]][]][])[0]![1].map(([id]) => id);
    await redis.xack(stream, 'workers', ...ids.slice(0, 4));
    clock.advance(1000);
    const r = await collector.collect(never);
    assert.equal(r['backlog'], 6);
    assert.equal(r['backlogGrowth'], -4);
    assert.equal('oldestAgeMs' in r, false, 'oldestAge: false');
  });

  it('estimates the lag as XLEN - pending when Redis cannot tell it (a group created at an arbitrary ID)', async () => {
    const stream = streamKey();
    const ids = await addAged(stream, 6, 10_000);
    // Redis reports no lag for such a group, as Redis 6 reports none for any group.
    await redis.xgroup('CREATE', stream, 'late', ids[1]!);
    const raw = (await redis.call('XINFO', 'GROUPS', stream)) as unknown[][];
    assert.ok(
      !raw[0]!.includes('lag') || raw[0]![raw[0]!.indexOf('lag') + 1] === null,
      'the server gives no lag',
    );
    await redis.xreadgroup('GROUP', 'late', 'w1', 'COUNT', 1, 'STREAMS', stream, '>');
    const r = await redisStreamCollector({ redis, stream, group: 'late' }).collect(never);
    assert.equal(r['pending'], 1);
    assert.equal(
      r['lag'],
      5,
      'XLEN 6 - 1 pending: an upper bound of the true 3, since 2 entries precede the group',
    );
    assert.ok(r['oldestAgeMs']! >= 10_000 - 2, `oldest ${r['oldestAgeMs']}`);
  });

  it('fails naming the stream and the groups it has when the group does not exist', async () => {
    const stream = streamKey();
    await redis.xgroup('CREATE', stream, 'a', '$', 'MKSTREAM');
    await redis.xgroup('CREATE', stream, 'b', '$');
    const collector = redisStreamCollector({ redis, stream, group: 'c' });
    await assert.rejects(collector.collect(never), (e: unknown) => {
      assert.ok(isCollectorError(e));
      assert.equal(
        e.message,
        `sluice: collector "redis:${stream}/c": stream "${stream}" has no consumer group "c" (it has "a", "b")`,
      );
      return true;
    });
  });

  it('fails naming the command when the stream does not exist', async () => {
    const stream = streamKey();
    const collector = redisStreamCollector({ redis, stream, group: 'workers' });
    await assert.rejects(collector.collect(never), (e: unknown) => {
      assert.ok(isCollectorError(e));
      assert.match(e.message, new RegExp(`XINFO GROUPS ${stream} failed: ERR no such key`));
      return true;
    });
  });

  it('rejects with the abort reason once the collect is aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('tick deadline');
    controller.abort(reason);
    const collector = redisStreamCollector({ redis, stream: streamKey(), group: 'g' });
    await assert.rejects(
      Promise.resolve().then(() => collector.collect(controller.signal)),
      (e: unknown) => e === reason,
    );
  });

  it('rejects bad options, naming them', () => {
    const bad: [() => unknown, string][] = [
      [() => redisStreamCollector({ redis: {} as never, stream: 's', group: 'g' }), 'redis'],
      [() => redisStreamCollector({ redis, stream: '', group: 'g' }), 'stream'],
      [() => redisStreamCollector({ redis, stream: 's', group: 1 as never }), 'group'],
      [() => redisStreamCollector({ redis, stream: 's', group: 'g', oldestAge: 1 as never }), 'oldestAge'],
    ];
    for (const [make, option] of bad) {
      assert.throws(make, (e: unknown) => isConfigError(e) && e.option === option, option);
    }
  });
});
