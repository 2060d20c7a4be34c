import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConfigError } from '../../src/core/errors.ts';
import { aimd } from '../../src/limits/aimd.ts';
import { Fluid } from '../helpers/fluid.ts';
import { record, sample, steady } from './helpers.ts';

describe('aimd', () => {
  it('backs off by 10% on a drop', () => {
    const limit = aimd({ initial: 50 });
    const changes = record(limit);
    assert.equal(limit.update(sample(100, 10, 50, true)), 45);
    assert.deepEqual(
      changes.map((c) => [c.previous, c.limit, c.rule]),
      [[50, 45, 'drop']],
    );
  });

  it('backs off once per round trip: drops admitted before the last cut are ignored', () => {
    const limit = aimd({ initial: 50 });
    limit.update(sample(100, 10, 50, true));
    assert.equal(limit.update(sample(105, 10, 50, true)), 45, 'started at 95, before the cut at 100');
    assert.equal(limit.update(sample(120, 10, 45, true)), 40, 'started at 110, after it');
  });

  it('counts a request slower than `timeout` as a drop', () => {
    const limit = aimd({ initial: 50, timeout: 100 });
    const changes = record(limit);
    assert.equal(limit.update(sample(500, 150, 50)), 45);
    limit.update(sample(700, 90, 45));
    assert.deepEqual(
      changes.map((c) => c.rule),
      ['drop', 'increase'],
    );
  });

  it('grows by one per round trip while requests fill the limit', () => {
    const limit = aimd({ slowStart: false });
    const changes = record(limit);
    steady(limit, 0, 1000, { rtt: 10 });
    assert.ok(changes.length >= 30 && changes.length <= 60, `${changes.length} increases in 100 round trips`);
    for (const c of changes) assert.deepEqual([c.limit - c.previous, c.rule], [1, 'increase']);
  });

  it('does not grow a limit that requests leave unused', () => {
    const limit = aimd({ slowStart: false });
    steady(limit, 0, 1000, { rtt: 10, inflight: 5 });
    assert.equal(limit.current, 20);
  });

  it('keeps pulling the limit down while every request drops, however steady latency is', () => {
    const limit = aimd({ initial: 100 });
    steady(limit, 0, 1000, { rtt: 10, dropped: true });
    assert.equal(limit.current, 1);
  });

  it('slow start doubles the limit every round trip until the first drop, then steps by one', () => {
    const limit = aimd();
    const changes = record(limit);
    const end = steady(limit, 0, 60, { rtt: 10 });
    assert.ok(changes.length >= 2, 'doubled at least twice');
    for (const c of changes) assert.deepEqual([c.limit, c.rule], [c.previous * 2, 'slow-start']);
    const before = limit.current;
    limit.update(sample(end + 20, 10, before, true));
    assert.equal(limit.current, Math.floor(before * 0.9));
    assert.equal(limit.slowStart, false);
    steady(limit, end + 20, 200, { rtt: 10 });
    for (const c of changes.slice(-3)) assert.deepEqual([c.limit - c.previous, c.rule], [1, 'increase']);
  });

  it('slow start ends once latency doubles from its lowest', () => {
    const limit = aimd();
    const fluid = new Fluid(limit, { capacity: 100, baseMs: 10 });
    fluid.run(1000);
    assert.equal(limit.slowStart, false);
    // Doubling from 20 passes 200 (latency x2 at twice the capacity) once, then steps by one per round trip.
    assert.ok(limit.current >= 200 && limit.current < 400, `limit ${limit.current}`);
  });

  it('ignores samples without a usable latency', () => {
    const limit = aimd({ initial: 50 });
    for (const rtt of [Number.NaN, -1, Number.POSITIVE_INFINITY, 0]) limit.update(sample(100, rtt, 50));
    assert.equal(limit.current, 50);
    assert.equal(limit.update(sample(100, 0, 50, true)), 45, 'a drop with no latency still counts');
  });

  it('rejects bad options, naming the option', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ backoff: 0 }, 'aimd.backoff'],
      [{ backoff: 1 }, 'aimd.backoff'],
      [{ backoff: Number.NaN }, 'aimd.backoff'],
      [{ increase: 0 }, 'aimd.increase'],
      [{ increase: -1 }, 'aimd.increase'],
      [{ timeout: 0 }, 'aimd.timeout'],
      [{ timeout: Number.NaN }, 'aimd.timeout'],
      [{ slowStart: 'yes' }, 'aimd.slowStart'],
      [{ min: 0 }, 'aimd.min'],
      [{ min: 50, max: 10 }, 'aimd.min'],
      [{ max: 2.5 }, 'aimd.max'],
      [{ initial: 5000 }, 'aimd.initial'],
      [{ initial: -1 }, 'aimd.initial'],
    ];
    for (const [options, option] of cases) {
      assert.throws(
        () => aimd(options),
        (e) => isConfigError(e) && e.option === option,
        JSON.stringify(options),
      );
    }
  });
});
