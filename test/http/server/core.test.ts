import assert from 'node:assert/strict';
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
