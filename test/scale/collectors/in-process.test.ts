import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConfigError } from '../../../src/core/errors.ts';
import { VirtualClock } from '../../../src/core/virtual-clock.ts';
import { createLimiter } from '../../../src/limiter/limiter.ts';
import type { Permit } from '../../../src/limiter/types.ts';
import { isCollectorError } from '../../../src/scale/collectors/errors.ts';
import { eventLoopCollector } from '../../../src/scale/collectors/event-loop.ts';
import { gaugeCollector } from '../../../src/scale/collectors/gauge.ts';
import { limiterCollector } from '../../../src/scale/collectors/limiter.ts';
import { EventLoopMonitor, type EventLoopReading } from '../../../src/signals/event-loop.ts';

const never = new AbortController().signal;

function setup(limit = 4) {
  const clock = new VirtualClock();
  const limiter = createLimiter({
    name: 'api',
    clock,
    limit,
    queue: { size: 10, timeout: 60_000, target: false },
  });
  return { clock, limiter };
}

describe('limiterCollector', () => {
  it('reads the limit, what is in flight, what waits and for how long', () => {
    const { clock, limiter } = setup(4);
    const collector = limiterCollector(limiter, { clock });
    assert.equal(collector.name, 'limiter:api');
    for (let i = 0; i < 4; i++) assert.ok(limiter.tryAcquire());
    void limiter.acquire().catch(() => {});
    clock.advance(250);
    void limiter.acquire().catch(() => {});
    const r = collector.collect(never) as Record<string, number>;
    assert.equal(r['limit'], 4);
    assert.equal(r['inflight'], 4);
    assert.equal(r['queued'], 2);
    assert.equal(r['oldestWaitMs'], 250);
    assert.equal(r['utilization'], 1);
    assert.equal(r['demand'], 1.5, 'demand shows how far the callers exceed the limit');
    collector.close();
  });

  it('reports rejections and releases since the previous collect as per-second rates', () => {
    const { clock, limiter } = setup(1);
    const collector = limiterCollector(limiter, { clock, name: 'edge' });
    assert.equal(collector.name, 'edge');
    const held = limiter.tryAcquire()!;
    for (let i = 0; i < 3; i++) assert.equal(limiter.tryAcquire(), undefined);
    clock.advance(2000);
    held.success();
    let r = collector.collect(never);
    assert.equal(r['rejectRate'], 1.5, '3 rejections over 2 s');
    assert.equal(r['throughput'], 0.5, '1 release over 2 s');
    clock.advance(1000);
    r = collector.collect(never);
    assert.equal(r['rejectRate'], 0, 'the count restarts after each collect');
    assert.equal(r['throughput'], 0);
    collector.close();
  });

  it('reads latency percentiles of the permits released since the previous collect, without ignored ones', () => {
    const { clock, limiter } = setup(200);
    const collector = limiterCollector(limiter, { clock });
    const permits: Permit[] = [];
    for (let i = 0; i < 100; i++) permits.push(limiter.tryAcquire()!);
    for (let i = 0; i < 100; i++) permits[i]!.success(i + 1); // latencies 1..100 ms
    limiter.tryAcquire()!.release('ignore', 1_000_000);
    clock.advance(1000);
    const r = collector.collect(never);
    assert.ok(Math.abs(r['latencyP50Ms']! - 50) <= 50 * 0.02, `p50 ${r['latencyP50Ms']}`);
    assert.ok(Math.abs(r['latencyP99Ms']! - 99) <= 99 * 0.02, `p99 ${r['latencyP99Ms']}`);
    assert.equal(r['throughput'], 101, 'ignored releases still count as throughput');
    clock.advance(1000);
    const quiet = collector.collect(never);
    assert.equal('latencyP50Ms' in quiet, false, 'no latency without releases');
    assert.equal('latencyP99Ms' in quiet, false);
    collector.close();
  });

  it('with latency: false, reads neither latency nor throughput', () => {
    const { clock, limiter } = setup(2);
    const collector = limiterCollector(limiter, { clock, latency: false });
    limiter.tryAcquire()!.success(10);
    clock.advance(1000);
    const r = collector.collect(never);
    assert.deepEqual(Object.keys(r).sort(), [
      'demand',
      'inflight',
      'limit',
      'oldestWaitMs',
      'queued',
      'rejectRate',
      'utilization',
    ]);
    collector.close();
  });

  it('carries counts over a collect at the same instant instead of dividing by zero', () => {
    const { clock, limiter } = setup(1);
    const collector = limiterCollector(limiter, { clock });
    limiter.tryAcquire();
    limiter.tryAcquire();
    const r = collector.collect(never);
    assert.equal('rejectRate' in r, false);
    clock.advance(500);
    assert.equal(collector.collect(never)['rejectRate'], 2);
    collector.close();
  });

  it('stops counting once closed', () => {
    const { clock, limiter } = setup(1);
    const collector = limiterCollector(limiter, { clock });
    collector.close();
    collector.close();
    limiter.tryAcquire();
    limiter.tryAcquire();
    clock.advance(1000);
    assert.equal(collector.collect(never)['rejectRate'], 0);
  });

  it('rejects what is not a limiter, and bad options, naming them', () => {
    const { limiter } = setup();
    const bad: [() => unknown, string][] = [
      [() => limiterCollector({} as never), 'limiter'],
      [() => limiterCollector(limiter, { name: '' }), 'name'],
      [() => limiterCollector(limiter, { clock: {} as never }), 'clock'],
      [() => limiterCollector(limiter, { latency: 'yes' as never }), 'latency'],
    ];
    for (const [make, option] of bad) {
      assert.throws(make, (e: unknown) => isConfigError(e) && e.option === option, option);
    }
  });
});

describe('eventLoopCollector', () => {
  const fixed = (reading: EventLoopReading, running = true) => ({ running, reading });

  it("reads the monitor's latest delay p99 and utilisation", async () => {
    const collector = eventLoopCollector(
      fixed({ delayP99Ms: 12.5, delayMeanMs: 3, delayMaxMs: 40, utilization: 0.75 }),
    );
    assert.equal(collector.name, 'event-loop');
    assert.deepEqual(await collector.collect(never), { delayP99Ms: 12.5, utilization: 0.75 });
  });

  it('leaves out figures the monitor does not have yet', async () => {
    const nan = Number.NaN;
    const collector = eventLoopCollector(
      fixed({ delayP99Ms: nan, delayMeanMs: nan, delayMaxMs: nan, utilization: 0.9 }),
    );
    assert.deepEqual(await collector.collect(never), { utilization: 0.9 });
  });

  it('reads a real monitor on a virtual clock', async () => {
    const clock = new VirtualClock();
    const monitor = new EventLoopMonitor({ clock, interval: 100 });
    const collector = eventLoopCollector(monitor, { name: 'loop' });
    monitor.start();
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(100);
    const r = await collector.collect(never);
    assert.ok(r['utilization']! >= 0 && r['utilization']! <= 1);
    monitor.stop();
  });

  it('fails on a stopped monitor rather than repeat its last reading', () => {
    const collector = eventLoopCollector(
      fixed({ delayP99Ms: 1, delayMeanMs: 1, delayMaxMs: 1, utilization: 0.1 }, false),
    );
    assert.throws(
      () => collector.collect(never),
      (e: unknown) => isCollectorError(e) && /not running/.test(e.message),
    );
  });

  it('rejects what is not a monitor', () => {
    assert.throws(
      () => eventLoopCollector({} as never),
      (e: unknown) => isConfigError(e) && e.option === 'monitor',
    );
  });
});

describe('gaugeCollector', () => {
  it('reads what the function returns, sync or async, and passes the abort signal', async () => {
    let seen: AbortSignal | undefined;
    const sync = gaugeCollector('jobs', (signal) => {
      seen = signal;
      return { backlog: 12, busy: 3 };
    });
    assert.equal(sync.name, 'jobs');
    assert.deepEqual(await sync.collect(never), { backlog: 12, busy: 3 });
    assert.equal(seen, never);
    const async = gaugeCollector('cache', async () => ({ missRate: 0.25 }));
    assert.deepEqual(await async.collect(never), { missRate: 0.25 });
  });

  it('leaves out non-finite readings and fails on readings that are not numbers', async () => {
    const gauge = gaugeCollector('g', () => ({ a: 1, b: Number.NaN, c: Number.POSITIVE_INFINITY }));
    assert.deepEqual(await gauge.collect(never), { a: 1 });
    const bad = gaugeCollector('g', () => ({ a: '1' }) as never);
    await assert.rejects(
      bad.collect(never),
      (e: unknown) => isCollectorError(e) && /"a" must be a number/.test(e.message),
    );
  });

  it("wraps the function's error, naming the collector and keeping the cause", async () => {
    const cause = new Error('pool closed');
    const gauge = gaugeCollector('pool', () => {
      throw cause;
    });
    await assert.rejects(gauge.collect(never), (e: unknown) => {
      assert.ok(isCollectorError(e));
      assert.equal(e.collector, 'pool');
      assert.match(e.message, /collector "pool": read\(\) failed: pool closed/);
      assert.equal(e.cause, cause);
      return true;
    });
  });

  it('rejects with the abort reason when aborted while the function runs', async () => {
    const controller = new AbortController();
    const gauge = gaugeCollector('slow', () => new Promise<never>(() => {}));
    const pending = gauge.collect(controller.signal);
    const reason = new Error('deadline');
    controller.abort(reason);
    await assert.rejects(pending, (e: unknown) => e === reason);
  });

  it('rejects a bad name or function', () => {
    assert.throws(
      () => gaugeCollector('', () => ({})),
      (e: unknown) => isConfigError(e) && e.option === 'name',
    );
    assert.throws(
      () => gaugeCollector('x', 1 as never),
      (e: unknown) => isConfigError(e) && e.option === 'read',
    );
  });
});
