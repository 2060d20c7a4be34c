import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { isConfigError } from '../../../src/core/errors.ts';
import { VirtualClock } from '../../../src/core/virtual-clock.ts';
import { byMethod, byRoute, ServerProtection } from '../../../src/http/server/core.ts';
import { type LoadReading, ProcessPressure } from '../../../src/http/server/pressure.ts';
import { ManualLimit } from '../../helpers/manual-limit.ts';

const info = (method: string, path: string, route?: string) => ({ method, path, route, headers: {} });

describe('process pressure', () => {
  function setup(inflight = 0) {
    const inner = new ManualLimit(100);
    let load: LoadReading = { eventLoopDelayMs: 0, eventLoopUtilization: 0, heapUsed: 0 };
    const pressure = new ProcessPressure(inner, new VirtualClock(), () => inflight, { read: () => load });
    const set = (l: Partial<LoadReading>) => {
      load = { ...load, ...l };
      pressure.sample();
    };
    return { inner, pressure, set };
  }

  it('caps the limit from in flight and halves it while critical', () => {
    const { pressure, set } = setup(40);
    set({ eventLoopDelayMs: 250 });
    assert.equal(pressure.level, 'critical');
    assert.equal(pressure.current, 20);
    set({});
    assert.equal(pressure.current, 10);
  });

  it('trims the limit by a tenth while elevated', () => {
    const { pressure, set } = setup(40);
    set({ eventLoopUtilization: 0.8, eventLoopDelayMs: 20 });
    assert.equal(pressure.level, 'elevated');
    assert.equal(pressure.current, 36);
  });

  it('reads a fully used event loop as pressure only while it also lags', () => {
    // A hello world under a closed-loop benchmark: busy all the time, answering within a few milliseconds.
    const { pressure, set } = setup(40);
    set({ eventLoopUtilization: 1, eventLoopDelayMs: 13 });
    assert.equal(pressure.level, 'normal');
    assert.equal(pressure.current, 100);
    set({ eventLoopUtilization: 1, eventLoopDelayMs: 20 });
    assert.equal(pressure.level, 'critical');
    assert.equal(pressure.current, 20);
  });

  it('grows the cap back and removes it once it no longer binds', () => {
    const { pressure, set, inner } = setup(40);
    set({ heapUsed: 0.95 });
    set({ heapUsed: 0.1 });
    assert.equal(pressure.level, 'normal');
    assert.equal(pressure.current, 22);
    for (let i = 0; i < 30; i++) set({});
    assert.equal(pressure.cap, Number.POSITIVE_INFINITY);
    assert.equal(pressure.current, 100);
    inner.set(120);
    assert.equal(pressure.current, 120);
  });

  it('holds a level until the load falls below 90 % of its threshold', () => {
    const { pressure, set } = setup(10);
    set({ eventLoopDelayMs: 200 });
    assert.equal(pressure.level, 'critical');
    set({ eventLoopDelayMs: 190 });
    assert.equal(pressure.level, 'critical');
    set({ eventLoopDelayMs: 170 });
    assert.equal(pressure.level, 'elevated');
  });

  it('never caps below minLimit', () => {
    const { pressure, set } = setup(0);
    for (let i = 0; i < 5; i++) set({ heapUsed: 1 });
    assert.equal(pressure.current, 1);
  });

  it('feeds the limiter: a critical reading lowers the limit the server admits by', () => {
    const clock = new VirtualClock();
    let heapUsed = 0;
    const protection = new ServerProtection({
      clock,
      limit: 16,
      pressure: { read: () => ({ eventLoopDelayMs: 0, eventLoopUtilization: 0, heapUsed }) },
    });
    heapUsed = 0.95;
    protection.samplePressure();
    assert.equal(protection.limiter.limit, 1);
    assert.equal(protection.ready, false);
    clock.advance(1000); // the periodic reading keeps it critical
    assert.equal(protection.level, 'critical');
    protection.close();
    assert.equal(clock.pending, 0);
  });
});

describe('classifiers', () => {
  it('match the longest route prefix, or the exact route template', () => {
    const c = byRoute({ '/api': { priority: 'normal' }, '/api/admin': { priority: 'critical' } });
    assert.deepEqual(c(info('GET', '/api/admin/users')), { priority: 'critical' });
    assert.deepEqual(c(info('GET', '/api/x')), { priority: 'normal' });
    assert.equal(c(info('GET', '/other')), undefined);
    assert.deepEqual(c(info('GET', '/users/7', '/api')), { priority: 'normal' });
  });

  it('match the method', () => {
    const c = byMethod({ get: { priority: 'high' } });
    assert.deepEqual(c(info('GET', '/')), { priority: 'high' });
    assert.equal(c(info('POST', '/')), undefined);
  });
});

describe('options', () => {
  const bad: [string, object][] = [
    ['maxPerKey', { maxPerKey: 0 }],
    ['deadlineHeader', { deadlineHeader: '' }],
    ['maxDeadline', { maxDeadline: -1 }],
    ['livePath', { livePath: 'health' }],
    ['shed.critical', { shed: { critical: 'urgent' } }],
    ['pressure.maxHeapUsed', { pressure: { maxHeapUsed: 2 } }],
    ['limit', { limit: 0 }],
    ['drainTimeout', { drainTimeout: -1 }],
    ['slowBody', { slowBody: 5 }],
    ['slowBody.timeout', { slowBody: { timeout: 0 } }],
    ['slowBody.minRate', { slowBody: { minRate: -1 } }],
  ];
  for (const [option, options] of bad) {
    it(`reject an invalid ${option} naming it`, () => {
      assert.throws(
        () => new ServerProtection({ clock: new VirtualClock(), ...options }),
        (e: unknown) => isConfigError(e) && e.option === option,
      );
    });
  }
});

describe('close()', () => {
  it('resolves at once when nothing is pending, turns readiness off and stops the pressure readings', async () => {
    const clock = new VirtualClock();
    const protection = new ServerProtection({
      clock,
      pressure: { read: () => ({ eventLoopDelayMs: 0, eventLoopUtilization: 0, heapUsed: 0 }) },
    });
    assert.equal(protection.ready, true);
    assert.equal(clock.pending, 1);
    const closing = protection.close();
    assert.equal(protection.ready, false);
    assert.equal(protection.draining, true);
    assert.equal(protection.snapshot().draining, true);
    assert.equal(clock.pending, 0);
    assert.deepEqual(await closing, { drained: true, cut: 0 });
    assert.equal(protection.close(5), closing);
  });

  it('rejects a negative timeout, naming it', () => {
    const protection = new ServerProtection({ clock: new VirtualClock(), pressure: false });
    assert.throws(
      () => protection.close(-1),
      (e: unknown) => isConfigError(e) && e.option === 'timeout',
    );
    assert.equal(protection.draining, false);
  });
});

/** The parts of a response the core reads, for driving `admit` on the virtual clock at high rates. */
class Response extends EventEmitter {
  writableFinished = false;
  statusCode = 200;
  headersSent = false;
  socket = null;
  finish(): void {
    this.writableFinished = true;
    this.emit('close');
  }
}

describe('timing at high request rates', () => {
  function setup() {
    const clock = new VirtualClock();
    const limit = new ManualLimit(1000);
    const protection = new ServerProtection({ clock, limit, pressure: false, slowBody: false });
    const count = () => protection.snapshot().routes['/x']?.latency.count ?? 0;
    /** `n` requests `gap` ms apart, each answered in `took` ms. */
    const serve = (n: number, gap: number, took: number) => {
      for (let i = 0; i < n; i++) {
        const res = new Response();
        const answer = protection.admit(
          { url: '/x', method: 'GET', headers: {} } as never,
          res as never,
          '/x',
        );
        assert.equal(answer, undefined);
        clock.advance(took);
        res.finish();
        clock.advance(gap - took);
      }
    };
    return { clock, limit, protection, count, serve };
  }

  it('times every request below 2,000 a second, a weighted random sample above, and all again once the rate falls', () => {
    const { clock, limit, protection, count, serve } = setup();
    serve(1000, 1, 0.5);
    assert.equal(limit.samples.length, 1000);
    assert.equal(count(), 1000);
    assert.ok(limit.samples.every((s) => s.rtt === 0.5));

    serve(4000, 0.05, 0.02); // 200 ms at 20,000 a second: the rate is reviewed
    const [samples, counted] = [limit.samples.length, count()];
    serve(16_000, 0.05, 0.02);
    // One in 8 (20,000 a second is past 16,000 and short of 32,000), each counting 8 times.
    const sampled = limit.samples.length - samples;
    assert.ok(Math.abs(sampled - 2000) < 200, `sampled ${sampled}`);
    const estimated = count() - counted;
    assert.equal(estimated, sampled * 8);
    assert.ok(Math.abs(count() - 21_000) < 21_000 * 0.05, `histogram counts ${count()}`);
    assert.equal(protection.snapshot().routes['/x']!.success, 21_000, 'counters stay exact');

    clock.advance(1000);
    const before = limit.samples.length;
    serve(100, 10, 1);
    assert.equal(limit.samples.length - before, 100);
    clock.advance(2 * 100);
    assert.equal(clock.pending, 0, 'the rate review stops once requests stop');
    void protection.close();
  });

  it('times every queued request, standing for itself', async () => {
    const { limit, protection, count, serve } = setup();
    serve(20_000, 0.05, 0.02);
    limit.set(1);
    const first = new Response();
    assert.equal(
      protection.admit({ url: '/x', method: 'GET', headers: {} } as never, first as never, '/x'),
      undefined,
    );
    const held = count();
    const samples = limit.samples.length;
    const second = new Response();
    const queued = protection.admit(
      { url: '/x', method: 'GET', headers: {} } as never,
      second as never,
      '/x',
    );
    assert.ok(queued instanceof Promise);
    first.finish();
    assert.equal(await queued, undefined);
    second.finish();
    const added = count() - held;
    assert.ok(added === 1 || added === 1 + 8, `histogram grew by ${added}`);
    assert.ok(limit.samples.length > samples, 'the queued request was a sample for the limit');
    void protection.close();
  });
});
