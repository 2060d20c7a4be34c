import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type Channel, type ChannelModel, connect } from 'amqplib';
import { isConfigError } from '../../../src/core/errors.ts';
import { VirtualClock } from '../../../src/core/virtual-clock.ts';
import { isCollectorError } from '../../../src/scale/collectors/errors.ts';
import { rabbitmqCollector } from '../../../src/scale/collectors/rabbitmq.ts';
import { services } from '../../helpers/services.ts';

const service = await services.rabbitmq();
const never = new AbortController().signal;

describe('rabbitmqCollector (RabbitMQ)', { skip: service.skip }, () => {
  let connection: ChannelModel;
  /** Publishes and consumes, apart from the collector's channel. */
  let work: Channel;
  const queues: string[] = [];
  const queue = async (): Promise<string> => {
    const name = `sluice.test.collector.${randomUUID()}`;
    queues.push(name);
    await work.assertQueue(name, { durable: false });
    return name;
  };
  const publish = async (q: string, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) work.sendToQueue(q, Buffer.from(String(i)));
    // A passive declare after the publishes, on the same channel, returns once the broker has them.
    await work.checkQueue(q);
  };

  before(async () => {
    connection = await connect(service.url);
    work = await connection.createChannel();
  });
  after(async () => {
    for (const q of queues) await work.deleteQueue(q).catch(() => {});
    await connection.close();
  });

  it('reads ready messages and consumers, summed over the queues', async () => {
    const a = await queue();
    const b = await queue();
    await publish(a, 3);
    await publish(b, 4);
    const consumer = await connection.createChannel();
    await consumer.prefetch(1);
    const delivered = new Promise<void>(
      (resolve) => void consumer.consume(a, () => resolve(), { noAck: false }),
    );
    await delivered;
    const channel = await connection.createChannel();
    const collector = rabbitmqCollector({ channel, queues: [a, b] });
    assert.equal(collector.name, `rabbitmq:${a},${b}`);
    const r = await collector.collect(never);
    assert.equal(r['consumers'], 1);
    // The consumer holds one unacknowledged message from a, which is not ready any more.
    assert.equal(r['backlog'], 2 + 4);
    await consumer.close();
    await channel.close();
  });

  it('reports backlog growth per second between collects', async () => {
    const q = await queue();
    const clock = new VirtualClock();
    const channel = await connection.createChannel();
    const collector = rabbitmqCollector({ channel, queues: q, clock, name: 'orders' });
    assert.deepEqual(await collector.collect(never), { backlog: 0, consumers: 0 });
    await publish(q, 20);
    clock.advance(4000);
    assert.deepEqual(await collector.collect(never), { backlog: 20, consumers: 0, backlogGrowth: 5 });
    for (let i = 0; i < 10; i++) {
      const m = await work.get(q);
      assert.ok(m);
      work.ack(m);
    }
    clock.advance(1000);
    assert.equal((await collector.collect(never))['backlogGrowth'], -10);
    await channel.close();
  });

  it('fails naming the queue when it does not exist', async () => {
    const channel = await connection.createChannel();
    channel.on('error', () => {}); // the broker closes the channel with 404
    const missing = `sluice.test.missing.${randomUUID()}`;
    const collector = rabbitmqCollector({ channel, queues: missing });
    await assert.rejects(collector.collect(never), (e: unknown) => {
      assert.ok(isCollectorError(e));
      assert.match(
        e.message,
        new RegExp(`checkQueue\\("${missing.replace(/\./g, '\\.')}"\\) failed: .*NOT_FOUND`),
      );
      return true;
    });
  });

  it('rejects bad options, naming them', async () => {
    const channel = await connection.createChannel();
    const bad: [() => unknown, string][] = [
      [() => rabbitmqCollector({ channel: {} as never, queues: 'q' }), 'channel'],
      [() => rabbitmqCollector({ channel, queues: [] }), 'queues'],
      [() => rabbitmqCollector({ channel, queues: ['q', ''] }), 'queues'],
    ];
    for (const [make, option] of bad) {
      assert.throws(make, (e: unknown) => isConfigError(e) && e.option === option, option);
    }
    await channel.close();
  });
});
