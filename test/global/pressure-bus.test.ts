import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConfigError } from '../../src/core/errors.ts';
import { flushMicrotasks, VirtualClock } from '../../src/core/virtual-clock.ts';
import {
  memoryTransport,
  type PressureSignal,
  type PressureSubscriberEvents,
  pressurePublisher,
  subscribePressure,
} from '../../src/global/pressure-bus.ts';
import { pressureCap } from '../../src/global/pressure-cap.ts';
import { createLimiter } from '../../src/limiter/limiter.ts';
import { fixedLimit } from '../../src/limits/fixed.ts';
import type { LimitChange } from '../../src/limits/limit.ts';
import { PressureMeter } from '../../src/signals/pressure.ts';
import { ManualLimit } from '../helpers/manual-limit.ts';

/** A message as a publisher would send it. */
function message(instance: string, seq: number, score: number, ttl = 3000): string {
  return JSON.stringify({ v: 1, instance, seq, score, ttl });
}

/** A pressure signal the test sets by hand. */
class ManualSignal implements PressureSignal {
  pressure: number | undefined = undefined;
  #listeners: ((p: number | undefined) => void)[] = [];
  set(p: number | undefined): void {
    this.pressure = p;
    for (const l of this.#listeners) l(p);
  }
  onChange(listener: (p: number | undefined) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }
}

describe('pressure bus', () => {
  it("carries a meter's smoothed score from its publisher to the subscribers of its name", async () => {
    const clock = new VirtualClock();
    const transport = memoryTransport();
    const meter = new PressureMeter({ halfLife: 1 });
    const publisher = pressurePublisher({ transport, name: 'orders', meter, interval: 500, clock });
    const orders = await subscribePressure({ transport, name: 'orders', clock });
    const other = await subscribePressure({ transport, name: 'billing', clock });
    assert.equal(orders.pressure, undefined, 'unknown before the first message');
    meter.update({ queueDepth: 90, queueCapacity: 100 }, 0);
    publisher.start();
    await flushMicrotasks();
    assert.ok(Math.abs(orders.pressure! - meter.score) < 1e-12);
    assert.ok(orders.pressure! > 0.9);
    assert.equal(orders.instances, 1);
    assert.equal(other.pressure, undefined);
    meter.update({ queueDepth: 0, queueCapacity: 100 }, 100);
    await clock.advanceAsync(500);
    assert.ok(orders.pressure! < 0.01, `pressure ${orders.pressure}`);
    publisher.stop();
  });

  it('forgets a reading once no message arrives within its ttl: the pressure becomes unknown', async () => {
    const clock = new VirtualClock();
    const transport = memoryTransport();
    const publisher = pressurePublisher({ transport, name: 'db', read: () => 0.7, interval: 100, clock });
    const db = await subscribePressure({ transport, name: 'db', clock });
    const changes: PressureSubscriberEvents['change'][] = [];
    const stale: PressureSubscriberEvents['stale'][] = [];
    db.on('change', (e) => changes.push(e));
    db.on('stale', (e) => stale.push(e));
    publisher.start();
    await clock.advanceAsync(1_000);
    assert.equal(db.pressure, 0.7, 'kept fresh by a message every interval');
    publisher.stop();
    await clock.advanceAsync(299); // the last message arrived at 1000 and lives 3 intervals
    assert.equal(db.pressure, 0.7);
    await clock.advanceAsync(1);
    assert.equal(db.pressure, undefined);
    assert.equal(db.instances, 0);
    assert.deepEqual(
      changes.map((c) => [c.previous, c.pressure]),
      [
        [undefined, 0.7],
        [0.7, undefined],
      ],
    );
    assert.deepEqual(
      stale.map((s) => [s.at, s.instance]),
      [[1_300, publisher.instance]],
    );
  });

  it("measures a reading's life on the subscriber's clock, with its own ttl when given", async () => {
    const clock = new VirtualClock();
    const transport = memoryTransport();
    const sub = await subscribePressure({ transport, name: 'svc', ttl: 50, clock });
    await transport.publish('svc', message('a', 1, 0.5, 10_000));
    await flushMicrotasks();
    await clock.advanceAsync(49);
    assert.equal(sub.pressure, 0.5);
    await clock.advanceAsync(1);
    assert.equal(sub.pressure, undefined);
  });

  it("combines the instances' readings by max (default) or mean, each expiring on its own", async () => {
    const clock = new VirtualClock();
    const transport = memoryTransport();
    const max = await subscribePressure({ transport, name: 'svc', clock });
    const mean = await subscribePressure({ transport, name: 'svc', clock, combine: 'mean' });
    await transport.publish('svc', message('a', 1, 0.2, 1000));
    await transport.publish('svc', message('b', 1, 0.8, 500));
    await flushMicrotasks();
    assert.equal(max.pressure, 0.8);
    assert.ok(Math.abs(mean.pressure! - 0.5) < 1e-12);
    assert.equal(max.instances, 2);
    await clock.advanceAsync(500);
    assert.equal(max.pressure, 0.2, "b's reading expired");
    assert.equal(mean.pressure, 0.2);
  });

  it('drops messages that are malformed, out of range or older than one already seen', async () => {
    const clock = new VirtualClock();
    const transport = memoryTransport();
    const sub = await subscribePressure({ transport, name: 'svc', clock });
    await transport.publish('svc', message('a', 5, 0.4));
    for (const bad of [
      message('a', 4, 0.9), // older
      message('a', 5, 0.9), // replayed
      message('b', 1, 1.5),
      message('b', 1, -0.1),
      '{"v":2,"instance":"b","seq":1,"score":0.5,"ttl":100}',
      '{"v":1,"instance":"b","seq":1,"score":0.5}',
      'not json',
      'x'.repeat(5000),
    ]) {
      await transport.publish('svc', bad);
    }
    await flushMicrotasks();
    assert.equal(sub.pressure, 0.4);
    assert.equal(sub.invalid, 8);
    assert.equal(sub.instances, 1);
  });

  it('remembers at most maxInstances, replacing the one heard from longest ago', async () => {
    const clock = new VirtualClock();
    const transport = memoryTransport();
    const sub = await subscribePressure({ transport, name: 'svc', clock, maxInstances: 2 });
    await transport.publish('svc', message('a', 1, 0.9));
    await transport.publish('svc', message('b', 1, 0.1));
    await transport.publish('svc', message('a', 2, 0.9)); // a heard again: b is now the oldest
    await transport.publish('svc', message('c', 1, 0.2));
    await flushMicrotasks();
    assert.equal(sub.instances, 2);
    assert.equal(sub.pressure, 0.9);
  });

  it('stops listening on close: the pressure is unknown and later messages change nothing', async () => {
    const clock = new VirtualClock();
    const transport = memoryTransport();
    const sub = await subscribePressure({ transport, name: 'svc', clock });
    await transport.publish('svc', message('a', 1, 0.6));
    await flushMicrotasks();
    await sub.close();
    assert.equal(sub.pressure, undefined);
    await transport.publish('svc', message('a', 2, 0.6));
    await flushMicrotasks();
    assert.equal(sub.pressure, undefined);
    assert.equal(clock.pending, 0, 'no expiry timer left behind');
  });

  it('reports a failed publish as an event and tries again at the next interval', async () => {
    const clock = new VirtualClock();
    let fail = true;
    const sent: string[] = [];
    const transport = {
      publish: (_name: string, m: string) => {
        if (fail) return Promise.reject(new Error('connection closed'));
        sent.push(m);
        return Promise.resolve();
      },
      subscribe: () => Promise.resolve(() => Promise.resolve()),
    };
    const publisher = pressurePublisher({ transport, name: 'svc', read: () => 2, interval: 100, clock });
    const errors: unknown[] = [];
    publisher.on('error', (e) => errors.push(e.error));
    publisher.start();
    await flushMicrotasks();
    assert.equal(errors.length, 1);
    fail = false;
    await clock.advanceAsync(100);
    assert.equal(sent.length, 1);
    const m = JSON.parse(sent[0]!);
    assert.equal(m.score, 1, 'a score above 1 is clamped');
    assert.equal(m.seq, 2);
    assert.equal(m.ttl, 300);
    publisher.stop();
  });

  it('checks its options', () => {
    const transport = memoryTransport();
    assert.throws(() => pressurePublisher({ transport, name: 'has space', read: () => 0 }), isConfigError);
    assert.throws(() => pressurePublisher({ transport, name: 'orders.*', read: () => 0 }), isConfigError);
    assert.throws(() => pressurePublisher({ transport, name: 'a' }), isConfigError);
    assert.throws(
      () => pressurePublisher({ transport, name: 'a', read: () => 0, interval: 100, ttl: 100 }),
      isConfigError,
    );
    assert.throws(
      () => pressurePublisher({ transport: {} as never, name: 'a', read: () => 0 }),
      isConfigError,
    );
  });
});

describe('pressureCap', () => {
  it('lowers a limit by limit × (1 − cut(pressure)), linear above the threshold', () => {
    const signal = new ManualSignal();
    const cap = pressureCap(fixedLimit(100), { signal });
    assert.equal(cap.current, 100, 'unknown pressure: no cap');
    signal.set(0.3);
    assert.equal(cap.current, 100, 'below the threshold (0.35)');
    signal.set(0.675); // halfway from 0.35 to 1: cut 0.45
    assert.equal(cap.current, 55);
    signal.set(1);
    assert.equal(cap.current, 10, 'at most 90 % cut');
    signal.set(undefined);
    assert.equal(cap.current, 100, 'the signal went stale: the cap is lifted');
    assert.equal(cap.cap, Number.POSITIVE_INFINITY);
  });

  it('follows the inner limit underneath, and never goes below min', () => {
    const signal = new ManualSignal();
    const inner = new ManualLimit(40);
    const cap = pressureCap(inner, { signal, min: 5, cut: (p) => p });
    const changes: LimitChange[] = [];
    cap.onChange((c) => changes.push(c));
    signal.set(0.5);
    assert.equal(cap.current, 20);
    inner.set(10);
    assert.equal(cap.current, 5);
    signal.set(0.99);
    assert.equal(cap.current, 5);
    assert.deepEqual(
      changes.map((c) => [c.previous, c.limit, c.rule]),
      [
        [40, 20, 'downstream-pressure'],
        [20, 5, 'inner'],
      ],
    );
    assert.equal(changes[0]!.signals['pressure'], 0.5);
  });

  it('feeds samples to the inner limit and stops following the signal on stop()', () => {
    const signal = new ManualSignal();
    const inner = new ManualLimit(10);
    const cap = pressureCap(inner, { signal });
    cap.update({ now: 1, rtt: 5, inflight: 1, dropped: false });
    assert.equal(inner.samples.length, 1);
    signal.set(1);
    assert.equal(cap.current, 1);
    cap.stop();
    assert.equal(cap.current, 10);
    signal.set(1);
    assert.equal(cap.current, 10);
  });

  it("lowers a limiter's limit when the downstream publishes pressure, before any latency is seen", async () => {
    const clock = new VirtualClock();
    const transport = memoryTransport();
    const downstream = new PressureMeter({ halfLife: 1 });
    pressurePublisher({ transport, name: 'inventory', meter: downstream, interval: 200, clock }).start();
    const inventory = await subscribePressure({ transport, name: 'inventory', clock });
    const limiter = createLimiter({
      clock,
      limit: pressureCap(fixedLimit(50), { signal: inventory }),
      queue: false,
    });
    await clock.advanceAsync(200);
    assert.equal(limiter.limit, 50);
    // The downstream's queue fills; its latency has not moved yet.
    downstream.update({ queueDepth: 95, queueCapacity: 100, queueAge: 150 }, 200);
    await clock.advanceAsync(200);
    assert.ok(limiter.limit < 10, `limit ${limiter.limit}`);
    downstream.update({ queueDepth: 0, queueCapacity: 100, queueAge: 0 }, 400);
    await clock.advanceAsync(200);
    assert.equal(limiter.limit, 50);
  });

  it('checks its options', () => {
    const signal = new ManualSignal();
    assert.throws(() => pressureCap(fixedLimit(1), { signal: {} as never }), isConfigError);
    assert.throws(() => pressureCap(fixedLimit(1), { signal, threshold: 1 }), isConfigError);
    assert.throws(() => pressureCap(fixedLimit(1), { signal, maxCut: 0 }), isConfigError);
    assert.throws(() => pressureCap(fixedLimit(1), { signal, cut: (p) => p, maxCut: 0.5 }), isConfigError);
  });
});
