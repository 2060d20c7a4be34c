import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { ConsumerOptions } from '../../src/consumer/types.ts';
import { isConfigError } from '../../src/core/errors.ts';
import {
  type RedisStreamConsumerOptions,
  type RedisStreamMessage,
  redisStreamConsumer,
  type StreamRedis,
} from '../../src/redis/stream-consumer.ts';
import { redisStreamCollector } from '../../src/scale/collectors/redis-stream.ts';
import { brokerSuite, until } from '../consumer/broker-suite.ts';
import { services } from '../helpers/services.ts';

const service = await services.redis();
const never = new AbortController().signal;

/** The real client, with the COUNT of every XREADGROUP recorded. */
function recording(redis: Redis, intake: number[]): StreamRedis {
  const record = (command: string, args: (string | number)[]): void => {
    if (command === 'XREADGROUP') intake.push(Number(args[args.indexOf('COUNT') + 1]));
  };
  return {
    call: (command, args) => {
      record(command, args);
      return redis.call(command, args);
    },
    duplicate: () => {
      const copy = redis.duplicate();
      return {
        call: (command, args) => {
          record(command, args);
          return copy.call(command, args);
        },
        disconnect: () => copy.disconnect(),
      };
    },
  };
}

describe('redisStreamConsumer (Redis)', { skip: service.skip }, () => {
  let redis: Redis;
  const keys: string[] = [];
  const newStream = (): string => {
    const stream = `sluice:test:consumer:${randomUUID()}`;
    keys.push(stream, `${stream}:dead`);
    return stream;
  };
  const backlog = async (stream: string, group: string): Promise<number> => {
    const r = await redisStreamCollector({ redis, stream, group, oldestAge: false }).collect(never);
    return r['backlog']!;
  };

  before(() => {
    redis = new Redis(service.url, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  describe('the broker suite', () => {
    brokerSuite<RedisStreamMessage>({
      abandonedAfter: 1500,
      fixture: async () => {
        const stream = newStream();
        const intake: number[] = [];
        const client = recording(redis, intake);
        return {
          intake,
          publish: async (bodies, priority) => {
            const pipeline = redis.pipeline();
            for (const body of bodies) {
              if (priority === undefined) pipeline.xadd(stream, '*', 'body', body);
              else pipeline.xadd(stream, '*', 'body', body, 'priority', String(priority));
            }
            await pipeline.exec();
          },
          consumer: (options: ConsumerOptions<RedisStreamMessage>) =>
            redisStreamConsumer({
              redis: client,
              stream,
              group: 'workers',
              claimIdle: 1000,
              claimInterval: 250,
              block: 200,
              ...options,
            }),
          bodyOf: (m) => m.body['body']!,
          deadLetters: async () => {
            const entries = await redis.xrange(`${stream}:dead`, '-', '+');
            return entries.map(([, fields]) => fields[fields.indexOf('body') + 1]!);
          },
          remaining: () => backlog(stream, 'workers'),
          cleanup: async () => {
            await redis.del(stream, `${stream}:dead`);
          },
        };
      },
    });
  });

  it('claims the entries a dead consumer left pending, counting the delivery', async () => {
    const stream = newStream();
    await redis.xgroup('CREATE', stream, 'workers', '0', 'MKSTREAM');
    await redis.xadd(stream, '*', 'body', 'orphan');
    await redis.xreadgroup('GROUP', 'workers', 'ghost', 'COUNT', 10, 'STREAMS', stream, '>'); // then dies
    const seen: number[] = [];
    const consumer = redisStreamConsumer({
      redis,
      stream,
      group: 'workers',
      claimIdle: 300,
      block: 100,
      handler: async (m) => {
        seen.push(m.deliveries);
      },
    });
    await consumer.start();
    await until(() => consumer.snapshot().acked === 1, 'the orphan');
    await consumer.stop();
    assert.deepEqual(seen, [2]);
    assert.equal(consumer.snapshot().redelivered, 1);
    assert.equal(await backlog(stream, 'workers'), 0);
  });

  it('keeps an entry in work fresh, so no other consumer claims it from a slow handler', async () => {
    const stream = newStream();
    await redis.xadd(stream, '*', 'body', 'slow');
    const handled: string[] = [];
    const options = {
      redis,
      stream,
      group: 'workers',
      claimIdle: 300,
      claimInterval: 50,
      block: 50,
    } satisfies Partial<RedisStreamConsumerOptions>;
    const a = redisStreamConsumer({
      ...options,
      consumer: 'a',
      handler: async () => {
        handled.push('a');
        await delay(1200);
      },
    });
    await a.start();
    await until(() => handled.length === 1, 'the slow handler');
    const b = redisStreamConsumer({ ...options, consumer: 'b', handler: async () => void handled.push('b') });
    await b.start();
    await until(() => a.snapshot().acked === 1, 'the slow ack');
    await Promise.all([a.stop(), b.stop()]);
    assert.deepEqual(handled, ['a']);
  });

  it('does not count a shed delivery against maxDeliveries', async () => {
    const stream = newStream();
    await redis.xadd(stream, '*', 'body', 'x');
    let sheds = 0;
    const seen: number[] = [];
    const consumer = redisStreamConsumer({
      redis,
      stream,
      group: 'workers',
      claimIdle: 200,
      claimInterval: 50,
      block: 50,
      shed: () => sheds++ < 3,
      shedDelay: 50,
      handler: async (m) => {
        seen.push(m.deliveries);
      },
    });
    await consumer.start();
    await until(() => consumer.snapshot().acked === 1, 'the ack');
    await consumer.stop();
    assert.equal(consumer.snapshot().shed, 3);
    assert.deepEqual(seen, [1]);
  });

  it('rejects invalid options with a ConfigError naming the option', () => {
    const handler = async () => {};
    assert.throws(
      () => redisStreamConsumer({ redis: {} as never, stream: 's', group: 'g', handler }),
      (e) => isConfigError(e) && e.option === 'redis',
    );
    assert.throws(
      () => redisStreamConsumer({ redis, stream: '', group: 'g', handler }),
      (e) => isConfigError(e) && e.option === 'stream',
    );
    assert.throws(
      () => redisStreamConsumer({ redis, stream: 's', group: 'g', claimIdle: 0, handler }),
      (e) => isConfigError(e) && e.option === 'claimIdle',
    );
  });
});
