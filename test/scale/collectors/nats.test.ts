import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  AckPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { isConfigError } from '../../../src/core/errors.ts';
import { VirtualClock } from '../../../src/core/virtual-clock.ts';
import { isCollectorError } from '../../../src/scale/collectors/errors.ts';
import { natsCollector } from '../../../src/scale/collectors/nats.ts';
import { services } from '../../helpers/services.ts';

const service = await services.nats();
const never = new AbortController().signal;

describe('natsCollector (NATS JetStream)', { skip: service.skip }, () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let js: JetStreamClient;
  const streams: string[] = [];
  /** A fresh stream on `<name>.>` with an explicit-ack durable consumer `workers` on `<name>.jobs`. */
  const setup = async (): Promise<string> => {
    const stream = `sluice_test_${randomUUID().replace(/-/g, '')}`;
    streams.push(stream);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await jsm.consumers.add(stream, {
      durable_name: 'workers',
      ack_policy: AckPolicy.Explicit,
      filter_subject: `${stream}.jobs`,
    });
    return stream;
  };
  const publish = async (subject: string, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await js.publish(subject, String(i));
  };

  before(async () => {
    const { hostname, port } = new URL(service.url);
    nc = await connect({ servers: `${hostname}:${port || 4222}` });
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
  });
  after(async () => {
    for (const s of streams) await jsm.streams.delete(s).catch(() => {});
    await nc.close();
  });

  it('reads pending, ack-pending, redelivered and waiting, and their sum as backlog', async () => {
    const stream = await setup();
    await publish(`${stream}.jobs`, 5);
    await publish(`${stream}.other`, 3); // outside the consumer's filter
    const consumer = await js.consumers.get(stream, 'workers');
    const batch = await consumer.fetch({ max_messages: 2, expires: 1000 });
    const held = [];
    for await (const m of batch) held.push(m);
    assert.equal(held.length, 2);
    const collector = natsCollector({ jsm, stream, consumer: 'workers' });
    assert.equal(collector.name, `nats:${stream}/workers`);
    const r = await collector.collect(never);
    assert.equal(r['pending'], 3);
    assert.equal(r['ackPending'], 2);
    assert.equal(r['backlog'], 5);
    assert.equal(r['redelivered'], 0);
    assert.equal(r['waiting'], 0);
    assert.ok(r['oldestAgeMs']! >= 0 && r['oldestAgeMs']! < 60_000, `oldest ${r['oldestAgeMs']}`);
    for (const m of held) m.ack();
  });

  it("ages the oldest unacknowledged message on the consumer's subject", async () => {
    const stream = await setup();
    await publish(`${stream}.other`, 2);
    await publish(`${stream}.jobs`, 1);
    // A wall clock one minute ahead stands in for a message published a minute ago (on servers that send
    // their own time in the info, the server's time is used instead, and the age is near 0).
    const info = await jsm.consumers.info(stream, 'workers');
    const ahead = natsCollector({ jsm, stream, consumer: 'workers', wallClock: () => Date.now() + 60_000 });
    const age = (await ahead.collect(never))['oldestAgeMs']!;
    if (info.ts === undefined) assert.ok(age >= 60_000 && age < 65_000, `oldest ${age}`);
    else assert.ok(age >= 0 && age < 5000, `oldest ${age}`);
  });

  it('reads an oldest age of 0 once everything is acknowledged', async () => {
    const stream = await setup();
    await publish(`${stream}.jobs`, 2);
    const consumer = await js.consumers.get(stream, 'workers');
    for await (const m of await consumer.fetch({ max_messages: 2, expires: 1000 })) await m.ackAck();
    const r = await natsCollector({ jsm, stream, consumer: 'workers' }).collect(never);
    assert.equal(r['backlog'], 0);
    assert.equal(r['oldestAgeMs'], 0);
  });

  it('reports backlog growth per second between collects', async () => {
    const stream = await setup();
    const clock = new VirtualClock();
    const collector = natsCollector({ jsm, stream, consumer: 'workers', clock, oldestAge: false });
    await collector.collect(never);
    await publish(`${stream}.jobs`, 12);
    clock.advance(3000);
    const r = await collector.collect(never);
    assert.equal(r['backlogGrowth'], 4);
    assert.equal('oldestAgeMs' in r, false, 'oldestAge: false');
  });

  it('fails naming the stream and consumer when the consumer does not exist', async () => {
    const stream = await setup();
    const collector = natsCollector({ jsm, stream, consumer: 'nobody' });
    await assert.rejects(collector.collect(never), (e: unknown) => {
      assert.ok(isCollectorError(e));
      assert.match(e.message, new RegExp(`consumer info "${stream}/nobody" failed: consumer not found`));
      return true;
    });
  });

  it('rejects bad options, naming them', () => {
    const bad: [() => unknown, string][] = [
      [() => natsCollector({ jsm: {} as never, stream: 's', consumer: 'c' }), 'jsm'],
      [() => natsCollector({ jsm, stream: '', consumer: 'c' }), 'stream'],
      [() => natsCollector({ jsm, stream: 's', consumer: '' }), 'consumer'],
      [() => natsCollector({ jsm, stream: 's', consumer: 'c', oldestAge: 'no' as never }), 'oldestAge'],
      [() => natsCollector({ jsm, stream: 's', consumer: 'c', wallClock: 5 as never }), 'wallClock'],
    ];
    for (const [make, option] of bad) {
      assert.throws(make, (e: unknown) => isConfigError(e) && e.option === option, option);
    }
  });
});
