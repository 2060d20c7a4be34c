import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { createConsumer } from '../../src/consumer/consumer.ts';
import { isConsumerStoppedError } from '../../src/consumer/errors.ts';
import { parsePriority } from '../../src/consumer/priority.ts';
import type { ConsumerEvents, ConsumerOptions, HandlerContext } from '../../src/consumer/types.ts';
import { isConfigError, RejectedError } from '../../src/core/errors.ts';
import { flushMicrotasks, VirtualClock } from '../../src/core/virtual-clock.ts';
import { aimd } from '../../src/limits/aimd.ts';
import { constantBackoff } from '../../src/policies/backoff/constant.ts';
import { exponentialBackoff } from '../../src/policies/backoff/exponential.ts';
import { ManualLimit } from '../helpers/manual-limit.ts';
import { FakeBroker, type FakeBrokerOptions, type FakeMessage } from './fake-broker.ts';

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function setup(
  options: Partial<ConsumerOptions<FakeMessage>> & { handler: ConsumerOptions<FakeMessage>['handler'] },
  broker: Partial<FakeBrokerOptions> = {},
) {
  const clock = new VirtualClock();
  const source = new FakeBroker({ clock, ...broker });
  const consumer = createConsumer(source, { clock, backoff: constantBackoff({ delay: 100 }), ...options });
  const events: { -readonly [K in keyof ConsumerEvents]?: ConsumerEvents[K][] } = {};
  for (const name of ['ack', 'retry', 'shed', 'dead-letter', 'window', 'error', 'stop'] as const) {
    consumer.on(name, (event) => {
      (events[name] ??= [] as never[]).push(event as never);
    });
  }
  return { clock, source, consumer, events };
}

describe('createConsumer', () => {
  it('publishes no limiter rejection for a message that waits in its buffer for a permit', async () => {
    const rejections: unknown[] = [];
    const onReject = (m: unknown) => rejections.push(m);
    subscribe('sluice:limiter:reject', onReject);
    try {
      const { clock, source, consumer } = setup({ limit: 1, buffer: 4, handler: async () => {} });
      for (let i = 0; i < 5; i++) source.publish(`b${i}`);
      await consumer.start();
      await clock.advanceAsync(10);
      assert.equal(source.counts().acked, 5);
      await consumer.stop();
    } finally {
      unsubscribe('sluice:limiter:reject', onReject);
    }
    assert.deepEqual(rejections, []);
  });

  it('handles and acknowledges every message once', async () => {
    const handled: string[] = [];
    const { clock, source, consumer } = setup({
      handler: async (m) => {
        handled.push(m.body);
      },
    });
    for (let i = 0; i < 50; i++) source.publish(`b${i}`);
    await consumer.start();
    await clock.advanceAsync(10);
    assert.equal(handled.length, 50);
    assert.deepEqual([...source.acks.values()], Array(50).fill(1));
    assert.deepEqual(source.counts(), { ready: 0, delayed: 0, unacked: 0, acked: 50, dead: 0 });
    const s = consumer.snapshot();
    assert.equal(s.acked, 50);
    assert.equal(s.held, 0);
    await consumer.stop();
    assert.equal(consumer.state, 'stopped');
    assert.equal(source.closed, 1);
  });

  it('acknowledges a message only after its handler resolves', async () => {
    const gates = new Map<string, Deferred>();
    const { clock, source, consumer } = setup({
      handler: (m) => {
        const d = deferred();
        gates.set(m.id, d);
        return d.promise;
      },
    });
    const a = source.publish('a');
    const b = source.publish('b');
    await consumer.start();
    await clock.advanceAsync(10);
    assert.equal(gates.size, 2);
    assert.equal(source.acks.size, 0, 'nothing acked while handlers run');
    gates.get(b)!.resolve();
    await clock.advanceAsync(1);
    assert.deepEqual([...source.acks.keys()], [b]);
    assert.equal(source.stateOf(a), 'unacked');
    gates.get(a)!.resolve();
    await clock.advanceAsync(1);
    assert.equal(source.stateOf(a), 'acked');
    await consumer.stop();
  });

  it('serves the most important messages it holds first, first come first served within a priority', async () => {
    const order: string[] = [];
    const gate = deferred();
    const { clock, source, consumer } = setup({
      limit: 1,
      buffer: 10,
      handler: async (m) => {
        if (m.body === 'first') await gate.promise;
        order.push(m.body);
      },
    });
    source.publish('first');
    await consumer.start();
    await clock.advanceAsync(1);
    source.publish('low-1', -1);
    source.publish('normal-1', 0);
    source.publish('high-1', 1);
    source.publish('low-2', -1);
    source.publish('high-2', 1);
    source.publish('critical', 2);
    await clock.advanceAsync(1);
    gate.resolve();
    await clock.advanceAsync(10);
    assert.deepEqual(order, ['first', 'critical', 'high-1', 'high-2', 'normal-1', 'low-1', 'low-2']);
    await consumer.stop();
  });

  it('runs no more handlers than the limit and holds no more than limit + buffer', async () => {
    let running = 0;
    let most = 0;
    const { clock, source, consumer } = setup({
      limit: 3,
      buffer: 2,
      handler: async () => {
        running++;
        most = Math.max(most, running);
        await new Promise<void>((resolve) => clock.setTimer(resolve, 10));
        running--;
      },
    });
    source.check = (max) => {
      const s = consumer.snapshot();
      assert.ok(max + s.held <= s.window, `asked for ${max} while holding ${s.held} of ${s.window}`);
    };
    for (let i = 0; i < 40; i++) source.publish(`b${i}`);
    await consumer.start();
    await clock.advanceAsync(5);
    assert.equal(consumer.snapshot().held, 5);
    assert.equal(consumer.snapshot().inflight, 3);
    assert.equal(source.counts().unacked, 5);
    await clock.advanceAsync(200);
    assert.equal(most, 3);
    assert.equal(source.counts().acked, 40);
    await consumer.stop();
  });

  it('retries a failing message after the backoff, then dead-letters it after maxDeliveries', async () => {
    const { clock, source, consumer, events } = setup({
      maxDeliveries: 3,
      backoff: exponentialBackoff({ base: 100, max: 1000 }),
      handler: async (m) => {
        if (m.body === 'bad') throw new Error('boom');
      },
    });
    const bad = source.publish('bad');
    source.publish('good');
    await consumer.start();
    await clock.advanceAsync(1);
    assert.equal(source.deliveriesOf(bad), 1);
    assert.equal(source.stateOf(bad), 'delayed');
    await clock.advanceAsync(99);
    assert.equal(source.deliveriesOf(bad), 2, 'redelivered after 100 ms');
    await clock.advanceAsync(199);
    assert.equal(source.deliveriesOf(bad), 2);
    await clock.advanceAsync(1);
    assert.equal(source.deliveriesOf(bad), 3, 'then after 200 ms');
    await clock.advanceAsync(1);
    assert.equal(source.stateOf(bad), 'dead');
    assert.equal(source.deadLetters.length, 1);
    assert.equal(source.deadLetters[0]!.info.deliveries, 3);
    assert.equal(source.deadLetters[0]!.info.reason, 'boom');
    assert.deepEqual(
      events.retry!.map((e) => [e.deliveries, e.delayMs]),
      [
        [1, 100],
        [2, 200],
      ],
    );
    assert.equal(events['dead-letter']!.length, 1);
    const s = consumer.snapshot();
    assert.deepEqual([s.acked, s.failed, s.retried, s.deadLettered, s.redelivered], [1, 3, 2, 1, 2]);
    await consumer.stop();
  });

  it('hands a message that keeps failing to onDeadLetter, and acks it once that resolves', async () => {
    const taken: string[] = [];
    const gate = deferred();
    const { clock, source, consumer } = setup({
      maxDeliveries: 1,
      onDeadLetter: async (m, info) => {
        await gate.promise;
        taken.push(`${m.body}:${info.reason}`);
      },
      handler: async () => {
        throw new Error('no');
      },
    });
    const id = source.publish('x');
    await consumer.start();
    await clock.advanceAsync(1);
    assert.equal(source.stateOf(id), 'unacked', 'held until onDeadLetter resolves');
    gate.resolve();
    await clock.advanceAsync(1);
    assert.deepEqual(taken, ['x:no']);
    assert.equal(source.stateOf(id), 'acked');
    assert.equal(source.deadLetters.length, 0);
    await consumer.stop();
  });

  it('redelivers a dead letter that onDeadLetter failed to take, rather than lose it', async () => {
    let attempts = 0;
    const { clock, source, consumer, events } = setup({
      maxDeliveries: 1,
      onDeadLetter: async () => {
        if (++attempts === 1) throw new Error('dead-letter store down');
      },
      handler: async () => {
        throw new Error('no');
      },
    });
    const id = source.publish('x');
    await consumer.start();
    await clock.advanceAsync(1);
    assert.equal(source.stateOf(id), 'delayed');
    assert.equal(events.error![0]!.operation, 'dead-letter');
    await clock.advanceAsync(100);
    assert.equal(attempts, 2);
    assert.equal(source.stateOf(id), 'acked');
    await consumer.stop();
  });

  it('teaches the limit from the handler: overload errors back it off', async () => {
    const { clock, source, consumer } = setup({
      limit: aimd({ initial: 8, backoff: 0.5, slowStart: false }),
      maxDeliveries: 100,
      handler: async () => {
        await new Promise<void>((resolve) => clock.setTimer(resolve, 5));
        throw new RejectedError('limit', { limit: 1, inflight: 1, queued: 0, retryAfterMs: 10 });
      },
    });
    for (let i = 0; i < 20; i++) source.publish(`b${i}`);
    await consumer.start();
    await clock.advanceAsync(6);
    assert.ok(consumer.snapshot().limit < 8, `limit ${consumer.snapshot().limit}`);
    const stopping = consumer.stop({ timeout: 0 });
    await clock.advanceAsync(1);
    await stopping;
  });

  it('by default, follows the capacity of what the handler writes to: less intake while it is slow, more after', async () => {
    const clock = new VirtualClock();
    const source = new FakeBroker({ clock, latency: 1 });
    // A sink that serves `capacity` writes at once in 10 ms; more queue and take longer.
    let capacity = 20;
    let running = 0;
    const consumer = createConsumer(source, {
      clock,
      handler: async () => {
        running++;
        await new Promise<void>((resolve) => clock.setTimer(resolve, 10 * Math.max(1, running / capacity)));
        running--;
      },
    });
    for (let i = 0; i < 30_000; i++) source.publish('m');
    const asked: { at: number; max: number }[] = [];
    source.check = (max) => asked.push({ at: clock.now(), max });
    const started = consumer.start();
    await clock.advanceAsync(1);
    await started;
    const limits: number[] = [];
    for (let t = 0; t < 30; t++) {
      if (t === 10) capacity = 4;
      if (t === 20) capacity = 20;
      await clock.advanceAsync(500);
      limits.push(consumer.snapshot().limit);
    }
    const healthy = limits.slice(4, 10);
    const slow = limits.slice(14, 20);
    const recovered = limits.slice(24, 30);
    assert.ok(Math.min(...healthy) >= 16, `healthy: ${healthy}`);
    assert.ok(Math.max(...slow) <= 8, `slow: ${slow}`);
    assert.ok(Math.min(...recovered) >= 16, `recovered: ${recovered}`);
    const slowAsks = asked.filter((a) => a.at >= 7000 && a.at < 10_000).map((a) => a.max);
    assert.ok(Math.max(...slowAsks) <= 10, `intake while slow: at most ${Math.max(...slowAsks)}`);
    const stopping = consumer.stop();
    await clock.advanceAsync(100);
    await stopping;
  });

  it('shrinks the window as the limit falls: announces it and hands back the buffered excess', async () => {
    const limit = new ManualLimit(6);
    const gate = deferred();
    const { clock, source, consumer, events } = setup({
      limit,
      buffer: 2,
      handler: () => gate.promise,
    });
    for (let i = 0; i < 20; i++) source.publish(`b${i}`, i < 2 ? -1 : 0);
    await consumer.start();
    await clock.advanceAsync(1);
    assert.deepEqual(source.windows, [8]);
    assert.equal(consumer.snapshot().held, 8);
    assert.equal(consumer.snapshot().buffered, 2);
    limit.set(3);
    await clock.advanceAsync(1);
    assert.deepEqual(source.windows, [8, 5]);
    assert.equal(consumer.snapshot().buffered, 0, 'buffered excess handed back');
    assert.equal(consumer.snapshot().held, 6, 'running handlers finish');
    assert.deepEqual(
      events.shed!.map((e) => e.reason),
      ['limit', 'limit'],
    );
    assert.equal(events.window!.at(-1)!.window, 5);
    gate.resolve();
    await clock.advanceAsync(10);
    assert.equal(source.counts().acked, 20);
    await consumer.stop();
  });

  it('grows the window back as the limit rises', async () => {
    const limit = new ManualLimit(2);
    const gate = deferred();
    const { clock, source, consumer } = setup({ limit, buffer: 0, handler: () => gate.promise });
    for (let i = 0; i < 10; i++) source.publish(`b${i}`);
    await consumer.start();
    await clock.advanceAsync(1);
    assert.equal(consumer.snapshot().inflight, 2);
    limit.set(5);
    await clock.advanceAsync(1);
    assert.equal(consumer.snapshot().inflight, 5);
    assert.deepEqual(source.windows, [2, 5]);
    gate.resolve();
    await consumer.stop();
  });

  it('sheds under pressure: hands messages back after shedDelay and pauses intake as long', async () => {
    let pressure = true;
    const handled: string[] = [];
    const { clock, source, consumer, events } = setup({
      shed: (m) => pressure && m.priority < 1,
      shedDelay: 500,
      handler: async (m) => {
        handled.push(m.body);
      },
    });
    source.publish('normal');
    source.publish('high', 1);
    await consumer.start();
    await clock.advanceAsync(1);
    assert.deepEqual(handled, ['high'], 'important work still flows');
    assert.equal(source.counts().delayed, 1);
    assert.deepEqual(
      events.shed!.map((e) => [e.reason, e.delayMs]),
      [['pressure', 500]],
    );
    const receives = source.log.filter((l) => l.op === 'receive').length;
    source.publish('later');
    await clock.advanceAsync(400);
    assert.equal(source.log.filter((l) => l.op === 'receive').length, receives, 'intake paused');
    pressure = false;
    await clock.advanceAsync(200);
    assert.deepEqual(handled.sort(), ['high', 'later', 'normal']);
    assert.equal(source.counts().acked, 3);
    assert.equal(source.deliveriesOf('m1'), 2);
    await consumer.stop();
  });

  it('hands back a message that waited longer than maxWait for a turn', async () => {
    const gate = deferred();
    const { clock, source, consumer, events } = setup({
      limit: 1,
      buffer: 3,
      maxWait: 1000,
      handler: () => gate.promise,
    });
    for (let i = 0; i < 3; i++) source.publish(`b${i}`);
    await consumer.start();
    await clock.advanceAsync(1600);
    assert.ok(events.shed!.some((e) => e.reason === 'expired'));
    gate.resolve();
    await clock.advanceAsync(10);
    assert.equal(source.counts().acked, 3);
    await consumer.stop();
  });

  it('stops gracefully: receives no more, hands back what waits, finishes what runs, acks, then closes', async () => {
    const gate = deferred();
    const { clock, source, consumer, events } = setup({ limit: 2, buffer: 2, handler: () => gate.promise });
    for (let i = 0; i < 10; i++) source.publish(`b${i}`);
    await consumer.start();
    await clock.advanceAsync(1);
    let stopped = false;
    const stopping = consumer.stop().then(() => {
      stopped = true;
    });
    await clock.advanceAsync(1);
    assert.equal(consumer.state, 'stopping');
    assert.equal(source.stopped, 1);
    assert.equal(source.closed, 0, 'not closed while handlers run');
    assert.equal(source.counts().unacked, 2, 'the two buffered went back');
    assert.equal(stopped, false);
    gate.resolve();
    await stopping;
    assert.equal(source.closed, 1);
    assert.deepEqual(source.counts(), { ready: 8, delayed: 0, unacked: 0, acked: 2, dead: 0 });
    assert.deepEqual(
      events.shed!.map((e) => [e.reason, e.delayMs]),
      [
        ['stop', 0],
        ['stop', 0],
      ],
    );
    assert.equal(events.stop!.length, 1);
    assert.equal(await consumer.stop().then(() => 'same'), 'same');
  });

  it('gives up on handlers after the stop timeout: aborts them and leaves their messages to the broker', async () => {
    let context: HandlerContext | undefined;
    const { clock, source, consumer, events } = setup({
      handler: (_m, ctx) => {
        context = ctx;
        return new Promise(() => {});
      },
    });
    const id = source.publish('stuck');
    await consumer.start();
    await clock.advanceAsync(1);
    const stopping = consumer.stop({ timeout: 1000 });
    await clock.advanceAsync(1000);
    await stopping;
    assert.equal(context!.signal.aborted, true);
    assert.ok(isConsumerStoppedError(context!.signal.reason));
    assert.equal(source.stateOf(id), 'unacked', 'not acked: the broker redelivers it');
    assert.equal(consumer.snapshot().abandoned, 1);
    assert.equal(events.stop![0]!.abandoned, 1);
  });

  it('does not ack a handler that resolves after its consumer gave up on it', async () => {
    const gate = deferred();
    const { clock, source, consumer } = setup({ handler: () => gate.promise });
    const id = source.publish('late');
    await consumer.start();
    await clock.advanceAsync(1);
    const stopping = consumer.stop({ timeout: 0 });
    await clock.advanceAsync(1);
    await stopping;
    gate.resolve();
    await flushMicrotasks();
    assert.equal(source.stateOf(id), 'unacked');
    assert.equal(source.log.filter((l) => l.op === 'ack').length, 0);
  });

  it('reports the messages it holds as in work at the source touch interval', async () => {
    const gate = deferred();
    const { clock, source, consumer } = setup(
      { limit: 1, buffer: 1, handler: () => gate.promise },
      { touchInterval: 1000, ackWait: 3000 },
    );
    source.publish('a');
    source.publish('b');
    await consumer.start();
    await clock.advanceAsync(10_000);
    assert.ok(source.log.filter((l) => l.op === 'touch').length >= 9);
    assert.equal(source.deliveriesOf('m1'), 1, 'never redelivered while held');
    assert.equal(source.deliveriesOf('m2'), 1, 'nor while buffered');
    gate.resolve();
    await clock.advanceAsync(1);
    await consumer.stop();
    assert.equal(source.counts().acked, 2);
  });

  it('reports a failing receive and retries it with a growing backoff', async () => {
    let failing = 3;
    const { clock, source, consumer, events } = setup(
      { handler: async () => {} },
      { fail: (op) => op === 'receive' && failing-- > 0 },
    );
    source.publish('a');
    await consumer.start();
    await clock.advanceAsync(100 + 200 + 400 + 10);
    assert.equal(events.error!.filter((e) => e.operation === 'receive').length, 3);
    assert.equal(source.counts().acked, 1);
    await consumer.stop();
  });

  it('reports a failed ack and lets go of the message: the broker redelivers it (at least once)', async () => {
    let failAck = true;
    const handled: number[] = [];
    const { clock, source, consumer, events } = setup(
      {
        handler: async (m) => {
          handled.push(m.delivery);
        },
      },
      { ackWait: 1000, fail: (op) => op === 'ack' && failAck },
    );
    const id = source.publish('a');
    await consumer.start();
    await clock.advanceAsync(1);
    failAck = false;
    assert.equal(events.error![0]!.operation, 'ack');
    assert.equal(consumer.snapshot().held, 0);
    await clock.advanceAsync(1000);
    assert.deepEqual(handled, [1, 2]);
    assert.equal(source.stateOf(id), 'acked');
    await consumer.stop();
  });

  it('offers its figures as an autoscaler collector', async () => {
    const gate = deferred();
    const { clock, source, consumer } = setup({ limit: 4, buffer: 2, handler: () => gate.promise });
    for (let i = 0; i < 10; i++) source.publish(`b${i}`);
    const collector = consumer.collector;
    assert.equal(collector.name, 'consumer:fake');
    await consumer.start();
    await clock.advanceAsync(1000);
    gate.resolve();
    await clock.advanceAsync(1000);
    const r = collector.collect();
    assert.equal(r['limit'], 4);
    assert.equal(r['window'], 6);
    assert.equal(r['inflight'], 0);
    assert.equal(r['ackRate'], 5, '10 acks over 2 s');
    assert.equal(r['redeliveryRate'], 0);
    await consumer.stop();
  });

  it('rejects start when the source fails to open, and closes what it opened', async () => {
    const { source, consumer } = setup({ handler: async () => {} });
    source.open = async () => {
      throw new Error('broker down');
    };
    await assert.rejects(consumer.start(), /broker down/);
    assert.equal(consumer.state, 'stopped');
    assert.equal(source.closed, 1);
    await consumer.stop();
  });

  it('stops a consumer that never started without touching its source', async () => {
    const { source, consumer } = setup({ handler: async () => {} });
    await consumer.stop();
    assert.equal(consumer.state, 'stopped');
    assert.equal(source.opened + source.closed, 0);
  });

  it('rejects invalid options with a ConfigError naming the option', () => {
    const clock = new VirtualClock();
    const source = new FakeBroker({ clock });
    const bad: [string, Partial<ConsumerOptions<FakeMessage>>][] = [
      ['handler', { handler: 'x' as never }],
      ['maxDeliveries', { maxDeliveries: 0 }],
      ['buffer', { buffer: -1 }],
      ['shedDelay', { shedDelay: Number.NaN }],
      ['maxWait', { maxWait: 0 }],
      ['limit', { limit: 0 }],
      ['shed', { shed: 1 as never }],
    ];
    for (const [option, partial] of bad) {
      assert.throws(
        () => createConsumer(source, { handler: async () => {}, ...partial }),
        (error) => isConfigError(error) && error.option === option,
        option,
      );
    }
    assert.throws(
      () => createConsumer({} as never, { handler: async () => {} }),
      (error) => isConfigError(error) && error.option === 'source',
    );
  });
});

describe('parsePriority', () => {
  it('reads numbers and criticality names, higher first', () => {
    assert.equal(parsePriority(5), 5);
    assert.equal(parsePriority('7'), 7);
    assert.equal(parsePriority('critical'), 2);
    assert.equal(parsePriority('High'), 1);
    assert.equal(parsePriority('normal'), 0);
    assert.equal(parsePriority('sheddable'), -2);
    assert.equal(parsePriority(new TextEncoder().encode('low')), -1);
    assert.equal(parsePriority('urgent'), undefined);
    assert.equal(parsePriority(''), undefined);
    assert.equal(parsePriority(undefined), undefined);
  });
});
