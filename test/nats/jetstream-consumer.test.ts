import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  AckPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect, headers, type NatsConnection, nanos } from '@nats-io/transport-node';
import type { ConsumerOptions } from '../../src/consumer/types.ts';
import { isConfigError } from '../../src/core/errors.ts';
import {
  type JetStreamLike,
  type JetStreamMessage,
  jetstreamConsumer,
} from '../../src/nats/jetstream-consumer.ts';
import { brokerSuite, until } from '../consumer/broker-suite.ts';
import { services } from '../helpers/services.ts';

const service = await services.nats();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

describe('jetstreamConsumer (NATS)', { skip: service.skip }, () => {
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const streams: string[] = [];

  /** A fresh stream with a work subject, a dead-letter subject and a durable consumer of the work. */
  const newStream = async (ackWaitMs = 1000) => {
    const id = randomUUID().replaceAll('-', '');
    const stream = `sluice_test_${id}`;
    const work = `sluice.test.${id}.work`;
    const dead = `sluice.test.${id}.dead`;
    streams.push(stream);
    await jsm.streams.add({ name: stream, subjects: [`sluice.test.${id}.>`] });
    await jsm.consumers.add(stream, {
      durable_name: 'workers',
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(ackWaitMs),
      filter_subject: work,
      max_ack_pending: -1,
    });
    await jsm.consumers.add(stream, {
      durable_name: 'dead',
      ack_policy: AckPolicy.Explicit,
      filter_subject: dead,
    });
    return { stream, work, dead };
  };
  const publish = async (subject: string, bodies: readonly string[], priority?: number) => {
    await Promise.all(
      bodies.map((body) => {
        if (priority === undefined) return js.publish(subject, encoder.encode(body));
        const h = headers();
        h.set('priority', String(priority));
        return js.publish(subject, encoder.encode(body), { headers: h });
      }),
    );
  };
  const remaining = async (stream: string): Promise<number> => {
    const info = await jsm.consumers.info(stream, 'workers');
    return info.num_pending + info.num_ack_pending;
  };
  const deadLetters = async (stream: string): Promise<{ body: string; error: string }[]> => {
    const consumer = await js.consumers.get(stream, 'dead');
    const out: { body: string; error: string }[] = [];
    const batch = await consumer.fetch({ max_messages: 100, expires: 1000 });
    for await (const m of batch) {
      out.push({ body: decoder.decode(m.data), error: m.headers?.get('Sluice-Error') ?? '' });
      m.ack();
      if (m.info.pending === 0) break;
    }
    return out;
  };

  before(async () => {
    nc = await connect({ servers: service.url });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => {});
    await nc.close();
  });

  describe('the broker suite', () => {
    brokerSuite<JetStreamMessage>({
      abandonedAfter: 1000,
      fixture: async () => {
        const { stream, work, dead } = await newStream();
        const intake: number[] = [];
        // The real client, with the size of every fetch recorded.
        const recording: JetStreamLike = {
          publish: (subject, payload, options) => js.publish(subject, payload, options as never),
          consumers: {
            get: async (s, name) => {
              const consumer = await js.consumers.get(s, name);
              return {
                info: (cached) => consumer.info(cached),
                fetch: (options) => {
                  intake.push(options.max_messages);
                  return consumer.fetch(options);
                },
              };
            },
          },
        };
        return {
          intake,
          publish: (bodies, priority) => publish(work, bodies, priority),
          consumer: (options: ConsumerOptions<JetStreamMessage>) =>
            jetstreamConsumer({
              js: recording,
              stream,
              consumer: 'workers',
              expires: 1000,
              deadLetterSubject: dead,
              ...options,
            }),
          bodyOf: (m) => decoder.decode(m.body),
          deadLetters: async () => (await deadLetters(stream)).map((d) => d.body),
          remaining: () => remaining(stream),
          cleanup: async () => {
            await jsm.streams.delete(stream).catch(() => {});
          },
        };
      },
    });
  });

  it('sends working() for a handler longer than the ack wait, so the message is not redelivered', async () => {
    const { stream, work } = await newStream(600);
    await publish(work, ['long']);
    const seen: number[] = [];
    const consumer = jetstreamConsumer({
      js,
      stream,
      consumer: 'workers',
      expires: 1000,
      handler: async (m) => {
        seen.push(m.deliveries);
        await delay(1500);
      },
    });
    await consumer.start();
    await until(() => consumer.snapshot().acked === 1, 'the ack');
    await consumer.stop();
    assert.deepEqual(seen, [1]);
    assert.equal(await remaining(stream), 0);
  });

  it('dead-letters with the failure in its headers, and terminates the message', async () => {
    const { stream, work, dead } = await newStream();
    await publish(work, ['poison']);
    const consumer = jetstreamConsumer({
      js,
      stream,
      consumer: 'workers',
      expires: 1000,
      deadLetterSubject: dead,
      maxDeliveries: 2,
      backoff: { name: 'none', delay: () => 0 },
      handler: async () => {
        throw new Error('bad input\nline two');
      },
    });
    await consumer.start();
    await until(() => consumer.snapshot().deadLettered === 1, 'the dead letter');
    await consumer.stop();
    assert.deepEqual(await deadLetters(stream), [{ body: 'poison', error: 'bad input line two' }]);
    await until(async () => (await remaining(stream)) === 0, 'the term to reach the server');
  });

  it('rejects invalid options with a ConfigError naming the option', () => {
    const handler = async () => {};
    assert.throws(
      () => jetstreamConsumer({ js: {} as never, stream: 's', consumer: 'c', handler }),
      (e) => isConfigError(e) && e.option === 'js',
    );
    assert.throws(
      () => jetstreamConsumer({ js, stream: 's', consumer: 'c', expires: 10, handler }),
      (e) => isConfigError(e) && e.option === 'expires',
    );
  });
});
