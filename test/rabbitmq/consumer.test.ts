import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import amqplib, { type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { ConsumerOptions } from '../../src/consumer/types.ts';
import { isConfigError } from '../../src/core/errors.ts';
import { constantBackoff } from '../../src/policies/backoff/constant.ts';
import type { AmqpConnection, RabbitmqMessage } from '../../src/rabbitmq/index.ts';
import { rabbitmqConsumer } from '../../src/rabbitmq/index.ts';
import { brokerSuite, until } from '../consumer/broker-suite.ts';
import { ManualLimit } from '../helpers/manual-limit.ts';
import { services } from '../helpers/services.ts';

const service = await services.rabbitmq();

/** The real connection, with every prefetch the consumer sets recorded. */
function recording(connection: ChannelModel, prefetches: number[]): AmqpConnection {
  return {
    createConfirmChannel: () => connection.createConfirmChannel(),
    createChannel: async () => {
      const channel = await connection.createChannel();
      const prefetch = channel.prefetch.bind(channel);
      channel.prefetch = (count: number, global?: boolean) => {
        prefetches.push(count);
        return prefetch(count, global);
      };
      return channel;
    },
  };
}

describe('rabbitmqConsumer (RabbitMQ)', { skip: service.skip }, () => {
  let connection: ChannelModel;
  let admin: ConfirmChannel;
  const queues: string[] = [];

  const newQueue = async (args: Record<string, unknown> = {}): Promise<string> => {
    const queue = `sluice.test.${randomUUID()}`;
    queues.push(queue, `${queue}.dead`);
    await admin.assertQueue(queue, { durable: true, arguments: args });
    return queue;
  };
  const publish = async (queue: string, bodies: readonly string[], priority?: number) => {
    for (const body of bodies) {
      admin.sendToQueue(queue, Buffer.from(body), priority === undefined ? {} : { priority });
    }
    await admin.waitForConfirms();
  };
  /** Ready messages (RabbitMQ does not tell unacknowledged ones over AMQP). */
  const ready = async (queue: string): Promise<number> => (await admin.checkQueue(queue)).messageCount;
  /** Takes every message of a queue; their bodies. */
  const drain = async (queue: string): Promise<{ body: string; headers: Record<string, unknown> }[]> => {
    const out: { body: string; headers: Record<string, unknown> }[] = [];
    for (;;) {
      const m = await admin.get(queue, { noAck: true });
      if (m === false) return out;
      out.push({ body: m.content.toString(), headers: m.properties.headers ?? {} });
    }
  };
  const remove = async (names: readonly string[]): Promise<void> => {
    const channel: Channel = await connection.createChannel();
    channel.on('error', () => {});
    for (const name of names) await channel.deleteQueue(name).catch(() => {});
    await channel.close().catch(() => {});
  };

  before(async () => {
    connection = await amqplib.connect(service.url);
    connection.on('error', () => {});
    admin = await connection.createConfirmChannel();
  });
  after(async () => {
    await remove(queues);
    await connection.close();
  });

  describe('the broker suite', () => {
    brokerSuite<RabbitmqMessage>({
      abandonedAfter: 0,
      fixture: async () => {
        const queue = await newQueue();
        const intake: number[] = [];
        return {
          intake,
          publish: (bodies, priority) => publish(queue, bodies, priority),
          consumer: (options: ConsumerOptions<RabbitmqMessage>) =>
            rabbitmqConsumer({ connection: recording(connection, intake), queue, ...options }),
          bodyOf: (m) => m.body.toString(),
          deadLetters: async () => (await drain(`${queue}.dead`)).map((d) => d.body),
          remaining: () => ready(queue),
          cleanup: () => remove([queue, `${queue}.dead`]),
        };
      },
    });
  });

  it('delays retries through a delay queue, and carries the delivery count across republishes', async () => {
    const queue = await newQueue();
    const prefix = `${queue}.delay.`;
    queues.push(`${prefix}500`);
    await publish(queue, ['flaky']);
    const seen: { deliveries: number; at: number }[] = [];
    const consumer = rabbitmqConsumer({
      connection,
      queue,
      delayQueues: { prefix },
      backoff: constantBackoff({ delay: 400 }), // the 500 ms bucket
      handler: async (m) => {
        seen.push({ deliveries: m.deliveries, at: performance.now() });
        if (seen.length < 3) throw new Error('not yet');
      },
    });
    await consumer.start();
    await until(() => consumer.snapshot().acked === 1, 'the third delivery');
    await consumer.stop();
    assert.deepEqual(
      seen.map((s) => s.deliveries),
      [1, 2, 3],
    );
    for (let i = 1; i < seen.length; i++) {
      const gap = seen[i]!.at - seen[i - 1]!.at;
      assert.ok(gap >= 450, `redelivered after ${Math.round(gap)} ms, not before the 500 ms delay`);
    }
    assert.equal(await ready(`${prefix}500`), 0);
    assert.equal(await ready(queue), 0);
  });

  it('dead-letters with the failure in its headers', async () => {
    const queue = await newQueue();
    await publish(queue, ['poison']);
    const consumer = rabbitmqConsumer({
      connection,
      queue,
      maxDeliveries: 2,
      handler: async () => {
        throw new Error('bad input');
      },
    });
    await consumer.start();
    await until(() => consumer.snapshot().deadLettered === 1, 'the dead letter');
    await consumer.stop();
    const [dead] = await drain(`${queue}.dead`);
    assert.equal(dead!.body, 'poison');
    assert.equal(dead!.headers['x-sluice-error'], 'bad input');
    assert.equal(dead!.headers['x-sluice-deliveries'], 2);
    assert.equal(dead!.headers['x-sluice-queue'], queue);
  });

  it('leaves dead letters to the queue own dead-letter exchange with deadLetter: "reject"', async () => {
    const dlq = await newQueue();
    const queue = await newQueue({ 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq });
    await publish(queue, ['poison']);
    const consumer = rabbitmqConsumer({
      connection,
      queue,
      maxDeliveries: 1,
      deadLetter: 'reject',
      handler: async () => {
        throw new Error('no');
      },
    });
    await consumer.start();
    await until(async () => (await ready(dlq)) === 1, 'the rejected message in the dead-letter queue');
    await consumer.stop();
    assert.deepEqual(
      (await drain(dlq)).map((d) => d.body),
      ['poison'],
    );
  });

  for (const [scope, args] of [
    ['channel', {}],
    ['consumer', { 'x-queue-type': 'quorum' }],
  ] as const) {
    it(`holds no more than the new window once the limit falls (${scope} prefetch, ${args['x-queue-type'] ?? 'classic'} queue)`, async () => {
      const queue = await newQueue(args);
      await publish(
        queue,
        Array.from({ length: 200 }, (_, i) => `m${i}`),
      );
      const limit = new ManualLimit(12);
      const prefetches: number[] = [];
      const consumer = rabbitmqConsumer({
        connection: recording(connection, prefetches),
        queue,
        prefetchScope: scope,
        limit,
        buffer: 0,
        handler: () => delay(20),
      });
      await consumer.start();
      await until(() => consumer.snapshot().acked >= 20, 'some progress');
      limit.set(3);
      await delay(300); // the old subscription's deliveries drain
      let most = 0;
      for (let i = 0; i < 20; i++) {
        const acked = consumer.snapshot().acked;
        const unacked = 200 - acked - (await ready(queue));
        most = Math.max(most, unacked);
        await delay(10);
      }
      await consumer.stop();
      assert.deepEqual(prefetches.slice(0, 1), [12]);
      assert.equal(prefetches.at(-1), 3);
      assert.ok(most <= 4, `at most the window (3) unacknowledged, with one in passing: saw ${most}`);
    });
  }

  it('opens a new channel when RabbitMQ closes its own, and loses nothing', async () => {
    const queue = await newQueue();
    await publish(
      queue,
      Array.from({ length: 60 }, (_, i) => `m${i}`),
    );
    const channels: Channel[] = [];
    const handled = new Set<string>();
    const consumer = rabbitmqConsumer({
      connection: {
        createConfirmChannel: () => connection.createConfirmChannel(),
        createChannel: async () => {
          const channel = await connection.createChannel();
          channels.push(channel);
          return channel;
        },
      },
      queue,
      limit: 4,
      handler: async (m) => {
        await delay(5);
        handled.add(m.body.toString());
      },
    });
    await consumer.start();
    await until(() => consumer.snapshot().acked >= 10, 'some progress');
    await channels[0]!.close(); // as a channel error would
    await until(() => handled.size === 60, 'every message');
    await until(async () => (await ready(queue)) === 0, 'the queue to be empty');
    await consumer.stop();
    assert.equal(channels.length, 2);
  });

  it('rejects invalid options with a ConfigError naming the option', () => {
    const handler = async () => {};
    assert.throws(
      () => rabbitmqConsumer({ connection: {} as never, queue: 'q', handler }),
      (e) => isConfigError(e) && e.option === 'connection',
    );
    assert.throws(
      () => rabbitmqConsumer({ connection, queue: 'q', prefetchScope: 'global' as never, handler }),
      (e) => isConfigError(e) && e.option === 'prefetchScope',
    );
    assert.throws(
      () => rabbitmqConsumer({ connection, queue: 'q', deadLetter: { queue: '' }, handler }),
      (e) => isConfigError(e) && e.option === 'deadLetter',
    );
  });
});
