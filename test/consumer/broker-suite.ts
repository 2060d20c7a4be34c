import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Consumer, ConsumerMessage, ConsumerOptions } from '../../src/consumer/types.ts';
import { aimd } from '../../src/limits/aimd.ts';
import { constantBackoff } from '../../src/policies/backoff/constant.ts';

/**
 * One suite for every broker adapter, run against the real broker: what the adapters promise in common.
 * Each adapter's test file supplies a `BrokerFixture` per test (a fresh queue or stream) and runs
 * `brokerSuite` inside its `describe`.
 */
export interface BrokerFixture<M extends ConsumerMessage> {
  /** Publishes messages with these bodies, in order, with a priority when given. */
  publish(bodies: readonly string[], priority?: number): Promise<void>;
  /** A consumer of the fixture's queue with these options (and the adapter's own, set by the fixture). */
  consumer(options: ConsumerOptions<M>): Consumer;
  /** The body of a message, as a string. */
  bodyOf(message: M): string;
  /** Bodies of the messages in the dead letters. */
  deadLetters(): Promise<string[]>;
  /** Messages in the broker not yet acknowledged (waiting, delayed or delivered). */
  remaining(): Promise<number>;
  /** Sizes of intake the adapter asked the broker for (a prefetch, a fetch batch, a read COUNT), in order. */
  readonly intake: number[];
  /** Deletes what the fixture created. */
  cleanup(): Promise<void>;
}

export interface BrokerSuiteOptions<M extends ConsumerMessage> {
  fixture(): Promise<BrokerFixture<M>>;
  /** How long the broker takes to redeliver what a dead consumer held (ms): an ack wait, a claim idle time. */
  readonly abandonedAfter: number;
}

/** Resolves once `predicate` holds, polling; fails with `what` after `timeoutMs`. */
export async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = performance.now() + timeoutMs;
  while (!(await predicate())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

function bodies(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
}

/** Counts of each body handled. */
function tally(list: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const b of list) counts.set(b, (counts.get(b) ?? 0) + 1);
  return counts;
}

export function brokerSuite<M extends ConsumerMessage>(suite: BrokerSuiteOptions<M>): void {
  let f: BrokerFixture<M>;
  const consumers: Consumer[] = [];
  const make = (options: ConsumerOptions<M>): Consumer => {
    const c = f.consumer(options);
    consumers.push(c);
    return c;
  };

  beforeEach(async () => {
    f = await suite.fixture();
  });
  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.stop({ timeout: 0 });
    await f.cleanup();
  });

  it('handles and acknowledges every published message exactly once', async () => {
    const sent = bodies('m', 300);
    await f.publish(sent);
    const handled: string[] = [];
    const consumer = make({
      handler: async (m) => {
        handled.push(f.bodyOf(m));
        await delay(1);
      },
    });
    await consumer.start();
    await until(() => consumer.snapshot().acked === sent.length, 'every ack');
    await consumer.stop();
    assert.equal(handled.length, sent.length);
    assert.deepEqual([...tally(handled).keys()].sort(), [...sent].sort());
    assert.equal(await f.remaining(), 0);
    const s = consumer.snapshot();
    assert.deepEqual([s.acked, s.retried, s.shed, s.deadLettered, s.redelivered], [300, 0, 0, 0, 0]);
  });

  it('redelivers a failing message, then dead-letters it after maxDeliveries', async () => {
    await f.publish(['bad', ...bodies('ok', 10)]);
    const deliveries: number[] = [];
    const consumer = make({
      maxDeliveries: 3,
      backoff: constantBackoff({ delay: 50 }),
      handler: async (m) => {
        if (f.bodyOf(m) !== 'bad') return;
        deliveries.push(m.deliveries);
        throw new Error('cannot handle');
      },
    });
    await consumer.start();
    await until(() => consumer.snapshot().deadLettered === 1, 'the dead letter');
    await until(() => consumer.snapshot().acked === 10, 'the good ones');
    await consumer.stop();
    assert.deepEqual(deliveries, [1, 2, 3]);
    assert.deepEqual(await f.deadLetters(), ['bad']);
    // Some brokers settle a dead letter without confirming it (JetStream's term): give it a moment.
    await until(async () => (await f.remaining()) === 0, 'the broker to be empty');
    assert.equal(consumer.snapshot().retried, 2);
  });

  it('throttles intake while the handler is slow, and opens it again once it is fast', async () => {
    await f.publish(bodies('m', 5000));
    let slow = false;
    const consumer = make({
      limit: aimd({ initial: 16, max: 64, backoff: 0.5, timeout: 40, slowStart: false }),
      buffer: 2,
      handler: () => delay(slow ? 80 : 2),
    });
    await consumer.start();
    await delay(100);
    slow = true;
    await until(() => consumer.snapshot().limit <= 2, 'the limit to fall under a slow handler');
    const marker = f.intake.length;
    const ackedSlow = consumer.snapshot().acked;
    await delay(400);
    const slowIntake = f.intake.slice(marker);
    const slowAcks = consumer.snapshot().acked - ackedSlow;
    slow = false;
    await until(() => consumer.snapshot().limit >= 8, 'the limit to recover once the handler is fast');
    const ackedFast = consumer.snapshot().acked;
    await delay(400);
    const fastAcks = consumer.snapshot().acked - ackedFast;
    await consumer.stop();
    assert.ok(
      slowIntake.every((n) => n <= 4),
      `intake while slow asks for at most limit + buffer: ${slowIntake.join(',')}`,
    );
    assert.ok(fastAcks > 3 * slowAcks, `throughput recovers: ${slowAcks} acks while slow, ${fastAcks} after`);
  });

  it('sheds under pressure by handing messages back, and loses none of them', async () => {
    const sent = bodies('m', 60);
    await f.publish(sent);
    let pressure = true;
    const handled: string[] = [];
    const consumer = make({
      shed: () => pressure,
      shedDelay: 100,
      handler: async (m) => {
        handled.push(f.bodyOf(m));
      },
    });
    await consumer.start();
    await until(() => consumer.snapshot().shed > 0, 'shedding');
    await delay(300);
    assert.equal(handled.length, 0, 'nothing handled under pressure');
    pressure = false;
    await until(() => consumer.snapshot().acked === sent.length, 'every ack after the pressure');
    await consumer.stop();
    assert.deepEqual(
      [...tally(handled).entries()].filter(([, n]) => n !== 1),
      [],
      'each handled once',
    );
    assert.equal(tally(handled).size, sent.length);
    assert.equal(await f.remaining(), 0);
  });

  it('stops gracefully: finishes and acknowledges what is in flight, hands back the rest', async () => {
    const sent = bodies('m', 30);
    await f.publish(sent);
    const started: string[] = [];
    const handled: string[] = [];
    const first = make({
      limit: 4,
      buffer: 4,
      handler: async (m) => {
        started.push(f.bodyOf(m));
        await delay(200);
        handled.push(f.bodyOf(m));
      },
    });
    await first.start();
    await until(() => started.length === 4, 'four handlers running');
    await first.stop();
    assert.equal(first.snapshot().acked, handled.length);
    assert.deepEqual(handled.sort(), started.sort(), 'every started handler finished and was acked');
    assert.equal(first.snapshot().abandoned, 0);
    assert.equal(await f.remaining(), sent.length - handled.length);

    const second = make({
      handler: async (m) => {
        handled.push(f.bodyOf(m));
      },
    });
    await second.start();
    await until(() => handled.length >= sent.length, 'the rest');
    await until(async () => (await f.remaining()) === 0, 'the broker to be empty');
    await second.stop();
    assert.deepEqual(
      [...tally(handled).values()].filter((n) => n !== 1),
      [],
      'no duplicates after a graceful stop',
    );
  });

  it('loses nothing when a consumer dies mid-stream: the next one redelivers only what it held', async () => {
    const sent = bodies('m', 120);
    await f.publish(sent);
    const handled: string[] = [];
    const first = make({
      limit: 8,
      handler: async (m) => {
        handled.push(f.bodyOf(m));
        await delay(5);
      },
    });
    await first.start();
    await until(() => first.snapshot().acked >= 40, 'some progress');
    const acked = first.snapshot().acked;
    await first.stop({ timeout: 0 }); // as good as dead: its handlers' messages are not acknowledged
    const abandoned = first.snapshot().abandoned;

    const second = make({
      handler: async (m) => {
        handled.push(f.bodyOf(m));
      },
    });
    await second.start();
    await until(() => tally(handled).size === sent.length, 'every message', suite.abandonedAfter + 15_000);
    await until(
      async () => (await f.remaining()) === 0,
      'the broker to be empty',
      suite.abandonedAfter + 15_000,
    );
    await second.stop();
    const duplicates = [...tally(handled).values()].filter((n) => n > 1).length;
    assert.ok(acked >= 40);
    assert.ok(
      duplicates <= abandoned,
      `duplicates (${duplicates}) only for messages the dead consumer held unacknowledged (${abandoned})`,
    );
    assert.equal(first.snapshot().acked + second.snapshot().acked, sent.length, 'each acknowledged once');
  });

  it('serves the high-priority messages it holds before the others', async () => {
    await f.publish(bodies('low', 20), 0);
    await f.publish(bodies('high', 10), 5);
    const order: string[] = [];
    let consumer: Consumer | undefined;
    consumer = make({
      limit: 1,
      buffer: 40,
      handler: async (m) => {
        if (order.length === 0) await until(() => consumer!.snapshot().buffered === 29, 'all 30 held');
        order.push(f.bodyOf(m));
      },
    });
    await consumer.start();
    await until(() => order.length === 30, 'all 30 handled');
    await consumer.stop();
    const rest = order.slice(1);
    const firstLow = rest.findIndex((b) => b.startsWith('low'));
    const lastHigh = rest.findLastIndex((b) => b.startsWith('high'));
    assert.ok(lastHigh < firstLow, `high before low after the first: ${order.join(',')}`);
  });
}
